"""The upsampling family: UpSampling2D (nearest, bilinear), BedOfNails2D and MaxUnpool2D.

- Nearest repeats each pixel in an ``s x s`` block (Keras ``UpSampling2D``, ``interpolation='nearest'``).
- Bilinear uses half-pixel centres, source ``x = (u + 0.5) / s - 0.5`` clamped to the image (what Keras
  gets from ``tf.image.resize``, and ``F.interpolate(..., align_corners=False)``).
- Bed of nails puts each value at the top-left of its ``s x s`` cell and zeros elsewhere.
- Max unpooling puts each value back at the switch (argmax) position recorded by a named MaxPool2D.
None of these has parameters; their MACs are reported as 0 (they move data, the interpolation weights
of bilinear are not counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from convolab.layers.base import AxisMap, Layer, Shape, check_image_shape, register, to_pair

INTERPOLATIONS = ("nearest", "bilinear")


class _Upsample(Layer):
    """Shared shape arithmetic: ``(C, H, W) -> (C, H * sh, W * sw)``."""

    spatial = True
    _map_kind = "nearest"

    def __init__(self, size: int | Sequence[int] = 2, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.size = to_pair(self.label, "size", size, limit="MAX_FACTOR")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        c, h, w = check_image_shape(self, input_shape)
        return (c, h * self.size[0], w * self.size[1])

    def axis_maps(self, input_shape: Shape) -> tuple[AxisMap, AxisMap]:
        _, h, w = check_image_shape(self, input_shape)
        return (
            AxisMap(self._map_kind, h, stride=self.size[0]),
            AxisMap(self._map_kind, w, stride=self.size[1]),
        )


@register
class UpSampling2D(_Upsample):
    """Upsampling by an integer factor per axis, exactly as Keras ``UpSampling2D``.

    Args:
        size: int or (sh, sw).
        interpolation: 'nearest' (repeat) or 'bilinear' (half-pixel centres, edges clamped).
        name: layer name.

    Input shape: ``(C, H, W)``. Output shape: ``(C, H * sh, W * sw)``.

    Example:
        >>> UpSampling2D(2)(torch.tensor([[[[1.0, 2.0]]]])).tolist()
        [[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]]
    """

    def __init__(
        self, size: int | Sequence[int] = 2, interpolation: str = "nearest", *, name: str | None = None
    ) -> None:
        super().__init__(size, name=name)
        if interpolation not in INTERPOLATIONS:
            raise self.error("interpolation", interpolation, "must be 'nearest' or 'bilinear'")
        self.interpolation = interpolation
        self._map_kind = interpolation

    def get_config(self) -> dict[str, Any]:
        return {"size": list(self.size), "interpolation": self.interpolation, **self.base_config()}

    def call(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        sh, sw = self.size
        if self.interpolation == "bilinear":
            return bilinear_upsample(x, sh, sw)
        if sh == sw == 2:
            # PyTorch's nearest kernel maps an exactly doubled size by index >> 1 (no float scale), so
            # this is the same repeat; it keeps channels_last and measured 7-16x faster forward+backward
            # than expand+reshape (BENCHMARKS.md). Other factors keep the exact integer repeat below.
            return F.interpolate(x, size=(h * 2, w * 2), mode="nearest")
        # exact integer repeat (no float scale arithmetic): (N, C, H, sh, W, sw) -> (N, C, H*sh, W*sw)
        return x[:, :, :, None, :, None].expand(n, c, h, sh, w, sw).reshape(n, c, h * sh, w * sw)


def _bilinear_taps(n: int, s: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Half-pixel bilinear upsampling of ``n`` samples by ``s``, per output index ``o``: the lower and upper
    source samples (edges clamped) and the upper one's weight.

    The source is ``(o + 0.5) / s - 0.5 = o // s + (2 (o % s) + 1 - s) / (2 s)``: the weight is that ratio
    of integers rounded once, so a source on a sample has weight exactly 0 and takes that sample alone (as
    TensorFlow's ``lower = floor``, ``upper = ceil``). PyTorch's float32 kernel weighted the neighbour
    1.5e-8 for odd factors, and the neighbour got gradient where the receptive field says none reaches.
    """
    o = torch.arange(n * s, device=x.device)
    num = 2 * (o % s) + 1 - s  # source - o // s, in units of 1 / (2 s): in (-s, s)
    below = num < 0
    lo = o // s - below.long()
    num = num + 2 * s * below.long()  # source - lo, in units of 1 / (2 s): in [0, 2 s)
    hi = torch.where(num == 0, lo, lo + 1)
    weight = (num.to(torch.float64) / (2 * s)).to(x.dtype)
    return lo.clamp(0, n - 1), hi.clamp(0, n - 1), weight


def bilinear_upsample(x: torch.Tensor, sh: int, sw: int) -> torch.Tensor:
    """``(N, C, H, W) -> (N, C, H*sh, W*sw)``, half-pixel centres, edges clamped (Keras ``UpSampling2D``
    bilinear, TensorFlow's ``resize_bilinear(half_pixel_centers=True)``): along W, then along H, each
    output ``a + (b - a) * t`` as TensorFlow computes it."""
    if sw > 1:
        lo, hi, t = _bilinear_taps(x.shape[-1], sw, x)
        left = x[..., lo]
        x = left + (x[..., hi] - left) * t
    if sh > 1:
        lo, hi, t = _bilinear_taps(x.shape[-2], sh, x)
        top = x[..., lo, :]
        x = top + (x[..., hi, :] - top) * t[:, None]
    return x


@register
class BedOfNails2D(_Upsample):
    """Bed-of-nails upsampling: each value at the top-left of its ``sh x sw`` cell, zeros elsewhere.

    Args:
        size: int or (sh, sw).
        name: layer name.

    Input shape: ``(C, H, W)``. Output shape: ``(C, H * sh, W * sw)``.

    Example:
        >>> BedOfNails2D(2)(torch.tensor([[[[1.0, 2.0]]]])).tolist()
        [[[[1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]]
    """

    _map_kind = "nails"

    def get_config(self) -> dict[str, Any]:
        return {"size": list(self.size), **self.base_config()}

    def call(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        sh, sw = self.size
        y = x.new_zeros((n, c, h * sh, w * sw))
        y[:, :, ::sh, ::sw] = x  # differentiable copy into the grid points
        return y


def max_unpool2d(
    x: torch.Tensor,
    switches: torch.Tensor,
    output_size: tuple[int, int],
    *,
    check: bool = True,
    disjoint: bool = False,
) -> torch.Tensor:
    """Scatter ``x`` to the flat positions ``switches`` of ``output_size`` planes; zeros elsewhere.

    Same convention as ``torch.nn.functional.max_unpool2d``: indices are ``row * W + col`` per plane,
    a value overwrites (never adds). Where overlapping pooling windows chose the same input pixel, torch
    leaves the winner undefined (pytorch/pytorch#78249); convolab makes it deterministic: the last window
    in row-major order wins, and only it receives gradient.

    ``disjoint=True`` is the caller's promise that no two switches of a plane are equal, as for
    switches of pooling windows that do not overlap (strides >= pool size: each input pixel lies in
    at most one window). Then every output pixel has at most one source and the result is a plain
    scatter whose backward is a gather (``_scatter_unpool``), the same values and gradients as the
    general path (tests/test_plan_switches.py) without its ``scatter_reduce`` and full-size int64
    winner map; the fused plan (``convolab.engine.switches``) passes it for such pools.

    Args:
        x: ``(N, C, h, w)`` values, one per pooling window.
        switches: int64 ``(N, C, h, w)`` from ``MaxPool2D.forward_with_switches``.
        output_size: ``(H, W)`` of the pool's input.
        check: verify that every switch lies inside the output planes (a device sync on GPU; the model
            skips it for switches its own pools produced).
        disjoint: no two switches of a plane are equal (see above); the caller guarantees it.
    """
    if switches.shape != x.shape:
        raise ValueError(
            f"max_unpool2d: switches shape {tuple(switches.shape)} != input shape {tuple(x.shape)}"
        )
    n, c, h, w = x.shape
    size = int(output_size[0]) * int(output_size[1])
    idx = switches.reshape(n, c, h * w).long()
    if check and idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= size):
        raise ValueError(
            f"max_unpool2d: switches must lie in [0, {size}) for output size {tuple(output_size)}"
        )
    if disjoint:
        return _scatter_unpool(x, switches, (int(output_size[0]), int(output_size[1])))
    pos = torch.arange(h * w, device=x.device).expand(n, c, h * w)
    winner = torch.full((n, c, size), -1, dtype=torch.long, device=x.device)
    winner = winner.scatter_reduce(2, idx, pos, reduce="amax", include_self=True)  # last window wins
    values = x.reshape(n, c, h * w).gather(2, winner.clamp(min=0))
    out = torch.where(winner >= 0, values, values.new_zeros(()))
    return out.view(n, c, int(output_size[0]), int(output_size[1]))  # (N, C, H, W)


def _scatter_unpool(x: torch.Tensor, switches: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """``max_unpool2d`` for switches without duplicates: one ``scatter_`` into zeros, in the input's
    memory format (channels_last stays channels_last: the scatter runs on the ``(N, H*W, C)`` view)."""
    n, c, h, w = x.shape
    size = out_hw[0] * out_hw[1]
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        src = x.permute(0, 2, 3, 1).reshape(n, h * w, c)
        idx = switches.permute(0, 2, 3, 1).reshape(n, h * w, c).long()
        out = x.new_zeros((n, size, c)).scatter_(1, idx, src)
        return out.view(n, out_hw[0], out_hw[1], c).permute(0, 3, 1, 2)  # (N, C, H, W), channels_last
    src, idx = x.reshape(n, c, h * w), switches.reshape(n, c, h * w).long()
    return x.new_zeros((n, c, size)).scatter_(2, idx, src).view(n, c, out_hw[0], out_hw[1])


@dataclass(frozen=True)
class PoolLink:
    """The pairing of a MaxUnpool2D with its MaxPool2D: the pool and the pool's input shape.

    A model's walk (``convolab.model.walk``) makes it from the spec (the unpool names its pool); the unpool's
    arithmetic takes it as an argument, so it stays pure (no state set on the layer).
    """

    pool: Layer
    input_shape: Shape

    def __post_init__(self) -> None:
        from convolab.layers.pooling import MaxPool2D

        if not isinstance(self.pool, MaxPool2D):
            raise ValueError(f"the pool of a MaxUnpool2D must be a MaxPool2D, got {type(self.pool).__name__}")
        object.__setattr__(self, "input_shape", check_image_shape(self.pool, self.input_shape))

    @property
    def output_shape(self) -> Shape:
        """The pool's output shape: what the unpool takes."""
        return tuple(self.pool.compute_output_shape(self.input_shape))


@register
class MaxUnpool2D(Layer):
    """Max unpooling: values go back to the switch positions of the MaxPool2D named ``pool``.

    In a ``Sequential`` model the pool is found by name (``convolab.model.walk``), and the model passes its
    switches and output size at run time (no state is kept on the layer). The shape arithmetic takes the
    pairing explicitly: ``compute_output_shape(shape, PoolLink(pool, pool_input_shape))``.
    Standalone, give switches and size: ``unpool(x, switches=s, output_size=(H, W))``.
    Works with 'same' and 'valid' pools and overlapping windows (see ``max_unpool2d`` for duplicates).

    Args:
        pool: name of the paired MaxPool2D (an earlier layer of the model).
        name: layer name.

    Input shape: the pool's output shape. Output shape: ``(C, H, W)`` of the pool's input, with the
    channels of this layer's input (they must equal the pool's).

    Example:
        >>> from convolab.layers import MaxPool2D
        >>> pool, unpool = MaxPool2D(2, name="p"), MaxUnpool2D("p")
        >>> y, s = pool.forward_with_switches(torch.arange(16.0).view(1, 1, 4, 4))
        >>> unpool(y, switches=s, output_size=(4, 4))[0, 0, 1].tolist()
        [0.0, 5.0, 0.0, 7.0]
        >>> unpool.compute_output_shape((1, 2, 2), PoolLink(pool, (1, 4, 4)))
        (1, 4, 4)
    """

    spatial = True

    def __init__(self, pool: str, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if not isinstance(pool, str) or not pool:
            raise self.error("pool", pool, "must be the name of a MaxPool2D layer")
        self.pool = pool

    def _link(self, link: PoolLink | None) -> PoolLink:
        if link is None:
            raise ValueError(
                f"{self.label}: its output shape is its pool's input shape; pass the pairing, "
                f"compute_output_shape(shape, PoolLink(pool, pool_input_shape)), or use it in a Sequential"
            )
        return link

    def compute_output_shape(self, input_shape: Shape, link: PoolLink | None = None) -> Shape:
        c, h, w = check_image_shape(self, input_shape)
        link = self._link(link)
        if (c, h, w) != link.output_shape:
            raise ValueError(
                f"{self.label}: input shape {(c, h, w)} differs from the output shape "
                f"{link.output_shape} of its pool {self.pool!r}; the switches would not fit"
            )
        return (c, link.input_shape[1], link.input_shape[2])

    def axis_maps(self, input_shape: Shape, link: PoolLink | None = None) -> tuple[AxisMap, AxisMap]:
        # an output pixel gets a value from the input pixel whose pooling window holds it (the switch
        # is data dependent, so the whole window counts): the transpose of the pool's window map
        self.compute_output_shape(input_shape, link)
        _, h, w = check_image_shape(self, input_shape)
        mh, mw = self._link(link).pool.axis_maps(self._link(link).input_shape)
        return (
            AxisMap("transpose", h, kernel=mh.kernel, stride=mh.stride, pad=mh.pad),
            AxisMap("transpose", w, kernel=mw.kernel, stride=mw.stride, pad=mw.pad),
        )

    def build(self, input_shape: Shape) -> None:
        """Nothing to build (no parameters); the input must be an image."""
        self.built_shape = check_image_shape(self, input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"pool": self.pool, **self.base_config()}

    def call(
        self,
        x: torch.Tensor,
        switches: torch.Tensor | None = None,
        output_size: tuple[int, int] | None = None,
        check: bool = True,
    ) -> torch.Tensor:
        if switches is None:
            raise ValueError(f"{self.label}: needs the switches of its pool {self.pool!r} (switches=...)")
        if output_size is None:
            raise ValueError(
                f"{self.label}: needs the (H, W) of its pool {self.pool!r}'s input (output_size=...)"
            )
        return max_unpool2d(x, switches, output_size, check=check)

    # nothing to build and no activation: forward is call, with the switches passed straight through
    forward = call
