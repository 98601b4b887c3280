"""A labelled grid of samples, to look at a dataset before training on it."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from convolab.data.dataset import ImageDataset


def save_sample_grid(
    ds: ImageDataset, path: str | Path, *, n: int = 20, seed: int = 0, cols: int = 10
) -> Path:
    """Save ``n`` random samples of ``ds`` (fixed ``seed``) as a grid with class names as titles.

    Args:
        ds: the dataset; path: output image (PNG, PDF, SVG: by suffix).
        n: number of samples (at most ``len(ds)``); seed: which samples; cols: grid width.

    Returns:
        The path written.
    """
    from convolab.limits import MAX_GRID_SAMPLES, check_count
    from convolab.plots import subplots

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    check_count("n (samples in the grid)", n, MAX_GRID_SAMPLES)
    n = min(n, len(ds))
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = subplots(
        rows, cols, figsize=(1.3 * cols, 1.6 * rows + 0.3), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, idx.tolist(), strict=False):
        img = ds.images[i]  # (C, H, W)
        if img.shape[0] == 1:
            ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(img.permute(1, 2, 0).numpy())  # (H, W, C) for matplotlib
        if ds.labels is not None:
            label = int(ds.labels[i])
            ax.set_title(ds.classes[label] if ds.classes else str(label), fontsize=8)
    fig.suptitle(f"{ds.name} ({ds.split}): {n} of {len(ds)}", fontsize=9)
    out = Path(path)
    fig.savefig(out, dpi=100)
    return out
