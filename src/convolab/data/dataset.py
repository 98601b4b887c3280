"""The in-memory dataset: one uint8 tensor of images, labels, class names; subsets and splits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from convolab.limits import MAX_RESIZE_SIDE, LimitError


@dataclass
class ImageDataset:
    """A whole dataset split held as one tensor (docs/architecture.md: no per-sample DataLoader).

    Attributes:
        name: dataset name (``mnist``, ``folder:PATH``, ...).
        split: ``train``, ``test``, or a derived name such as ``train:val``.
        images: uint8 tensor ``(N, C, H, W)``.
        labels: int64 tensor ``(N,)``, or None for unlabelled data.
        classes: class names in label order, or None.
        source: the folder or file the data came from.

    Example:
        >>> ds = load_dataset("mnist", "test", limit=100)  # doctest: +SKIP
        >>> ds.float().shape
        torch.Size([100, 1, 28, 28])
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str] | None
    source: Path | str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"ImageDataset images must be uint8 (N, C, H, W), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels is not None and self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"ImageDataset labels must have shape ({self.images.shape[0]},), "
                f"got {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def float(self) -> torch.Tensor:
        """Images as float32 in [0, 1], ``(N, C, H, W)``."""
        return self.images.to(torch.float32).div_(255.0)

    def subset(self, indices) -> ImageDataset:
        """A new dataset with the samples at ``indices`` (a sequence, tensor or slice)."""
        if isinstance(indices, slice):
            idx = torch.arange(len(self))[indices]
        else:
            idx = torch.as_tensor(indices, dtype=torch.int64)
        if idx.numel() and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise ValueError(f"subset indices must lie in [0, {len(self)}), got {idx.min()}..{idx.max()}")
        labels = None if self.labels is None else self.labels[idx]
        return replace(self, images=self.images[idx], labels=labels)


def train_val_split(
    ds: ImageDataset, val_fraction: float = 0.1, seed: int = 0
) -> tuple[ImageDataset, ImageDataset]:
    """Carve a validation set out of ``ds`` with a fixed seed (same seed, same split, any machine).

    Both parts keep the original sample order. With the MNIST test split only (the one on the
    development machines), this gives a real train/validation pair:
    ``train_val_split(load_dataset("mnist", "test"), 0.2)``.

    Args:
        ds: the dataset to split.
        val_fraction: share of samples in the validation part, in (0, 1).
        seed: seed of the permutation (``torch.Generator``, independent of the global RNG).

    Returns:
        ``(train, val)``, with splits named ``<split>:train`` and ``<split>:val``.
    """
    train_idx, val_idx = split_indices(len(ds), val_fraction, seed)
    train, val = ds.subset(train_idx), ds.subset(val_idx)
    train.split, val.split = f"{ds.split}:train", f"{ds.split}:val"
    return train, val


def split_indices(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, val)`` sample indices (int64, ascending) of ``train_val_split`` for ``n`` samples.

    The split depends only on ``(n, val_fraction, seed)``: callers that hold tensors rather than an
    ``ImageDataset`` (training from arrays, the lab's "seen in training" marks) index with these.
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"val_fraction={val_fraction} of {n} samples leaves an empty train or validation part"
        )
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen)
    val_idx, train_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
    return train_idx, val_idx


def parse_image_size(image_size) -> tuple[int, int] | None:
    """``None``, an int ``s`` -> ``(s, s)``, or an ``(h, w)`` pair; positive sizes only."""
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    if max(size) > MAX_RESIZE_SIDE:
        raise LimitError(f"image_size {image_size!r}: a side over {MAX_RESIZE_SIDE} (limits.MAX_RESIZE_SIDE)")
    return size


def parse_color(color) -> str | None:
    """``None`` (keep), ``gray``/``grayscale``/``L`` -> ``gray``, ``rgb``/``RGB`` -> ``rgb``."""
    if color is None:
        return None
    key = str(color).lower()
    if key in ("gray", "grey", "grayscale", "greyscale", "l"):
        return "gray"
    if key == "rgb":
        return "rgb"
    raise ValueError(f"color must be 'gray' or 'rgb', got {color!r}")


def convert_images(images: torch.Tensor, image_size=None, color=None) -> torch.Tensor:
    """Resize and/or change the colour of uint8 ``(N, C, H, W)`` images.

    Gray -> RGB repeats the channel; RGB -> gray uses ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B``
    (as PIL's ``convert("L")``). Resizing is antialiased bilinear, rounded back to uint8.
    """
    size, mode = parse_image_size(image_size), parse_color(color)
    x = images
    if mode == "rgb" and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1).contiguous()
    elif mode == "gray" and x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        x = (x.to(torch.float32) * w).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    if size is not None and tuple(x.shape[2:]) != size:
        y = F.interpolate(
            x.to(torch.float32), size=size, mode="bilinear", antialias=True, align_corners=False
        )
        x = y.round_().clamp_(0, 255).to(torch.uint8)
    return x
