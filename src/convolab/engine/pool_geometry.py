"""Where a MaxPool2D's windows allow cheaper ops: ``ceil_mode`` for end-only padding, the C pooling
kernels' geometry, the fused conv+pool kernel's geometry. Shared by the fused plan
(``convolab.engine.plan``) and its switch entries (``convolab.engine.switches``); pure arithmetic on
the walk's shapes, nothing runs here but the returned ops."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from convolab.engine.native import conv_pool as kernel_conv_pool

if TYPE_CHECKING:
    from convolab.layers.conv import Conv2D
    from convolab.layers.pooling import MaxPool2D

__all__ = ["ceil_len", "conv_geometry", "kernel_geometry", "pool_op"]


def pool_op(pool: MaxPool2D, in_hw: tuple[int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The pool's own call, or ``ceil_mode`` max pooling where that equals its end-only -inf padding."""
    h, w = in_hw
    top, bottom, left, right = pool.pads(h, w)
    (kh, kw), (sh, sw) = pool.pool_size, pool.strides
    if top or left or (not bottom and not right):
        return pool.call
    expect = ((h + bottom - kh) // sh + 1, (w + right - kw) // sw + 1)
    ceil = tuple(ceil_len(n, k, s) for n, k, s in ((h, kh, sh), (w, kw, sw)))
    if ceil != expect:
        return pool.call
    return lambda x: F.max_pool2d(x, (kh, kw), (sh, sw), ceil_mode=True)


def kernel_geometry(
    pool: MaxPool2D, in_hw: tuple[int, int], out_hw: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """``(pool_size, out_hw)`` where the C kernel computes this pool (``in_hw -> out_hw``, the walk's
    shapes): windows that do not overlap (strides == size) and padding, if any, only at the end, so
    the output is the floor or the ceil of the input over the size; else None."""
    top, _, left, _ = pool.pads(*in_hw)
    (kh, kw), (sh, sw) = pool.pool_size, pool.strides
    if (kh, kw) != (sh, sw) or top or left:
        return None
    for n, k, o in zip(in_hw, (kh, kw), out_hw, strict=True):
        if o not in (n // k, -(-n // k)) or o < 1:
            return None
    return (kh, kw), out_hw


def ceil_len(n: int, k: int, s: int) -> int:
    """PyTorch's ceil_mode output length (no padding): the last window must start inside the input."""
    out = -(-(n - k) // s) + 1
    return out - 1 if (out - 1) * s >= n else out


def conv_geometry(
    conv: Conv2D,
    in_hw: tuple[int, int],
    conv_hw: tuple[int, int],
    pool: tuple[tuple[int, int], tuple[int, int]],
) -> kernel_conv_pool.Geometry | None:
    """The fused conv+pool kernel's geometry for a stride-1 'same'/'valid' conv (``in_hw -> conv_hw``,
    the walk's shapes), else None."""
    from convolab.layers.padding import padding_amounts

    if (
        tuple(conv.strides) != (1, 1)
        or tuple(conv.dilation_rate) != (1, 1)
        or conv.padding not in ("same", "valid")
    ):
        return None
    (kh, kw), (h, w) = conv.kernel_size, in_hw
    pads = (padding_amounts(h, kh, 1, conv.padding)[0], padding_amounts(w, kw, 1, conv.padding)[0])
    return kernel_conv_pool.Geometry(pads, conv_hw, pool[0], pool[1])
