"""Streaming a ``folder:`` dataset from disk: a Dataset, a resumable DistributedSampler, a DataLoader.

In-memory datasets (MNIST-sized) keep the fast path of ``convolab.train``: the whole split is one tensor
on the device and a batch is an index into it. A folder of millions of images does not fit; this module
reads images lazily, in ``workers`` background processes, each rank only its share:

- :class:`ImageFolderStream` opens one image per ``__getitem__`` (PIL), as uint8 ``(C, H, W)``, with
  the same layout rules and colour/size conversion as ``convolab.data.folder.load_folder``.
- :class:`ResumableSampler` is PyTorch's ``DistributedSampler`` (a permutation seeded by
  ``seed + epoch``, the same on every rank, cut into ``world_size`` interleaved shares; padded by
  repetition so every rank gets as many samples) that can also skip the first batches of an epoch, so a
  resumed run continues with the very batches it had not seen.
- :func:`make_loader` puts them together (``pin_memory`` on CUDA, so host-to-device copies overlap).

Example:
    >>> ds = ImageFolderStream("/data/faces", image_size=64, color="gray")
    >>> loader = make_loader(ds, batch_size=128, rank=0, world_size=1, seed=0, epoch=0, workers=4)
    >>> for batch in loader:  # uint8 (B, C, H, W)
    ...     x = batch.to(device).float().div_(255)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from convolab.data.dataset import parse_color, parse_image_size
from convolab.data.folder import _collect, _has_colour, _open


class ImageFolderStream(Dataset):
    """Images of a ``folder:`` dataset read from disk on demand.

    Args:
        path: the folder; a ``train/`` or ``test/`` subfolder is used when present (as ``load_folder``).
        split: ``train`` or ``test``.
        image_size: int or ``(h, w)`` to resize to (bilinear); required when image sizes differ.
        color: ``gray`` or ``rgb``; default: from the first image (``load_folder`` looks at all of
            them, which a streaming dataset cannot afford).
        indices: keep only these positions (e.g. a train/validation split), in this order.

    Output shape:
        ``ds[i]``: uint8 ``(C, H, W)``.
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        *,
        image_size=None,
        color=None,
        indices: Sequence[int] | None = None,
    ) -> None:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise ValueError(f"folder dataset: {root} is not a directory")
        if (root / split).is_dir():
            root = root / split
        elif split != "train":
            raise ValueError(f"folder dataset {root} has no {split}/ subfolder")
        paths, _labels, _classes = _collect(root)
        if indices is not None:
            paths = [paths[int(i)] for i in indices]
        if not paths:
            raise ValueError(f"folder dataset {root}: no images selected")
        self.root = root
        self.paths = paths
        self.mode = parse_color(color) or ("rgb" if _has_colour(paths[0]) else "gray")
        self.size = parse_image_size(image_size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = _open(self.paths[i], "RGB" if self.mode == "rgb" else "L")
        if self.size is not None and img.size != (self.size[1], self.size[0]):
            img = img.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
        arr = np.array(img, dtype=np.uint8)  # a writable copy
        chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)
        return torch.from_numpy(np.ascontiguousarray(chw))


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (shuffled, seeded) that skips this rank's first ``skip`` samples.

    Call :meth:`set_position` before each epoch; ``skip`` is ``steps_done * per_rank_batch``.
    """

    def __init__(self, dataset: Dataset, *, world_size: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        self.skip = 0

    def set_position(self, epoch: int, skip: int = 0) -> None:
        if not isinstance(skip, int) or not 0 <= skip <= self.num_samples:
            raise ValueError(f"skip must be an int in [0, {self.num_samples}], got {skip!r}")
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self):
        return iter(list(super().__iter__())[self.skip :])

    def __len__(self) -> int:
        return self.num_samples - self.skip


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
    if not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0, got {workers!r}")
    sampler = ResumableSampler(dataset, world_size=world_size, rank=rank, seed=seed)
    sampler.set_position(epoch, skip_batches * batch_size)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=torch.device(device).type == "cuda",
        persistent_workers=False,
    )
