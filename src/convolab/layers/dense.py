"""Dense, Flatten and Reshape with Keras semantics.

Dense acts on the last axis of an input of any rank, as in Keras (the lecture applies it to a
``(64, 4, 2)`` batch of boxes). Its weight is stored in PyTorch's ``nn.Linear`` layout ``(units, in)``;
Keras's kernel is ``(in, units)``, i.e. the transpose.

Flatten order: convolab flattens ``(C, H, W)`` (PyTorch), Keras flattens ``(H, W, C)`` (channels-last).
The shapes and parameter counts agree; only the order of the flat vector differs, which matters when a
Keras Dense kernel that follows a Flatten is imported: ``Flatten.keras_order`` gives the permutation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convolab.layers.base import AxisMap, Layer, Shape, register, to_bool, to_positive_int
from convolab.layers.init import glorot_uniform_


def _global_maps(input_shape: Shape) -> tuple[AxisMap, AxisMap]:
    """Every output sees the whole input: (H, W) of an image input, length 1 otherwise."""
    if len(input_shape) == 3:
        return AxisMap("global", int(input_shape[1])), AxisMap("global", int(input_shape[2]))
    return AxisMap("global", 1), AxisMap("global", 1)


def _check_shape(layer: Layer, input_shape: Shape) -> Shape:
    shape = tuple(int(v) for v in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"{layer.label}: input shape must be non-empty and positive, got {shape}")
    return shape


@register
class Dense(Layer):
    """Fully connected layer on the last axis: ``y = x @ weight.T + bias`` (Keras ``Dense``).

    Args:
        units: output size of the last axis.
        activation: applied after the affine map (None = linear).
        use_bias: add a bias vector.
        name: layer name.

    Input shape: ``(..., in)`` any rank. Output shape: ``(..., units)``.
    Parameters: ``weight (units, in)`` (PyTorch layout; Keras's kernel is its transpose) and
    ``bias (units,)``; Keras init: glorot_uniform, zero bias.

    Example:
        >>> Dense(3).compute_output_shape((4, 2))
        (4, 3)
    """

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name, activation=activation)
        self.units = to_positive_int(self.label, "units", units, limit="MAX_CHANNELS")
        self.use_bias = to_bool(self.label, "use_bias", use_bias)
        self.weight: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = _check_shape(self, input_shape)
        return shape[:-1] + (self.units,)

    def count_params(self, input_shape: Shape) -> int:
        n_in = _check_shape(self, input_shape)[-1]
        return n_in * self.units + (self.units if self.use_bias else 0)

    def macs(self, input_shape: Shape) -> int:
        shape = _check_shape(self, input_shape)
        return math.prod(shape[:-1]) * shape[-1] * self.units

    def axis_maps(self, input_shape: Shape) -> tuple[AxisMap, AxisMap]:
        return _global_maps(input_shape)

    def _build(self, input_shape: Shape) -> None:
        n_in = input_shape[-1]
        self.weight = nn.Parameter(glorot_uniform_(torch.empty(self.units, n_in), n_in, self.units))
        if self.use_bias:
            self.bias = nn.Parameter(torch.zeros(self.units))

    def get_config(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            **self.base_config(),
        }

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.built_param(self.weight), self.bias)


@register
class Flatten(Layer):
    """Flatten every axis but the batch axis, in convolab's ``(C, H, W)`` order.

    Keras flattens channels-last ``(H, W, C)``: same length, different order. To import the kernel of a
    Keras Dense that follows a Flatten, use ``keras_order`` (see its docstring).

    Input shape: ``(d1, d2, ...)``. Output shape: ``(d1 * d2 * ...,)``.

    Example:
        >>> Flatten().compute_output_shape((16, 7, 7))
        (784,)
    """

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (math.prod(_check_shape(self, input_shape)),)

    def axis_maps(self, input_shape: Shape) -> tuple[AxisMap, AxisMap]:
        return _global_maps(input_shape)

    def get_config(self) -> dict[str, Any]:
        return self.base_config()

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)  # (N, C*H*W)

    @staticmethod
    def keras_order(input_shape: Sequence[int]) -> torch.Tensor:
        """Permutation from Keras's flat order to convolab's, for an input ``(C, H, W)``.

        ``perm[j]`` is the convolab (C, H, W)-flat index of the ``j``-th element of Keras's
        (H, W, C)-flat vector, so ``keras_flat == convolab_flat[perm]``. A Keras Dense kernel
        ``K (C*H*W, units)`` after a Flatten becomes the convolab weight ``W (units, C*H*W)`` by
        ``W[:, perm] = K.T``.
        """
        c, h, w = (int(v) for v in input_shape)
        return torch.arange(c * h * w).reshape(c, h, w).permute(1, 2, 0).reshape(-1)  # (H*W*C,)


@register
class Reshape(Layer):
    """Reshape every axis but the batch axis to ``target_shape`` (one entry may be -1, as in Keras).

    ``target_shape`` is in convolab's layout (``(C, H, W)`` for images). The elements are laid out in
    convolab's (row-major, channels-first) order; a Keras ``Reshape((H, W, C))`` fills channels-last.

    Args:
        target_shape: tuple of positive ints, at most one -1.
        name: layer name.

    Example:
        >>> Reshape((1, 2, -1)).compute_output_shape((8,))
        (1, 2, 4)
    """

    def __init__(self, target_shape: Sequence[int], *, name: str | None = None) -> None:
        super().__init__(name=name)
        ok = (
            isinstance(target_shape, Sequence)
            and not isinstance(target_shape, str)
            and len(target_shape) >= 1
            and all(isinstance(v, int) and not isinstance(v, bool) for v in target_shape)
            and all(v >= 1 or v == -1 for v in target_shape)
            and sum(v == -1 for v in target_shape) <= 1
        )
        if not ok:
            raise self.error(
                "target_shape", target_shape, "must be a list of positive ints with at most one -1"
            )
        self.target_shape = tuple(int(v) for v in target_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        total = math.prod(_check_shape(self, input_shape))
        known = math.prod(v for v in self.target_shape if v != -1)
        if -1 in self.target_shape:
            if total % known:
                raise ValueError(
                    f"{self.label}: cannot reshape input {tuple(input_shape)} ({total} values) "
                    f"to {self.target_shape}: {total} is not divisible by {known}"
                )
            return tuple(total // known if v == -1 else v for v in self.target_shape)
        if known != total:
            raise ValueError(
                f"{self.label}: cannot reshape input {tuple(input_shape)} ({total} values) "
                f"to {self.target_shape} ({known} values)"
            )
        return self.target_shape

    def axis_maps(self, input_shape: Shape) -> tuple[AxisMap, AxisMap]:
        return _global_maps(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"target_shape": list(self.target_shape), **self.base_config()}

    def call(self, x: torch.Tensor) -> torch.Tensor:
        out = self.compute_output_shape(tuple(x.shape[1:]))
        return x.reshape(x.shape[0], *out)  # (N, *target_shape)
