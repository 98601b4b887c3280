"""Edge maps built on ``filter2d``: Sobel gradient magnitude and direction, LoG zero-crossings.

All functions take the same image kinds and layouts as ``filter2d`` and return the same kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolab.filters.apply import filter2d
from convolab.filters.kernels import laplacian_of_gaussian, sobel_x, sobel_y


def sobel_gradients(image: Any, **kwargs: Any) -> tuple[Any, Any]:
    """``(gx, gy)``: ``filter2d`` with ``sobel_x`` and ``sobel_y`` (keyword args go to ``filter2d``)."""
    return filter2d(image, sobel_x(), **kwargs), filter2d(image, sobel_y(), **kwargs)


def gradient_magnitude(image: Any, **kwargs: Any) -> Any:
    """``sqrt(gx^2 + gy^2)`` of the (unnormalised) Sobel derivatives, per channel.

    scikit-image's ``sobel`` is this divided by ``4 * sqrt(2)`` (its kernels carry 1/4 and it averages
    the squares over the two axes).
    """
    gx, gy = sobel_gradients(image, **kwargs)
    return np.hypot(gx, gy) if isinstance(gx, np.ndarray) else torch.hypot(gx, gy)


def gradient_direction(image: Any, **kwargs: Any) -> Any:
    """``atan2(gy, gx)`` in radians, in ``(-pi, pi]``: 0 points right (+x), pi/2 points down (+y, rows).

    The gradient points from dark to bright; it is undefined (0 here) where both derivatives vanish.
    """
    gx, gy = sobel_gradients(image, **kwargs)
    return np.arctan2(gy, gx) if isinstance(gx, np.ndarray) else torch.atan2(gy, gx)


def zero_crossings(response: Any, threshold: float = 0.0) -> Any:
    """Boolean map of sign changes of a signed response (e.g. a LoG image), over the last two axes.

    A pixel is marked when it and its right or lower neighbour have strictly opposite signs and differ
    by more than ``threshold`` (the slope test of Marr-Hildreth; 0 marks every sign change). The mark goes
    on the pixel with the smaller absolute value, the one nearer the true crossing.

    Args:
        response: a real array/tensor whose last two axes are (H, W) (use torch ``(C, H, W)`` or numpy
            ``(H, W)``; for numpy ``(H, W, C)`` move the channel axis first).
        threshold: minimum ``|a - b|`` across the crossing, >= 0.
    """
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}")
    is_numpy = isinstance(response, np.ndarray)
    r = torch.from_numpy(np.asarray(response)) if is_numpy else response
    if r.dim() < 2:
        raise ValueError(f"response must have at least 2 dimensions (H, W), got shape {tuple(r.shape)}")
    edges = torch.zeros(r.shape, dtype=torch.bool, device=r.device)
    for dim in (-1, -2):
        n = r.shape[dim]
        a, b = r.narrow(dim, 0, n - 1), r.narrow(dim, 1, n - 1)
        cross = (a * b < 0) & ((a - b).abs() > threshold)
        a_nearer = a.abs() <= b.abs()
        edges.narrow(dim, 0, n - 1).logical_or_(cross & a_nearer)
        edges.narrow(dim, 1, n - 1).logical_or_(cross & ~a_nearer)
    return edges.numpy() if is_numpy else edges


def log_edges(image: Any, sigma: float = 2.0, rel_threshold: float = 0.05, **kwargs: Any) -> Any:
    """Marr-Hildreth edges: zero-crossings of the LoG response steeper than ``rel_threshold * max|LoG|``.

    Args:
        image: as ``filter2d`` (torch channels first, or numpy ``(H, W)``).
        sigma: LoG scale in pixels.
        rel_threshold: slope threshold relative to the largest LoG magnitude (0 keeps every crossing).
        **kwargs: stride, padding, border for ``filter2d``.
    """
    if isinstance(image, np.ndarray) and image.ndim == 3:
        raise ValueError("log_edges on numpy takes a grayscale (H, W) image; convert colour to gray first")
    response = filter2d(image, laplacian_of_gaussian(sigma), **kwargs)
    peak = float(abs(response).max()) if response.shape[-1] * response.shape[-2] else 0.0
    return zero_crossings(response, rel_threshold * peak)
