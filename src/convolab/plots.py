"""Figures (standalone matplotlib Figures, no pyplot): image rows, curves, feature maps, kernels, latent PCA.

Every function takes CPU tensors and a path, draws one figure and writes it atomically (a temporary
file renamed into place), so an interrupted run never leaves a half-written PNG.

Example:
    >>> reconstruction_grid(x[:10], model(x[:10]), "reconstructions.png")  # the lecture's 2 x 10 figure
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

DPI = 100


def subplots(*args: Any, **kwargs: Any) -> tuple[Figure, Any]:
    """``pyplot.subplots`` without pyplot: a standalone Figure, so drawing never switches the user's
    backend (a notebook's inline plots keep working) and nothing waits in pyplot's figure registry."""
    fig_kw = {k: kwargs.pop(k) for k in ("figsize", "layout", "dpi") if k in kwargs}
    fig = Figure(**fig_kw)
    return fig, fig.subplots(*args, **kwargs)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _as_image(img: torch.Tensor) -> tuple[Any, str | None]:
    """(C, H, W) in [0, 1] -> what imshow wants: (H, W) grey or (H, W, 3) colour."""
    img = img.detach().float().cpu().clamp(0, 1)
    if img.dim() == 3 and img.shape[0] == 1:
        return img[0].numpy(), "gray"
    if img.dim() == 3:
        return img.permute(1, 2, 0).numpy(), None  # (H, W, C)
    return img.numpy(), "gray"


def image_rows(
    rows: Sequence[tuple[str, torch.Tensor]], path: str | Path, *, title: str | None = None
) -> Path:
    """One row of images per ``(label, images (N, C, H, W))``; all rows show N images side by side."""
    if not rows:
        raise ValueError("image_rows needs at least one row")
    n = max(int(imgs.shape[0]) for _, imgs in rows)
    fig, axes = subplots(len(rows), n, figsize=(1.0 * n + 0.8, 1.05 * len(rows) + 0.3), squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < imgs.shape[0]:
                data, cmap = _as_image(imgs[c])
                ax.imshow(data, cmap=cmap, vmin=0, vmax=1)
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return save_figure(fig, path)


def reconstruction_grid(originals: torch.Tensor, recons: torch.Tensor, path: str | Path, **kw: Any) -> Path:
    """The lecture's figure: originals (top row) over reconstructions (bottom row)."""
    return image_rows([("original", originals), ("reconstructed", recons)], path, **kw)


def curves(history: Sequence[dict[str, Any]], baseline: dict[str, float] | None, path: str | Path) -> Path:
    """Training loss and validation BCE/MSE/PSNR/SSIM per epoch; the mean-image baseline dashed."""
    if not history:
        raise ValueError("curves: the run has no completed epoch yet")
    epochs = [h["epoch"] for h in history]
    fig, axes = subplots(1, 4, figsize=(14, 3.2))
    axes[0].plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss")
    axes[0].plot(epochs, [h["val"]["bce"] for h in history], "s-", label="val BCE")
    for ax, key, unit in ((axes[1], "mse", ""), (axes[2], "psnr", " (dB)"), (axes[3], "ssim", "")):
        ax.plot(epochs, [h["val"][key] for h in history], "o-", label=f"val {key.upper()}")
        ax.set_title(key.upper() + unit)
    axes[0].set_title("loss")
    if baseline:
        axes[0].axhline(baseline["bce"], ls="--", c="gray", label="mean image")
        for ax, key in ((axes[1], "mse"), (axes[2], "psnr"), (axes[3], "ssim")):
            ax.axhline(baseline[key], ls="--", c="gray", label="mean image")
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.set_xlabel("epoch")
        if len(epochs) <= 12:  # epochs are whole numbers: tick each one (a single epoch too)
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def feature_maps(
    maps: Sequence[tuple[str, torch.Tensor]],
    path: str | Path,
    *,
    max_channels: int = 8,
    title: str | None = None,
) -> Path:
    """One row per layer, ``(name, (C, H, W) activations)``, first ``max_channels`` channels each."""
    if not maps:
        raise ValueError("feature_maps: no layers given")
    cols = min(max_channels, max(int(m.shape[0]) for _, m in maps))
    fig, axes = subplots(len(maps), cols, figsize=(1.1 * cols + 1.5, 1.1 * len(maps) + 0.4), squeeze=False)
    for r, (name, fmap) in enumerate(maps):
        fmap = fmap.detach().float().cpu()
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < fmap.shape[0]:
                ax.imshow(fmap[c].numpy(), cmap="viridis")
            else:
                ax.axis("off")
        shape = "x".join(str(s) for s in fmap.shape)
        axes[r][0].set_ylabel(f"{name}\n{shape}", rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def kernels(
    weight: torch.Tensor, path: str | Path, *, title: str | None = None, max_kernels: int = 64
) -> Path:
    """Conv kernels ``(out, in, kh, kw)`` (PyTorch layout) as a grid, one colour scale centred on 0."""
    if weight.dim() != 4:
        raise ValueError(f"kernels: expected a (out, in, kh, kw) weight, got shape {tuple(weight.shape)}")
    w = weight.detach().float().cpu().flatten(0, 1)[:max_kernels]  # (out*in, kh, kw)
    n = w.shape[0]
    cols = min(n, 8)
    rows = -(-n // cols)
    vmax = float(w.abs().max()) or 1.0
    fig, axes = subplots(rows, cols, figsize=(1.0 * cols, 1.0 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            im = ax.imshow(w[i].numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        else:
            ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def pca_2d(codes: torch.Tensor) -> torch.Tensor:
    """Project ``(N, D)`` codes on their first two principal components (SVD of the centred data).

    Signs are fixed so the largest-magnitude loading of each component is positive (deterministic).
    """
    x = codes.detach().double().flatten(1)
    x = x - x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)  # vh: (min(N, D), D)
    comps = vh[:2]
    if comps.shape[0] < 2:  # D == 1: pad with a zero component
        comps = torch.cat([comps, torch.zeros_like(comps)])
    idx = comps.abs().argmax(dim=1)
    signs = torch.sign(comps[torch.arange(comps.shape[0]), idx])
    signs[signs == 0] = 1
    return (x @ (comps * signs[:, None]).T).float()  # (N, 2)


def latent_pca(
    codes: torch.Tensor,
    labels: torch.Tensor | None,
    path: str | Path,
    *,
    classes: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Scatter of the latent codes projected to 2-D by PCA, coloured by label."""
    xy = pca_2d(codes).numpy()
    fig, ax = subplots(figsize=(6, 5))
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=3, alpha=0.6)
    else:
        lab = labels.cpu().numpy()
        for k in sorted(set(lab.tolist())):
            sel = lab == k
            name = classes[k] if classes is not None and k < len(classes) else str(k)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=3, alpha=0.6, label=name)
        ax.legend(markerscale=4, fontsize=7, loc="best")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title or "latent codes, PCA")
    return save_figure(fig, path)
