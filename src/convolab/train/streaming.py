"""Streaming a ``folder:`` dataset from disk: a Dataset, a resumable DistributedSampler, a DataLoader.

In-memory datasets (MNIST-sized) keep the fast path of ``convolab.train``: the whole split is one tensor
on the device and a batch is an index into it. A folder of millions of images does not fit; this module
reads images lazily, in ``workers`` background processes, each rank only its share:

- :class:`ImageFolderStream` opens one image per ``__getitem__`` (PIL), as uint8 ``(C, H, W)``, with
  the same layout rules and colour/size conversion as ``convolab.data.folder.load_folder``.
- :class:`ResumableSampler` is a ``DistributedSampler`` whose order is the in-memory path's
  (``convolab.train.batchorder``: a permutation seeded by (seed, epoch), the same on every rank; each rank
  takes its contiguous share of every global batch, no padding), and that can skip the first batches
  of an epoch, so a resumed run continues with the very batches it had not seen.
- :func:`make_loader` puts them together (``pin_memory`` on CUDA, so host-to-device copies overlap);
  :func:`chunk_loader` reads fixed chunks in order (validation, test, the mean image).

Example:
    >>> ds = ImageFolderStream("/data/faces", image_size=64, color="gray")
    >>> loader = make_loader(ds, batch_size=128, rank=0, world_size=1, seed=0, epoch=0, workers=4)
    >>> for batch in loader:  # uint8 (B, C, H, W)
    ...     x = batch.to(device).float().div_(255)
"""

from __future__ import annotations

import copy
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from convolab.data.dataset import parse_color, parse_image_size
from convolab.data.folder import _has_colour, _open, collect_split
from convolab.train.batchorder import rank_order


class ImageFolderStream(Dataset):
    """Images of a ``folder:`` dataset read from disk on demand.

    Args:
        path: the folder; a ``train/`` or ``test/`` subfolder is used when present (as ``load_folder``).
        split: ``train`` or ``test``.
        image_size: int or ``(h, w)`` to resize to (bilinear); without it every image must have the
            size of the first one (checked as each image is read).
        color: ``gray`` or ``rgb``; default: from the first image (``load_folder`` looks at all of
            them, which a streaming dataset cannot afford).
        indices: keep only these positions (e.g. a train/validation split), in this order.
        limit: keep only the first ``limit`` images (sorted order, as ``load_folder``), before ``indices``.

    Output shape:
        ``ds[i]``: uint8 ``(C, H, W)``.
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        *,
        image_size: int | Sequence[int] | None = None,
        color: str | None = None,
        indices: Sequence[int] | None = None,
        limit: int | None = None,
    ) -> None:
        root, paths, labels, classes = collect_split(path, split)
        if limit is not None:
            paths, labels = paths[:limit], None if labels is None else labels[:limit]
        self.root = root
        self.paths: list[Path] = paths
        self.labels: list[int] | None = labels
        self.classes = classes
        self._select(indices)
        self.mode = parse_color(color) or ("rgb" if _has_colour(paths[0]) else "gray")
        self.size = parse_image_size(image_size)
        self.shape: tuple[int, int, int] = tuple(self[0].shape)  # type: ignore[assignment]

    def _select(self, indices: Sequence[int] | None) -> None:
        if indices is not None:
            self.paths = [self.paths[int(i)] for i in indices]
            self.labels = None if self.labels is None else [self.labels[int(i)] for i in indices]
        if not self.paths:
            raise ValueError(f"folder dataset {self.root}: no images selected")

    def subset(self, indices: Sequence[int]) -> ImageFolderStream:
        """The images at ``indices`` (same colour and size rules), without listing the folder again."""
        new = copy.copy(self)
        new._select(indices)
        return new

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = _open(self.paths[i], "RGB" if self.mode == "rgb" else "L")
        if self.size is not None and img.size != (self.size[1], self.size[0]):
            img = img.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
        arr = np.array(img, dtype=np.uint8)  # a writable copy
        chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)
        shape = getattr(self, "shape", None)
        if shape is not None and chw.shape != shape:
            raise ValueError(
                f"image {self.paths[i]} is {chw.shape[1]}x{chw.shape[2]} but the first image is "
                f"{shape[1]}x{shape[2]}; images of a folder dataset must share one size"
            )
        return torch.from_numpy(np.ascontiguousarray(chw))


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(train, val)`` positions of ``convolab.data.train_val_split`` for ``n`` images, without images.

    The same seeded permutation, so a streamed run holds out exactly the images an in-memory run does.
    """
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"val_fraction={val_fraction} of {n} samples leaves an empty train or validation part"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    return perm[n_val:].sort().values.tolist(), perm[:n_val].sort().values.tolist()


class ResumableSampler(DistributedSampler):
    """A ``DistributedSampler`` in the in-memory path's order that skips this rank's first ``skip`` samples.

    Rank ``rank`` gets its share of every global batch of ``batch_size * world_size`` images of the
    permutation of epoch ``set_position(epoch)`` (``convolab.batchorder.rank_order``): no padding, so
    ranks may differ by one image in the last batch. Call :meth:`set_position` before each epoch;
    ``skip`` is ``steps_done * batch_size``.

    Args:
        batch_size: images per rank per step (1: ``DistributedSampler``'s interleaving).
    """

    def __init__(
        self, dataset: Dataset, *, world_size: int, rank: int, seed: int, batch_size: int = 1
    ) -> None:
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        n = len(dataset)  # type: ignore[arg-type]
        gb = batch_size * world_size
        full = (n // gb) * gb
        self.batch_size = batch_size
        self.total_size = n
        self.num_samples = full // world_size + len(
            torch.tensor_split(torch.arange(n - full), world_size)[rank]
        )
        self.skip = 0

    def set_position(self, epoch: int, skip: int = 0) -> None:
        if not isinstance(skip, int) or not 0 <= skip <= self.num_samples:
            raise ValueError(f"skip must be an int in [0, {self.num_samples}], got {skip!r}")
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        order = rank_order(
            self.total_size, self.seed, self.epoch, self.batch_size, self.num_replicas, self.rank
        )
        return iter(order[self.skip :].tolist())

    def __len__(self) -> int:
        return self.num_samples - self.skip


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: Ctrl-C (SIGINT to the whole process group) and SIGTERM are the
    training process's to handle (it finishes the step and saves); a worker dying of them would fail
    the next batch instead. Workers still end with the loader, or when the training process dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _check_workers(workers: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0, got {workers!r}")


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    rank: int,
    world_size: int,
    seed: int,
    epoch: int,
    skip_batches: int = 0,
    workers: int = 2,
    device: torch.device | str = "cpu",
) -> DataLoader:
    """A DataLoader over this rank's share of epoch ``epoch``, from batch ``skip_batches`` on.

    Args:
        batch_size: images per rank per step (the global batch divided by ``world_size``).
        workers: background processes reading images (0: read in this process).
        device: where batches go; CUDA turns on pinned memory.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    _check_workers(workers)
    sampler = ResumableSampler(dataset, world_size=world_size, rank=rank, seed=seed, batch_size=batch_size)
    sampler.set_position(epoch, skip_batches * batch_size)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=torch.device(device).type == "cuda",
        persistent_workers=False,
        worker_init_fn=_ignore_stop_signals,
    )


def chunk_loader(
    dataset: Dataset,
    *,
    chunk: int,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 2,
    device: torch.device | str = "cpu",
) -> tuple[list[int], DataLoader]:
    """Read ``dataset`` in order, in chunks of ``chunk`` images; rank ``r`` reads chunks r, r + w, ...

    Returns ``(chunk numbers, loader)``: the loader yields this rank's chunks, in that order. The
    chunks do not depend on the number of ranks, so per-chunk noise seeds do not either.
    """
    _check_workers(workers)
    n = len(dataset)  # type: ignore[arg-type]
    numbers = list(range(rank, -(-n // chunk), world_size))
    batches = [list(range(k * chunk, min(n, (k + 1) * chunk))) for k in numbers]
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=workers,
        pin_memory=torch.device(device).type == "cuda",
        worker_init_fn=_ignore_stop_signals,
    )
    return numbers, loader
