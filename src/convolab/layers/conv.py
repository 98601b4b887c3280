"""Conv2D with Keras semantics: TF 'same'/'valid' padding for any stride, dilation, Keras init.

The weight is stored in PyTorch's ``nn.Conv2d`` layout ``(filters, in_channels, kh, kw)``; Keras's kernel
``(kh, kw, in_channels, filters)`` maps to it by ``permute(3, 2, 0, 1)`` (no flip: both cross-correlate).
The convolution itself is ``convolab.layers.functional.conv2d`` (TF padding split, docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from convolab.layers import functional
from convolab.layers.base import (
    AxisMap,
    Layer,
    Shape,
    check_image_shape,
    register,
    to_bool,
    to_padding,
    to_pair,
    to_positive_int,
)
from convolab.layers.init import glorot_uniform_
from convolab.layers.padding import conv_output_length, effective_kernel, padding_amounts

AXES = ("H", "W")


def refuse_stride_with_dilation(layer: Layer, strides: tuple[int, int], dilation: tuple[int, int]) -> None:
    """Keras 3 (``BaseConv``/``BaseConvTranspose.__init__``) refuses strides > 1 with dilation > 1."""
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(
            f"{layer.label}: strides > 1 together with dilation_rate > 1 is not supported (as in Keras), "
            f"got strides={list(strides)}, dilation_rate={list(dilation)}"
        )


class ConvBase(Layer):
    """What Conv2D and Conv2DTranspose share: their leading arguments, config and parameter count."""

    spatial = True
    filters: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int]
    padding: str
    use_bias: bool

    def _conv_arguments(self, filters: int, kernel_size: Any, strides: Any, padding: str) -> None:
        """Validate and store ``filters``, ``kernel_size``, ``strides`` and ``padding`` (in that order)."""
        self.filters = to_positive_int(self.label, "filters", filters, limit="MAX_CHANNELS")
        self.kernel_size = to_pair(self.label, "kernel_size", kernel_size, limit="MAX_KERNEL_SIDE")
        self.strides = to_pair(self.label, "strides", strides, limit="MAX_FACTOR")
        self.padding = to_padding(self.label, padding)

    def _conv_config(self) -> dict[str, Any]:
        """The config entries of ``_conv_arguments``, in the same order."""
        return {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }

    def _in_channels(self, input_shape: Shape) -> int:
        c, _, _ = check_image_shape(self, input_shape)
        return c

    def count_params(self, input_shape: Shape) -> int:
        # filters x C kernels of kh x kw in either weight layout, plus one bias per filter
        c = self._in_channels(input_shape)
        kh, kw = self.kernel_size
        return self.filters * c * kh * kw + (self.filters if self.use_bias else 0)


def _kernel_tensor(layer: str, kernel: Any) -> torch.Tensor:
    """A fixed kernel as a 4-D float tensor ``(filters, in_channels, kh, kw)``.

    Accepts ``(kh, kw)`` (one filter, one channel), ``(n, kh, kw)`` (a bank of n filters on one channel)
    or ``(n, in_channels, kh, kw)``.
    """
    try:
        t = torch.as_tensor(kernel, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise ValueError(f"{layer}: kernel must be a numeric array of finite float32 values") from None
    if t.dim() not in (2, 3, 4) or t.numel() == 0 or not torch.isfinite(t).all():
        raise ValueError(
            f"{layer}: kernel must be a finite 2-D (kh, kw), 3-D (n, kh, kw) or 4-D (n, c, kh, kw) array, "
            f"got shape {tuple(t.shape)}"
        )
    if t.dim() == 2:
        t = t[None, None]  # (1, 1, kh, kw)
    elif t.dim() == 3:
        t = t[:, None]  # (n, 1, kh, kw): a bank of n filters on one channel
    return t.contiguous()


@register
class Conv2D(ConvBase):
    """2-D convolution (cross-correlation) exactly as Keras ``Conv2D``, on NCHW tensors.

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: 'valid' (Keras default, no padding) or 'same' (TF split: the odd pixel goes
            bottom/right, for any stride).
        dilation_rate: int or (dh, dw); strides > 1 with dilation > 1 is refused, as in Keras.
        use_bias: add a bias per filter.
        activation: applied after the convolution (None = linear).
        kernel: fixed kernel values (see ``from_kernel``); None for a learned, glorot-initialised kernel.
        trainable: False freezes the weights (``requires_grad=False``; counted as non-trainable).
        name: layer name.

    Input shape: ``(C, H, W)``. Output shape: ``(filters, H', W')`` with
    ``H' = ceil(H / s)`` ('same') or ``floor((H - ke) / s) + 1`` ('valid'), ``ke = (k - 1) d + 1``.
    Parameters: ``weight (filters, C, kh, kw)`` (PyTorch layout), ``bias (filters,)``.

    Example:
        >>> Conv2D(16, 3, padding="same").compute_output_shape((1, 28, 28))
        (16, 28, 28)
        >>> Conv2D(16, 3).count_params((1, 28, 28))  # Keras: 160
        160
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        dilation_rate: int | Sequence[int] = 1,
        use_bias: bool = True,
        activation: str | None = None,
        *,
        kernel: Any = None,
        trainable: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name, activation=activation)
        self._conv_arguments(filters, kernel_size, strides, padding)
        self.dilation_rate = to_pair(self.label, "dilation_rate", dilation_rate, limit="MAX_FACTOR")
        self.use_bias = to_bool(self.label, "use_bias", use_bias)
        self.trainable = to_bool(self.label, "trainable", trainable)
        refuse_stride_with_dilation(self, self.strides, self.dilation_rate)
        self.fixed_kernel: torch.Tensor | None = None
        if kernel is not None:
            k = _kernel_tensor(self.label, kernel)
            if k.shape[0] != self.filters or tuple(k.shape[2:]) != self.kernel_size:
                raise self.error(
                    "kernel",
                    f"shape {tuple(k.shape)}",
                    f"must have {self.filters} filters of size {self.kernel_size}",
                )
            self.fixed_kernel = k
            self._kernel_config = torch.as_tensor(kernel, dtype=torch.float64).tolist()
        self.weight: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None

    @classmethod
    def from_kernel(
        cls,
        kernel: Any,
        *,
        strides: int | Sequence[int] = 1,
        padding: str = "same",
        dilation_rate: int | Sequence[int] = 1,
        name: str | None = None,
        trainable: bool = False,
    ) -> Conv2D:
        """A fixed-weight convolution (a classic filter or a filter bank), no bias.

        Args:
            kernel: ``(kh, kw)`` one filter on one channel, ``(n, kh, kw)`` a bank of n filters on one
                channel, or ``(n, c, kh, kw)`` on c channels. Stored in the config as nested lists, so
                a spec can hold it.
            strides, padding, dilation_rate, name: as in the constructor ('same' by default here).
            trainable: False (default) freezes the kernel.

        Example:
            >>> sobel_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
            >>> Conv2D.from_kernel(sobel_x).compute_output_shape((1, 5, 5))
            (1, 5, 5)
        """
        k = _kernel_tensor(cls.__name__, kernel)
        return cls(
            int(k.shape[0]),
            (int(k.shape[2]), int(k.shape[3])),
            strides=strides,
            padding=padding,
            dilation_rate=dilation_rate,
            use_bias=False,
            kernel=kernel,
            trainable=trainable,
            name=name,
        )

    # ---- arithmetic ------------------------------------------------------------------------------
    def _in_channels(self, input_shape: Shape) -> int:
        c = super()._in_channels(input_shape)
        if self.fixed_kernel is not None and self.fixed_kernel.shape[1] != c:
            raise ValueError(
                f"{self.label}: its fixed kernel has {self.fixed_kernel.shape[1]} input channel(s), "
                f"the input has {c} (shape {tuple(input_shape)})"
            )
        return c

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._in_channels(input_shape)
        out = []
        for axis, i, k, s, d in zip(
            AXES, input_shape[1:], self.kernel_size, self.strides, self.dilation_rate, strict=True
        ):
            n = conv_output_length(int(i), k, s, self.padding, d)
            if n < 1:
                raise ValueError(
                    f"{self.label}: kernel {k} (effective {effective_kernel(k, d)}) is larger than the "
                    f"'valid' input {i} on axis {axis}"
                )
            out.append(n)
        return (self.filters, out[0], out[1])

    def macs(self, input_shape: Shape) -> int:
        c = self._in_channels(input_shape)
        _, oh, ow = self.compute_output_shape(input_shape)
        return oh * ow * self.filters * c * self.kernel_size[0] * self.kernel_size[1]

    def axis_maps(self, input_shape: Shape) -> tuple[AxisMap, AxisMap]:
        self.compute_output_shape(input_shape)
        maps = []
        for i, k, s, d in zip(
            input_shape[1:], self.kernel_size, self.strides, self.dilation_rate, strict=True
        ):
            before, _ = padding_amounts(int(i), k, s, self.padding, d)
            maps.append(
                AxisMap("window", int(i), kernel=effective_kernel(k, d), stride=s, pad=before, dilation=d)
            )
        return maps[0], maps[1]

    # ---- building and running --------------------------------------------------------------------
    def _build(self, input_shape: Shape) -> None:
        c = input_shape[0]
        kh, kw = self.kernel_size
        if self.fixed_kernel is not None:
            weight = self.fixed_kernel.clone()
        else:
            weight = torch.empty(self.filters, c, kh, kw)  # (filters, C, kh, kw)
            glorot_uniform_(weight, c * kh * kw, self.filters * kh * kw)
        self.weight = nn.Parameter(weight, requires_grad=self.trainable)
        if self.use_bias:
            self.bias = nn.Parameter(torch.zeros(self.filters), requires_grad=self.trainable)

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            **self._conv_config(),
            "dilation_rate": list(self.dilation_rate),
            "use_bias": self.use_bias,
            "activation": self.activation,
        }
        cfg["kernel"] = self._kernel_config if self.fixed_kernel is not None else None
        cfg["trainable"] = self.trainable  # specs leave both out at their defaults (Layer.spec_config)
        return {**cfg, **self.base_config()}

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return functional.conv2d(
            x,
            self.built_param(self.weight),
            self.bias,
            stride=self.strides,
            padding=self.padding,
            dilation=self.dilation_rate,
        )
