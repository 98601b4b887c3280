"""``filter2d``: one 2-D kernel on every channel of an image, on the Conv2D convolution core.

Layout rule (one rule, by the kind of object):

- NumPy arrays are images as Pillow/matplotlib/OpenCV hold them, channels last:
  ``(H, W)`` grayscale, ``(H, W, C)`` colour, ``(N, H, W, C)`` a batch.
- Torch tensors are images as PyTorch holds them, channels first:
  ``(H, W)``, ``(C, H, W)``, ``(N, C, H, W)``.

The result has the same kind and layout. Float inputs keep their dtype (float16/bfloat16 are computed in
float32 and cast back); integer and bool inputs become float32 with their values unchanged (no scaling).

Every channel is filtered on its own: ``conv2d(..., groups=C)`` with the kernel repeated per channel,
on channels-last memory (PyTorch's depthwise CPU kernel is vectorised over channels there: 0.04 s for a
3x3 kernel on 3x1080x1920 against 0.5-0.7 s in NCHW, and 19 s instead of 0.8 s for 17x17). Kernels of
rank 1 or 2 with many taps (Gaussian, box, LoG) run as sums of two 1-D passes. Every pass is
``convolab.layers.functional.conv2d``, so the result is Conv2D's, padding split included.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from convolab.layers.functional import PAD_MODES, conv2d, tf_pad_amounts
from convolab.layers.padding import PADDINGS, conv_output_length
from convolab.limits import MAX_FILTER_KERNEL_SIDE, LimitError

# A kernel with at least this many taps runs as 1-D passes when its rank is 1 or 2 (measured on a
# 2-core CPU, 1080x1920: 9x9 direct 0.20 s, as two 1-D passes 0.07 s; 5x5 about equal).
SEPARABLE_MIN_TAPS = 49
# Channels are computed with groups = max(C, MIN_GROUPS) (see correlate_nchw).
MIN_GROUPS = 2


def _pair(name: str, value: Any) -> tuple[int, int]:
    vals = value if isinstance(value, (tuple, list)) else (value, value)
    if len(vals) != 2:
        raise ValueError(f"{name} must be a positive integer or a pair of them, got {value!r}")
    out = []
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        out.append(int(v))
    return out[0], out[1]


def as_kernel(kernel: Any) -> np.ndarray:
    """A finite, non-empty 2-D float64 kernel from an array, tensor or nested lists."""
    shape = tuple(getattr(kernel, "shape", ()))
    if len(shape) == 2 and max(shape) > MAX_FILTER_KERNEL_SIDE:  # before a float64 copy is made
        raise LimitError(
            f"kernel {shape[0]}x{shape[1]}: a side over {MAX_FILTER_KERNEL_SIDE} "
            "(limits.MAX_FILTER_KERNEL_SIDE)"
        )
    if isinstance(kernel, torch.Tensor):
        kernel = kernel.detach().cpu().double().numpy()
    try:
        k = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"kernel must be a numeric 2-D array, got {kernel!r}") from None
    if k.ndim != 2 or k.size == 0 or not np.isfinite(k).all():
        raise ValueError(f"kernel must be a finite, non-empty 2-D array (kh, kw), got shape {k.shape}")
    return k


def _to_nchw(image: Any) -> tuple[torch.Tensor, Any]:
    """``(N, C, H, W)`` tensor view of ``image`` and a function that restores kind, layout and dtype."""
    if isinstance(image, np.ndarray):
        is_numpy, t = True, torch.from_numpy(np.ascontiguousarray(image))
    elif isinstance(image, torch.Tensor):
        is_numpy, t = False, image
    else:
        raise TypeError(f"image must be a numpy array or a torch tensor, got {type(image).__name__}")
    if t.dim() not in (2, 3, 4):
        layout = "(H, W), (H, W, C) or (N, H, W, C)" if is_numpy else "(H, W), (C, H, W) or (N, C, H, W)"
        raise ValueError(f"image must be {layout}, got shape {tuple(t.shape)}")
    if t.is_complex():
        raise TypeError(f"image must be real, got dtype {t.dtype}")
    out_dtype = t.dtype if t.is_floating_point() else torch.float32
    work = out_dtype if out_dtype in (torch.float32, torch.float64) else torch.float32
    ndim = t.dim()
    x = t.to(work)
    if is_numpy and ndim >= 3:
        x = x.movedim(-1, -3)  # channels last -> channels first: (..., C, H, W)
    x = x.reshape((1,) * (4 - ndim) + tuple(x.shape))  # (N, C, H, W)

    def restore(y: torch.Tensor) -> Any:
        y = y.reshape(y.shape[4 - ndim :]) if ndim < 4 else y  # drop the dims we added
        if is_numpy and ndim >= 3:
            y = y.movedim(-3, -1)  # back to channels last
        y = y.to(out_dtype)
        return y.numpy() if is_numpy else y

    return x, restore


def _mirror_index(n: int, before: int, after: int) -> torch.Tensor:
    """Indices of ``n`` samples padded by reflection without repeating the edge (SciPy 'mirror'),
    for any amount of padding (``F.pad`` allows at most ``n - 1``): period ``2 (n - 1)``."""
    idx = torch.arange(-before, n + after)
    if n == 1:
        return torch.zeros_like(idx)
    m = idx.remainder(2 * (n - 1))
    return torch.where(m < n, m, 2 * (n - 1) - m)


def _separable_terms(k: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """``[(column, row), ...]`` with ``k = sum column (x) row`` when that saves work, else None."""
    if k.size < SEPARABLE_MIN_TAPS:
        return None
    u, s, vt = np.linalg.svd(k)
    rank = int((s > s[0] * 1e-12).sum())
    if rank > 2:
        return None
    return [(u[:, i] * s[i], vt[i]) for i in range(rank)]


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` with the canonical channels-last strides; a view of an (H, W, C) array has the right order
    but a batch stride PyTorch's fast depthwise path does not accept (0.6 s instead of 0.02 s)."""
    n, c, h, w = x.shape
    if x.stride() == (c * h * w, 1, w * c, c):
        return x
    return x.clone(memory_format=torch.channels_last)


def correlate_nchw(
    x: torch.Tensor, kernel: np.ndarray, stride: tuple[int, int], padding: str, border: str
) -> torch.Tensor:
    """Cross-correlate every channel of ``x (N, C, H, W)`` with the 2-D ``kernel``; no validation."""
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    if border == "reflect" and padding == "same":
        top, bottom, left, right = tf_pad_amounts(h, w, (kh, kw), stride, "same")
        if max(top, bottom) >= h or max(left, right) >= w:  # beyond what F.pad's reflect allows
            x = x[..., _mirror_index(h, top, bottom), :][..., _mirror_index(w, left, right)]
            padding = "valid"
    # A single channel is duplicated: PyTorch's channels-last depthwise kernel on 2 channels beats its
    # 1-channel convolution several times over on CPU (measured, docs/filters.md).
    groups = max(c, MIN_GROUPS)
    x = x.expand(n, groups, *x.shape[-2:]) if c < groups else x
    x = _channels_last(x)  # (N, G, H, W) stored channels last

    def bank(a: np.ndarray) -> torch.Tensor:  # the kernel repeated per channel: (G, 1, kh, kw)
        return torch.as_tensor(a, dtype=x.dtype, device=x.device).expand(groups, 1, *a.shape).contiguous()

    def run(t: torch.Tensor, a: np.ndarray, s: tuple[int, int]) -> torch.Tensor:
        return conv2d(t, bank(a), stride=s, padding=padding, groups=groups, pad_mode=border)

    terms = _separable_terms(kernel)
    if terms is None:
        y = run(x, kernel, stride)
    else:  # k = sum_i col_i (x) row_i: a (kh, 1) pass down the columns, then a (1, kw) pass along rows
        y = cast(  # sum() of tensors: a tensor (terms is never empty)
            torch.Tensor,
            sum(
                run(run(x, col[:, None], (stride[0], 1)), row[None, :], (1, stride[1])) for col, row in terms
            ),
        )
    return y[:, :c]  # (N, C, H', W')


def filter2d(
    image: Any,
    kernel: Any,
    stride: int | tuple[int, int] = 1,
    padding: str = "same",
    border: str = "zeros",
) -> Any:
    """Cross-correlate every channel of ``image`` with a 2-D kernel, exactly like a fixed Conv2D.

    Args:
        image: NumPy ``(H, W)``, ``(H, W, C)``, ``(N, H, W, C)`` or torch ``(H, W)``, ``(C, H, W)``,
            ``(N, C, H, W)`` (see the module docstring for the rule).
        kernel: 2-D ``(kh, kw)`` array, tensor or nested lists (e.g. ``kernels.sobel_x()``).
        stride: int or ``(sh, sw)``, positive.
        padding: 'same' (TF split: the odd pixel of padding goes bottom/right; output ``ceil(H / s)``)
            or 'valid' (no padding; output ``floor((H - kh) / s) + 1``).
        border: what 'same' padding holds: 'zeros' (Keras/Conv2D), 'reflect' (mirror without repeating
            the edge pixel: SciPy 'mirror', OpenCV BORDER_REFLECT_101) or 'replicate' (edge pixel
            repeated: SciPy 'nearest', OpenCV BORDER_REPLICATE).

    Returns:
        The filtered image, same kind (numpy/torch) and layout as ``image``, spatial size as Conv2D.

    Example:
        >>> import numpy as np
        >>> from convolab.filters import filter2d, sobel_x
        >>> filter2d(np.tile(np.arange(5.0), (3, 1)), sobel_x())[1]  # brighter to the right: +8 inside
        array([  4.,   8.,   8.,   8., -12.])
    """
    k = as_kernel(kernel)
    s = _pair("stride", stride)
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
    if border not in PAD_MODES:
        raise ValueError(f"border must be one of {', '.join(PAD_MODES)}, got {border!r}")
    x, restore = _to_nchw(image)
    h, w = x.shape[-2:]
    if h == 0 or w == 0:
        raise ValueError(f"image is empty: {h}x{w}")
    for axis, i, kk, ss in (("height", h, k.shape[0], s[0]), ("width", w, k.shape[1], s[1])):
        if conv_output_length(i, kk, ss, padding) < 1:
            raise ValueError(
                f"kernel {k.shape[0]}x{k.shape[1]} does not fit in the image {axis} {i} with padding='valid'"
            )
    return restore(correlate_nchw(x, k, s, padding, border))


def output_size(
    height: int,
    width: int,
    kernel_shape: tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: str = "same",
) -> tuple[int, int]:
    """``(H', W')`` of ``filter2d`` on an ``height x width`` image: the Conv2D arithmetic."""
    s = _pair("stride", stride)
    return (
        conv_output_length(height, kernel_shape[0], s[0], padding),
        conv_output_length(width, kernel_shape[1], s[1], padding),
    )
