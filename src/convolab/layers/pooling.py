"""MaxPool2D (can return its switches) and AvgPool2D with TF 'same'/'valid' padding.

TF pads 'same' pooling asymmetrically (the odd pixel bottom/right, ``padding.same_padding``) with values
that never take part: -inf for max pooling, and average pooling divides by the number of real pixels
in each window (padding excluded from the count). Every 'same' window holds at least one real pixel,
since the total padding is at most ``k - 1`` (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from convolab.layers.base import AxisMap, Layer, Shape, check_image_shape, register, to_padding, to_pair
from convolab.layers.padding import conv_output_length, padding_amounts

AXES = ("H", "W")


class _Pool2D(Layer):
    """Shared arithmetic of the 2-D pooling layers (no parameters, 0 MACs)."""

    spatial = True

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.pool_size = to_pair(self.label, "pool_size", pool_size, limit="MAX_KERNEL_SIDE")
        self._strides_arg = (
            None if strides is None else to_pair(self.label, "strides", strides, limit="MAX_FACTOR")
        )
        self.strides = self._strides_arg or self.pool_size  # Keras: strides default to pool_size
        self.padding = to_padding(self.label, padding)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        c, h, w = check_image_shape(self, input_shape)
        out = []
        for axis, i, k, s in zip(AXES, (h, w), self.pool_size, self.strides, strict=True):
            n = conv_output_length(i, k, s, self.padding)
            if n < 1:
                raise ValueError(
                    f"{self.label}: pool size {k} is larger than the 'valid' input {i} on axis {axis}"
                )
            out.append(n)
        return (c, out[0], out[1])

    def pads(self, h: int, w: int) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)`` TF padding of an ``h x w`` input."""
        top, bottom = padding_amounts(h, self.pool_size[0], self.strides[0], self.padding)
        left, right = padding_amounts(w, self.pool_size[1], self.strides[1], self.padding)
        return top, bottom, left, right

    def axis_maps(self, input_shape: Shape) -> tuple[AxisMap, AxisMap]:
        self.compute_output_shape(input_shape)  # validates
        _, h, w = check_image_shape(self, input_shape)
        top, _, left, _ = self.pads(h, w)
        return (
            AxisMap("window", h, kernel=self.pool_size[0], stride=self.strides[0], pad=top),
            AxisMap("window", w, kernel=self.pool_size[1], stride=self.strides[1], pad=left),
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "pool_size": list(self.pool_size),
            "strides": None if self._strides_arg is None else list(self._strides_arg),
            "padding": self.padding,
            **self.base_config(),
        }


@register
class MaxPool2D(_Pool2D):
    """Max pooling exactly as Keras ``MaxPooling2D`` (alias), with optional switches.

    Args:
        pool_size: int or (ph, pw).
        strides: int, pair, or None (= pool_size).
        padding: 'valid' (Keras default) or 'same' (pads with -inf: padding never wins).
        name: layer name (a ``MaxUnpool2D`` refers to it).

    Input shape: ``(C, H, W)``. Output shape: ``(C, H', W')``, ``H' = floor((H - k) / s) + 1``
    ('valid') or ``ceil(H / s)`` ('same').

    Example:
        >>> y, switches = MaxPool2D(2).forward_with_switches(torch.arange(16.0).view(1, 1, 4, 4))
        >>> y.flatten().tolist(), switches.flatten().tolist()
        ([5.0, 7.0, 13.0, 15.0], [5, 7, 13, 15])
    """

    aliases = ("MaxPooling2D",)

    def _pool(self, x: torch.Tensor, *, indices: bool):
        h, w = x.shape[-2:]
        top, bottom, left, right = self.pads(h, w)
        if top == bottom and left == right:
            # symmetric: max_pool2d pads with -inf itself and reports indices in the unpadded plane
            if not indices:
                return F.max_pool2d(x, self.pool_size, self.strides, padding=(top, left))
            return F.max_pool2d(x, self.pool_size, self.strides, padding=(top, left), return_indices=True)
        xp = F.pad(x, (left, right, top, bottom), value=float("-inf"))  # (N, C, H+t+b, W+l+r)
        if not indices:
            return F.max_pool2d(xp, self.pool_size, self.strides)
        y, idx = F.max_pool2d(xp, self.pool_size, self.strides, return_indices=True)
        wp = w + left + right
        row, col = idx // wp - top, idx % wp - left  # back to the unpadded plane
        return y, row * w + col

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self._pool(x, indices=False)

    def forward_with_switches(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, switches)``: switches are int64 flat indices ``row * W + col`` into each input plane.

        Same convention as ``torch.nn.functional.max_pool2d(return_indices=True)``, always relative
        to the unpadded input, so ``MaxUnpool2D`` can scatter values back.
        """
        if not self.built:
            self.build(tuple(x.shape[1:]))
        return self._pool(x, indices=True)


@register
class AvgPool2D(_Pool2D):
    """Average pooling exactly as Keras ``AveragePooling2D`` (alias).

    With 'same' padding each window's mean is over its real pixels only (TF semantics; the padding is
    not counted), so a constant image stays constant up to its border.

    Args:
        pool_size: int or (ph, pw).
        strides: int, pair, or None (= pool_size).
        padding: 'valid' (Keras default) or 'same'.
        name: layer name.

    Input shape: ``(C, H, W)``. Output shape: as ``MaxPool2D``.

    Example:
        >>> AvgPool2D(2, padding="same")(torch.ones(1, 1, 3, 3)).flatten().tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    aliases = ("AveragePooling2D",)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        top, bottom, left, right = self.pads(h, w)
        if not (top or bottom or left or right):
            return F.avg_pool2d(x, self.pool_size, self.strides)
        if top == bottom and left == right:
            return F.avg_pool2d(x, self.pool_size, self.strides, (top, left), count_include_pad=False)
        pad = (left, right, top, bottom)
        sums = F.avg_pool2d(F.pad(x, pad), self.pool_size, self.strides, divisor_override=1)
        ones = x.new_ones((1, 1, h, w))
        counts = F.avg_pool2d(F.pad(ones, pad), self.pool_size, self.strides, divisor_override=1)
        return sums / counts  # (N, C, H', W'): mean over the real pixels of each window
