"""Conv2DTranspose with Keras semantics: the full transposed convolution, then Keras's crop.

PyTorch's ``ConvTranspose2d(padding=p, output_padding=a)`` removes ``p`` on both sides and adds ``a`` at
the end; Keras/TF crop ``[P // 2, P // 2 + n)`` of the full output (``padding.transpose_crop``), and for
k=3, s=2 'same' that crop, (0, 1), is not symmetric: no (p, a) pair reproduces it. So convolab runs
``F.conv_transpose2d`` with padding 0 (full output ``(i - 1) s + ke`` long) and crops (or zero-extends,
when Keras's output is longer than the full output) exactly; the bias is added after, so an extended
tail holds the bias as in TF.

Weight layout: PyTorch ``ConvTranspose2d`` ``(in_channels, filters, kh, kw)``; Keras's kernel
``(kh, kw, filters, in_channels)`` maps to it by ``permute(3, 2, 0, 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convolab.layers.base import AxisMap, Shape, check_image_shape, register, to_bool, to_pair
from convolab.layers.conv import AXES, ConvBase, refuse_stride_with_dilation
from convolab.layers.init import glorot_uniform_
from convolab.layers.padding import effective_kernel, keras_refuses_transpose, transpose_crop


@register
class Conv2DTranspose(ConvBase):
    """Transposed 2-D convolution exactly as Keras ``Conv2DTranspose``, on NCHW tensors.

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: 'valid' (Keras default) or 'same'.
        output_padding: None, int or pair; each must be < its stride (Keras's rule).
        dilation_rate: int or pair; strides > 1 with dilation > 1 is refused, as in Keras.
        use_bias: add a bias per filter.
        activation: applied after the convolution (None = linear).
        name: layer name.

    Input shape: ``(C, H, W)``. Output shape ``(filters, H', W')``, per axis (docs/architecture.md table):
    'valid' ``(i - 1) s + max(ke, s)``; 'same' ``i s``; with output_padding a:
    ``(i - 1) s + ke + a`` ('valid') or ``(i - 1) s + (ke mod 2) + a`` ('same').
    Configurations where TensorFlow itself fails ('same' with an explicit output_padding and
    ``ceil(n / s) != i``) are refused by ``compute_output_shape`` with a clear message.
    Parameters: ``weight (C, filters, kh, kw)``, ``bias (filters,)``.

    Example:
        >>> layer = Conv2DTranspose(16, 3, strides=2, padding="same")
        >>> layer.compute_output_shape((8, 7, 7)), layer.count_params((8, 7, 7))  # Keras: 1168
        ((16, 14, 14), 1168)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        output_padding: int | Sequence[int] | None = None,
        dilation_rate: int | Sequence[int] = 1,
        use_bias: bool = True,
        activation: str | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name, activation=activation)
        self._conv_arguments(filters, kernel_size, strides, padding)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = to_pair(self.label, "output_padding", output_padding, minimum=0)
        self.dilation_rate = to_pair(self.label, "dilation_rate", dilation_rate, limit="MAX_FACTOR")
        self.use_bias = to_bool(self.label, "use_bias", use_bias)
        if self.output_padding is not None and any(
            a >= s for a, s in zip(self.output_padding, self.strides, strict=True)
        ):  # keras BaseConvTranspose.__init__: "`output_padding` must be < `strides`"
            raise self.error(
                "output_padding",
                list(self.output_padding),
                f"must be < strides {list(self.strides)} on each axis (as in Keras)",
            )
        refuse_stride_with_dilation(self, self.strides, self.dilation_rate)
        self.weight: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None

    # ---- arithmetic ------------------------------------------------------------------------------
    def _axis_args(self, input_shape: Shape):
        """Per axis: (name, i, k, s, output_padding, d)."""
        ops = self.output_padding or (None, None)
        return zip(
            AXES, input_shape[1:], self.kernel_size, self.strides, ops, self.dilation_rate, strict=True
        )

    def crops(self, input_shape: Shape) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((crop_before_h, n_h), (crop_before_w, n_w))``: Keras's window into the full output."""
        check_image_shape(self, input_shape)
        out = []
        for axis, i, k, s, a, d in self._axis_args(input_shape):
            i = int(i)
            if keras_refuses_transpose(i, k, s, self.padding, a, d):
                raise ValueError(
                    f"{self.label}: padding='same' with output_padding={a} on axis {axis} gives output "
                    f"length {transpose_crop(i, k, s, self.padding, a, d)[1]} for input {i}, stride {s}, "
                    f"kernel {k}; TensorFlow needs ceil(output / stride) == input and fails here "
                    "(use output_padding=None or padding='valid')"
                )
            before, n = transpose_crop(i, k, s, self.padding, a, d)
            if n < 1:
                raise ValueError(f"{self.label}: output length {n} < 1 on axis {axis} for input {i}")
            out.append((before, n))
        return out[0], out[1]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        (_, nh), (_, nw) = self.crops(input_shape)
        return (self.filters, nh, nw)

    def macs(self, input_shape: Shape) -> int:
        c, h, w = check_image_shape(self, input_shape)
        self.compute_output_shape(input_shape)
        return h * w * c * self.filters * self.kernel_size[0] * self.kernel_size[1]

    def axis_maps(self, input_shape: Shape) -> tuple[AxisMap, AxisMap]:
        crops = self.crops(input_shape)
        maps = []
        axes = zip(crops, input_shape[1:], self.kernel_size, self.strides, self.dilation_rate, strict=True)
        for (before, _), i, k, s, d in axes:
            maps.append(
                AxisMap("transpose", int(i), kernel=effective_kernel(k, d), stride=s, pad=before, dilation=d)
            )
        return maps[0], maps[1]

    # ---- building and running --------------------------------------------------------------------
    def _build(self, input_shape: Shape) -> None:
        c = input_shape[0]
        kh, kw = self.kernel_size
        # Keras kernel (kh, kw, filters, c): compute_fans gives fan_in = filters*kh*kw, fan_out = c*kh*kw
        w = glorot_uniform_(torch.empty(c, self.filters, kh, kw), self.filters * kh * kw, c * kh * kw)
        self.weight = nn.Parameter(w)
        if self.use_bias:
            self.bias = nn.Parameter(torch.zeros(self.filters))

    def get_config(self) -> dict[str, Any]:
        return {
            **self._conv_config(),
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            "dilation_rate": list(self.dilation_rate),
            "use_bias": self.use_bias,
            "activation": self.activation,
            **self.base_config(),
        }

    def call(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.built_param(self.weight)
        (top, nh), (left, nw) = self.crops(tuple(x.shape[1:]))
        full = F.conv_transpose2d(x, weight, None, stride=self.strides, dilation=self.dilation_rate)
        fh, fw = full.shape[-2:]  # (i - 1) s + ke on each axis
        # F.pad with negative amounts crops; positive amounts append zeros (Keras's missing tail)
        y = F.pad(full, (-left, nw - (fw - left), -top, nh - (fh - top)))  # (N, filters, nh, nw)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y
