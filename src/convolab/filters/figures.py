"""Figures of filter results: one panel per result, titled with the kernel and the output size.

The lecture panel shows, on one image: the original, box and Gaussian blur, Sobel x and y, the gradient
magnitude, the Laplacian and the LoG, and the same Sobel x at stride 2 and with 'valid' padding, so the
change in output size is visible in the titles.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convolab.filters.apply import filter2d
from convolab.filters.edges import gradient_magnitude
from convolab.filters.images import display_magnitude, display_range, write_atomic
from convolab.filters.kernels import KERNELS, canonical_name


@dataclass(frozen=True)
class Panel:
    """One picture of a figure: ``image`` in [0, 1], ``(H, W)`` or ``(H, W, 3)``, and its title."""

    title: str
    image: np.ndarray


def size_label(a: np.ndarray) -> str:
    """``'HxW'`` of an ``(H, W)`` or ``(H, W, C)`` array."""
    return f"{a.shape[0]}x{a.shape[1]}"


def kernel_panel(
    image: np.ndarray,
    name: str,
    sigma: float | None = None,
    size: int | None = None,
    stride: int = 1,
    padding: str = "same",
    border: str = "zeros",
    label: str | None = None,
) -> Panel:
    """Filter ``image`` with the named kernel (or 'magnitude' for the Sobel gradient magnitude)."""
    if name == "magnitude":
        r = gradient_magnitude(image, stride=stride, padding=padding, border=border)
        shown, shape = display_magnitude(r), "3x3"
    else:
        spec = KERNELS[canonical_name(name)]
        k = spec.build(sigma, size)
        r = filter2d(image, k, stride=stride, padding=padding, border=border)
        shown, shape = display_range(r, spec.signed), f"{k.shape[0]}x{k.shape[1]}"
        name = (
            spec.name
            if spec.sigma is None
            else f"{spec.name} sigma={spec.sigma if sigma is None else sigma:g}"
        )
    extras = "".join(
        [f", stride {stride}" if stride != 1 else "", f", {padding}" if padding != "same" else ""]
    )
    title = f"{label or name} {shape}{extras}\n-> {size_label(r)}"
    return Panel(title, shown)


def lecture_panels(
    image: np.ndarray, sigma: float | None = None, size: int | None = None, border: str = "zeros"
) -> list[Panel]:
    """The lecture's ten pictures (see the module docstring) for a [0, 1] image."""
    s = 2.0 if sigma is None else sigma
    b = 5 if size is None else size
    return [
        Panel(f"original\n{size_label(image)}", np.clip(image, 0.0, 1.0)),
        kernel_panel(image, "box", size=b, border=border),
        kernel_panel(image, "gaussian", sigma=s, border=border),
        kernel_panel(image, "sobel_x", border=border),
        kernel_panel(image, "sobel_y", border=border),
        kernel_panel(image, "magnitude", label="|grad| (Sobel)", border=border),
        kernel_panel(image, "laplacian", border=border),
        kernel_panel(image, "log", sigma=s, border=border),
        kernel_panel(image, "sobel_x", stride=2, border=border),
        kernel_panel(image, "sobel_x", padding="valid", border=border),
    ]


def save_panels(
    path: str | os.PathLike, panels: list[Panel], cols: int | None = None, dpi: int = 100
) -> Path:
    """Lay the panels out in a grid (each at its own pixel size, titled) and write the figure atomically."""
    from convolab.plots import subplots

    n = len(panels)
    cols = cols or min(n, 5)
    rows = math.ceil(n / cols)
    # each cell as tall as the tallest panel needs at 3.2 in wide, plus room for a two-line title; the
    # constrained layout then keeps titles inside the figure (tight_layout clipped one-row figures)
    aspect = max(p.image.shape[0] / p.image.shape[1] for p in panels)
    cell_h = 3.2 * min(max(aspect, 0.05), 4.0) + 0.6
    fig, axes = subplots(rows, cols, figsize=(3.2 * cols, cell_h * rows), squeeze=False, layout="constrained")
    engine = fig.get_layout_engine()
    engine.set(w_pad=0.08, h_pad=0.08)  # type: ignore[union-attr,call-arg]  # constrained: inches of margin
    for ax in axes.ravel():
        ax.axis("off")
    for ax, p in zip(axes.ravel(), panels, strict=False):
        gray = p.image.ndim == 2
        ax.imshow(p.image, cmap="gray" if gray else None, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(p.title, fontsize=9)
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
