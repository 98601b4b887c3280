"""Classic convolution kernels as float64 NumPy arrays, and a registry of them by name.

Convention (the same as Conv2D, PyTorch, TensorFlow and OpenCV's ``filter2D``): kernels are applied by
**cross-correlation**, ``out[y, x] = sum_ij k[i, j] * img[y + i - cy, x + j - cx]``, never flipped. So
``sobel_x`` is written the way it reads: negative on the left, positive on the right, and its response is
positive where the image gets brighter to the right. ``sobel_y`` is positive where it gets brighter
downwards (row index grows downwards, as in every image library). Derivative kernels are not
normalised (Sobel's weights sum to 4 on the smoothing axis, as in SciPy and OpenCV; scikit-image divides
by 4). Smoothing kernels sum to 1. See docs/filters.md for the table against SciPy, OpenCV and
scikit-image.

Every constructor returns a new ``numpy.ndarray`` of dtype float64, shape ``(kh, kw)``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from convolab.limits import MAX_FILTER_KERNEL_SIDE, check_count

# The 1-D derivative and smoothing taps of the separable 3x3 gradient operators (derivative along x).
_DERIVATIVE = np.array([-1.0, 0.0, 1.0])


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def _bounded_side(kernel: str, n: int, why: str = "size") -> int:
    """Refuse a kernel side over ``limits.MAX_FILTER_KERNEL_SIDE`` before allocating it."""
    check_count(f"{kernel} {why}", n, MAX_FILTER_KERNEL_SIDE)
    return n


def _odd_size(kernel: str, size: object) -> int:
    n = _bounded_side(kernel, _positive_int(f"{kernel} size", size))
    if n % 2 == 0:
        raise ValueError(f"{kernel} size must be odd (the kernel is centred on a pixel), got {n}")
    return n


def _positive_float(name: str, value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return v


def gaussian_radius(sigma: float, truncate: float = 4.0) -> int:
    """Half-width of a truncated Gaussian, SciPy's rule: ``int(truncate * sigma + 0.5)``.

    Source: ``scipy.ndimage.gaussian_filter1d`` (``lw = int(truncate * sd + 0.5)``).
    """
    return int(_positive_float("truncate", truncate) * _positive_float("sigma", sigma) + 0.5)


def _gaussian_1d(sigma: float, radius: int, order: int = 0) -> np.ndarray:
    """Sampled, normalised Gaussian on ``[-radius, radius]`` (order 0) or its second derivative (order 2).

    The second derivative is ``g(x) * (x^2 / sigma^4 - 1 / sigma^2)`` with ``g`` the normalised samples,
    which is how SciPy's ``_gaussian_kernel1d`` builds it (no re-normalisation of the derivative).
    """
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * x**2 / sigma**2)
    g /= g.sum()
    if order == 0:
        return g
    return g * (x**2 / sigma**4 - 1.0 / sigma**2)


def _radius(kernel: str, sigma: float, size: int | None, truncate: float) -> int:
    if size is None:
        radius = gaussian_radius(sigma, truncate)
        _bounded_side(kernel, 2 * radius + 1, f"kernel side for sigma {sigma:g} (2 * {radius} + 1)")
        return radius
    return _odd_size(kernel, size) // 2


def box(size: int = 3) -> np.ndarray:
    """Mean filter: ``size x size`` ones divided by ``size**2`` (sums to 1).

    An even size is allowed; its centre is then the TF 'same' centre, ``(size - 1) // 2`` (the extra
    row/column of the window lies below/right), which is SciPy's ``origin=-1``.
    """
    n = _bounded_side("box", _positive_int("box size", size))
    return np.full((n, n), 1.0 / (n * n))


def gaussian(sigma: float = 1.0, size: int | None = None, truncate: float = 4.0) -> np.ndarray:
    """Isotropic Gaussian, sampled and normalised to sum 1 (as ``scipy.ndimage.gaussian_filter``).

    Args:
        sigma: standard deviation in pixels (> 0).
        size: odd side length; default ``2 * radius + 1`` with ``radius = int(truncate * sigma + 0.5)``
            (SciPy's rule; OpenCV's ``GaussianBlur`` picks sizes differently, see docs/filters.md).
        truncate: radius in standard deviations when ``size`` is not given.
    """
    s = _positive_float("gaussian sigma", sigma)
    g = _gaussian_1d(s, _radius("gaussian", s, size, truncate))
    return np.outer(g, g)


def laplacian_of_gaussian(sigma: float = 2.0, size: int | None = None, truncate: float = 4.0) -> np.ndarray:
    """Laplacian of Gaussian ``d2G/dy2 + d2G/dx2``, as ``scipy.ndimage.gaussian_laplace`` builds it.

    Sign: negative centre (a bright blob gives a negative response, like ``laplacian``). The kernel is
    the sum of two separable terms ``g''(y) g(x) + g(y) g''(x)`` with SciPy's sampled 1-D taps; it is not
    re-centred to sum exactly 0 (its sum is tiny, not zero), so it matches SciPy to rounding.

    Args:
        sigma: standard deviation in pixels (> 0).
        size: odd side length; default from ``truncate`` as for ``gaussian``.
        truncate: radius in standard deviations when ``size`` is not given.
    """
    s = _positive_float("log sigma", sigma)
    r = _radius("log", s, size, truncate)
    g0, g2 = _gaussian_1d(s, r), _gaussian_1d(s, r, order=2)
    return np.outer(g2, g0) + np.outer(g0, g2)


def sobel_x() -> np.ndarray:
    """Sobel derivative along x (columns): ``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]``, not normalised."""
    return np.outer([1.0, 2.0, 1.0], _DERIVATIVE)


def sobel_y() -> np.ndarray:
    """Sobel derivative along y (rows, downwards): the transpose of ``sobel_x``."""
    return sobel_x().T.copy()


def prewitt_x() -> np.ndarray:
    """Prewitt derivative along x: ``[[-1, 0, 1]] * 3`` (box smoothing across), not normalised."""
    return np.outer([1.0, 1.0, 1.0], _DERIVATIVE)


def prewitt_y() -> np.ndarray:
    """Prewitt derivative along y: the transpose of ``prewitt_x``."""
    return prewitt_x().T.copy()


def scharr_x() -> np.ndarray:
    """Scharr derivative along x: ``[3, 10, 3]`` smoothing across (OpenCV's weights, sum 16 across)."""
    return np.outer([3.0, 10.0, 3.0], _DERIVATIVE)


def scharr_y() -> np.ndarray:
    """Scharr derivative along y: the transpose of ``scharr_x``."""
    return scharr_x().T.copy()


def laplacian(neighbours: int = 4) -> np.ndarray:
    """Discrete Laplacian, negative centre: 4-neighbour ``[[0,1,0],[1,-4,1],[0,1,0]]`` or 8-neighbour.

    The 4-neighbour kernel is ``scipy.ndimage.laplace`` and OpenCV ``Laplacian(ksize=1)``; the
    8-neighbour one has all ones around ``-8``.
    """
    if neighbours == 4:
        return np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    if neighbours == 8:
        k = np.ones((3, 3))
        k[1, 1] = -8.0
        return k
    raise ValueError(f"laplacian neighbours must be 4 or 8, got {neighbours!r}")


def sharpen() -> np.ndarray:
    """Unsharp 3x3: identity minus the 4-neighbour Laplacian, ``[[0,-1,0],[-1,5,-1],[0,-1,0]]`` (sum 1)."""
    return identity() - laplacian(4)


def identity() -> np.ndarray:
    """The 3x3 kernel that returns the image unchanged ('same' padding, stride 1)."""
    k = np.zeros((3, 3))
    k[1, 1] = 1.0
    return k


@dataclass(frozen=True)
class KernelSpec:
    """A named kernel for the registry and the CLI.

    Attributes:
        name: registry name (``convolab kernels`` lists them).
        build: ``build(sigma, size) -> ndarray``; fixed kernels ignore both.
        params: which of 'sigma' and 'size' the kernel uses.
        signed: True for derivative kernels (response around 0, shown centred at grey); False for
            kernels that sum to 1 (response in the image's range, shown clipped to [0, 1]).
        summary: one line for listings.
        sigma: default sigma for kernels that take one (None otherwise).
    """

    name: str
    build: Callable[[float | None, int | None], np.ndarray]
    params: tuple[str, ...]
    signed: bool
    summary: str
    sigma: float | None = None


def _fixed(fn: Callable[[], np.ndarray]) -> Callable[[float | None, int | None], np.ndarray]:
    return lambda sigma, size: fn()


KERNELS: dict[str, KernelSpec] = {
    spec.name: spec
    for spec in (
        KernelSpec("identity", _fixed(identity), (), False, "returns the image unchanged"),
        KernelSpec(
            "box", lambda s, k: box(3 if k is None else k), ("size",), False, "mean of a size x size window"
        ),
        KernelSpec(
            "gaussian",
            lambda s, k: gaussian(1.0 if s is None else s, k),
            ("sigma", "size"),
            False,
            "Gaussian blur (default sigma 1, size from truncate=4)",
            1.0,
        ),
        KernelSpec("sharpen", _fixed(sharpen), (), False, "identity minus the 4-neighbour Laplacian"),
        KernelSpec("sobel_x", _fixed(sobel_x), (), True, "Sobel d/dx, positive where brighter to the right"),
        KernelSpec("sobel_y", _fixed(sobel_y), (), True, "Sobel d/dy, positive where brighter downwards"),
        KernelSpec("prewitt_x", _fixed(prewitt_x), (), True, "Prewitt d/dx"),
        KernelSpec("prewitt_y", _fixed(prewitt_y), (), True, "Prewitt d/dy"),
        KernelSpec("scharr_x", _fixed(scharr_x), (), True, "Scharr d/dx (OpenCV weights 3, 10, 3)"),
        KernelSpec("scharr_y", _fixed(scharr_y), (), True, "Scharr d/dy"),
        KernelSpec("laplacian", _fixed(laplacian), (), True, "4-neighbour Laplacian, centre -4"),
        KernelSpec("laplacian8", _fixed(lambda: laplacian(8)), (), True, "8-neighbour Laplacian, centre -8"),
        KernelSpec(
            "log",
            lambda s, k: laplacian_of_gaussian(2.0 if s is None else s, k),
            ("sigma", "size"),
            True,
            "Laplacian of Gaussian (default sigma 2), as scipy gaussian_laplace",
            2.0,
        ),
    )
}

# Alternative spellings accepted by ``get_kernel`` (normalised: lower case, '-' and ' ' -> '_').
ALIASES = {
    "mean": "box",
    "gauss": "gaussian",
    "blur": "gaussian",
    "laplace": "laplacian",
    "laplacian4": "laplacian",
    "laplacian_of_gaussian": "log",
    "sobelx": "sobel_x",
    "sobely": "sobel_y",
}


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """``" (did you mean a, b?)"`` with the nearest names, or the full list when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if close:
        return f"; did you mean {', '.join(close)}?"
    return f"; choose from {', '.join(choices)}"


def canonical_name(name: str) -> str:
    """Registry name for ``name`` (case, '-' and aliases tolerated); ValueError naming the nearest."""
    if not isinstance(name, str):
        raise TypeError(f"kernel name must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}{suggest(key, tuple(KERNELS))}")
    return key


def get_kernel(name: str, sigma: float | None = None, size: int | None = None) -> np.ndarray:
    """Build the named kernel; ``sigma``/``size`` go to kernels that take them, fixed 3x3 ones ignore them.

    Example:
        >>> get_kernel("sobel_x")
        array([[-1.,  0.,  1.],
               [-2.,  0.,  2.],
               [-1.,  0.,  1.]])
    """
    return KERNELS[canonical_name(name)].build(sigma, size)
