"""The streaming ``BatchSource``: a ``folder:`` dataset too large for memory, read from disk by workers.

:class:`FolderSource` answers the loop's questions as :class:`~convolab.train.sources.TensorSource`
does, with the same numbers:

- :meth:`FolderSource.batches` yields the same (input, target) pairs as the in-memory source over the
  epoch permutation: this rank's share of each global batch (``ResumableSampler``), the global batch's
  noise (seeded by (seed, epoch, step)) cut to the same rows; a rank whose share of the short last batch
  is empty gets an empty batch (``DistributedTrainStep`` still takes part in DDP's all-reduce).
- :meth:`baseline`, :meth:`validate`, :meth:`evaluate`: one streamed pass each
  (``convolab.train.stream_data``); the final evaluation runs on rank 0 alone, like the in-memory one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from convolab.train import stream_data as sd
from convolab.train.batchorder import derive_seed, global_batch_size
from convolab.train.config import TrainConfig
from convolab.train.context import LocalContext
from convolab.train.run_data import RunData
from convolab.train.sources import Batch, Predict
from convolab.train.streaming import make_loader


class FolderSource:
    """Batches, validation and evaluation of a :class:`~convolab.train.stream_data.StreamData`."""

    def __init__(self, stream: sd.StreamData, config: TrainConfig, ctx: LocalContext) -> None:
        self.stream, self.config, self.ctx = stream, config, ctx
        self.n_train = len(stream.train)
        self._mean: torch.Tensor | None = None  # the mean training image, once computed

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.stream.shape

    def describe(self) -> str | None:
        w, ranks = self.config.workers, self.ctx.world_size
        each = f", each of {ranks} processes its share" if ranks > 1 else ""
        readers = f"{w} DataLoader worker process{'es' if w != 1 else ''}" if w else "no worker processes"
        return f"streaming {self.n_train} training images from disk ({readers}{each})"

    def sample(self) -> torch.Tensor:
        return sd.to_floats(torch.stack([self.stream.train[i] for i in range(4)]), self.ctx.device)

    def batches(self, epoch: int, start: int, steps: int) -> Iterator[Batch]:
        cfg, ctx, device = self.config, self.ctx, self.ctx.device
        w = ctx.world_size
        loader = iter(
            make_loader(
                self.stream.train,
                batch_size=cfg.batch_size // w,
                rank=ctx.rank,
                world_size=w,
                seed=cfg.seed,
                epoch=epoch,
                skip_batches=start,
                workers=cfg.workers,
                device=device,
            )
        )
        empty = torch.empty(0, *self.shape, dtype=torch.uint8)
        for step in range(start, steps):
            n = global_batch_size(self.n_train, cfg.batch_size, step)
            target = sd.to_floats(next(loader, empty), device)  # (n / w, C, H, W); past the end: 0
            if not cfg.noise:
                yield target, target, n
                continue
            # The noise of the whole global batch, then this rank's rows: the in-memory path's numbers.
            gen = torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, "noise", epoch, step))
            noise = torch.randn((n, *target.shape[1:]), generator=gen, device=device)
            yield (target + cfg.noise * ctx.shard(noise)).clamp_(0.0, 1.0), target, n

    def baseline(self) -> dict[str, float]:
        """Validation metrics of the mean training image (one pass over train, one over validation)."""
        kw: dict[str, Any] = {
            "workers": self.config.workers,
            "device": self.ctx.device,
            "ctx": self.ctx,
            "chunk": sd.chunk_size(self.config, self.stream.train),
        }
        self._mean = sd.mean_image(self.stream.train, **kw)
        mean = self._mean.to(self.ctx.device)
        return sd.stream_metrics(self.stream.val, mean.expand_as, noise=0.0, seed=0, tag="", **kw)

    def validate(self, predict: Predict) -> dict[str, float]:
        """Validation metrics, the ranks sharing the chunks (noise seeded per chunk with --noise)."""
        cfg = self.config
        return sd.stream_metrics(
            self.stream.val,
            predict,
            noise=cfg.noise,
            seed=cfg.seed,
            tag="val-noise",
            chunk=sd.chunk_size(cfg, self.stream.val),
            workers=cfg.workers,
            device=self.ctx.device,
            ctx=self.ctx,
        )

    def evaluate(self, predict: Predict) -> dict[str, Any]:
        """Evaluation-set metrics and the mean-image baseline, in this process only (rank 0)."""
        stream, cfg = self.stream, self.config
        kw: dict[str, Any] = {
            "workers": cfg.workers,
            "device": self.ctx.device,
            "ctx": None,
            "chunk": sd.chunk_size(cfg, stream.eval),
        }
        if self._mean is None:  # a resumed run took the validation baseline from its checkpoint
            self._mean = sd.mean_image(stream.train, **kw)
        mean = self._mean.to(self.ctx.device)
        model = sd.stream_metrics(
            stream.eval, predict, noise=cfg.noise, seed=cfg.seed, tag="eval-noise", **kw
        )
        base = sd.stream_metrics(stream.eval, mean.expand_as, noise=0.0, seed=0, tag="", **kw)
        return {
            "eval_set": stream.eval_name,
            "n_eval": len(stream.eval),
            "metrics": model,
            "baseline": base,
            "streamed": True,
        }

    def figure_data(self) -> RunData:
        """A few evaluation images in memory, for the figures."""
        if self._mean is None:
            raise ValueError("figure_data: the mean image is not computed yet (run evaluate first)")
        return sd.figure_data(self.stream, self._mean)
