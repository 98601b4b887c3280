"""The data of a run that streams a ``folder:`` dataset from disk, and the choice of memory or stream.

``load_data(config)`` gives the in-memory ``RunData`` (the fast path: every split one tensor) or a
:class:`StreamData` (three ``ImageFolderStream`` s: train, validation, evaluation) following
``config.stream``: ``off``, ``on`` (``folder:`` datasets only), or ``auto``: stream a ``folder:``
dataset whose images, decoded to float32, would take more than ``config.memory_budget`` GiB (default:
a quarter of this machine's memory). Both paths train on the same batches (``convolab.batchorder``).

The passes over a whole split (validation and test metrics, the mean training image) read it in
fixed chunks of ``engine.predict.eval_chunk(batch size, image shape)`` images (``chunk_size``: the memory
follows the batch, never the split); under torchrun rank r reads chunks r, r + w, ... and the sums
are reduced, so their noise (one seed per chunk) and their results do not depend on the rank count.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from convolab.engine.device import to_layout
from convolab.engine.predict import eval_chunk
from convolab.train.batchorder import add_noise, derive_seed
from convolab.train.config import FOLDER_PREFIX, TrainConfig
from convolab.train.context import LocalContext
from convolab.train.metrics import MetricAccumulator
from convolab.train.run_data import RunData, load_run_data
from convolab.train.streaming import ImageFolderStream, chunk_loader, split_indices

FIGURE_IMAGES = 500  # evaluation images the figures of a streamed run use (spread over the split)


@dataclass
class StreamData:
    """The splits of a streamed run, read from disk as they are needed."""

    train: ImageFolderStream
    val: ImageFolderStream
    eval: ImageFolderStream
    eval_name: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.train.shape

    def decoded_bytes(self) -> int:
        """What these splits would take in memory as float32 tensors."""
        n = len(self.train) + len(self.val) + (len(self.eval) if self.eval is not self.val else 0)
        return n * math.prod(self.shape) * 4


def memory_budget_bytes(config: TrainConfig) -> int:
    """``config.memory_budget`` GiB, or a quarter of the physical memory when it is None."""
    if config.memory_budget is not None:
        return int(config.memory_budget * 2**30)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def open_stream_data(config: TrainConfig) -> StreamData:
    """List the images of ``config.dataset`` (a ``folder:``) and split them as ``load_run_data`` does."""
    path = config.dataset[len(FOLDER_PREFIX) :]
    full = ImageFolderStream(path, config.train_split, limit=config.limit)
    train_idx, val_idx = split_indices(len(full), config.val_fraction, config.seed)
    train, val = full.subset(train_idx), full.subset(val_idx)
    if config.train_split == "train":
        ev, name = ImageFolderStream(path, "test", limit=config.limit, color=full.mode), "test"
        if ev.shape != full.shape:
            raise ValueError(f"folder dataset {path}: test images are {ev.shape}, train images {full.shape}")
    else:
        ev, name = val, f"validation (held out of the {config.train_split} split)"
    return StreamData(train=train, val=val, eval=ev, eval_name=name)


def load_data(config: TrainConfig, ctx: LocalContext) -> RunData | StreamData:
    """The run's data, in memory or streamed (see the module docstring); rank 0 decides for all."""
    folder = config.dataset.startswith(FOLDER_PREFIX)
    if config.stream == "on" and not folder:
        raise ValueError(
            f"--stream on: dataset {config.dataset!r} is loaded into memory; only folder:PATH datasets "
            "stream from disk (use --stream auto or off)"
        )
    if config.stream == "off" or not folder:
        return load_run_data(config)
    data = open_stream_data(config)
    stream = config.stream == "on" or data.decoded_bytes() > memory_budget_bytes(config)
    if ctx.broadcast_object(stream):
        return data
    return load_run_data(config)


def to_floats(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float32 in [0, 1] on ``device`` (the values ``ImageDataset.float`` gives)."""
    x = batch.to(device, non_blocking=True).to(torch.float32).div_(255.0)
    return to_layout(x, device)


def chunk_size(config: TrainConfig, ds: ImageFolderStream) -> int:
    """Images per chunk of a streamed pass over ``ds`` in a run of ``config`` (the same on every rank)."""
    return eval_chunk(config.batch_size, ds.shape)


def _chunks(ds: ImageFolderStream, chunk: int, workers: int, device: torch.device, ctx: LocalContext | None):
    rank, world = (ctx.rank, ctx.world_size) if ctx is not None else (0, 1)
    numbers, loader = chunk_loader(
        ds, chunk=chunk, rank=rank, world_size=world, workers=workers, device=device
    )
    return zip(numbers, loader, strict=True)


def mean_image(
    ds: ImageFolderStream, *, chunk: int, workers: int, device: torch.device, ctx: LocalContext | None
) -> torch.Tensor:
    """The mean image ``(C, H, W)`` (float32, CPU) in one streamed pass: an exact integer running sum.

    ``ctx``: the ranks share the chunks and sum (a collective); None: this process reads everything.
    """
    total = torch.zeros(ds.shape, dtype=torch.int64)
    for _, batch in _chunks(ds, chunk, workers, device, ctx):
        total += batch.to(torch.int64).sum(dim=0)
    if ctx is not None:
        total = ctx.all_reduce_cpu(total)
    return (total.double() / (255.0 * len(ds))).float()


def stream_metrics(
    ds: ImageFolderStream,
    predict: Callable[[torch.Tensor], torch.Tensor],
    *,
    noise: float,
    seed: int,
    tag: str,
    chunk: int,
    workers: int,
    device: torch.device,
    ctx: LocalContext | None,
) -> dict[str, float]:
    """Mean metrics of ``predict`` over ``ds`` (noised inputs when ``noise``; chunk k's seed (seed, tag, k)).

    ``ctx``: under torchrun, share the chunks among ranks and reduce (a collective: every rank calls);
    None: this process reads everything (rank 0 alone in the final evaluation).
    """
    acc = MetricAccumulator()
    for k, batch in _chunks(ds, chunk, workers, device, ctx):
        x = to_floats(batch, device)
        x_in = add_noise(x, noise, derive_seed(seed, tag, k)) if noise else x
        acc.update(predict(x_in), x)
    sums, count = ctx.reduce_metric_sums(acc.sums, acc.count) if ctx is not None else (acc.sums, acc.count)
    return {n: sums[n] / count for n in acc.names}


def figure_data(data: StreamData, mean: torch.Tensor, n: int = FIGURE_IMAGES) -> RunData:
    """A small in-memory ``RunData`` for the figures: ``n`` evaluation images spread over the split."""
    ev = data.eval
    idx = torch.linspace(0, len(ev) - 1, min(n, len(ev))).round().long().unique().tolist()
    images = torch.stack([ev[i] for i in idx]).to(torch.float32).div_(255.0)  # (n, C, H, W)
    labels = None if ev.labels is None else torch.tensor([ev.labels[i] for i in idx])
    return RunData(
        train=images[:0],
        val=images[:0],
        eval_images=images,
        eval_labels=labels,
        eval_name=data.eval_name,
        mean_image=mean,
        classes=ev.classes,
    )
