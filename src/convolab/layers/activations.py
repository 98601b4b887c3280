"""Activations, usable as a layer argument (``activation="relu"``) and as layers (``Activation``).

Names follow Keras: relu, sigmoid, tanh, leaky_relu (Keras 3 default slope 0.2), softmax (last axis for
vectors, channel axis for images, as Keras's channels-last softmax), linear (identity).
"""

from __future__ import annotations

import torch

from convolab.layers.activation_functions import ACTIVATIONS, LEAKY_SLOPE, get, normalize
from convolab.layers.base import AxisMap, Layer, Shape, register

__all__ = ["ACTIVATIONS", "LEAKY_SLOPE", "Activation", "get", "normalize"]


@register
class Activation(Layer):
    """An activation as a layer (Keras ``layers.Activation``).

    ``call`` is the identity and the activation is applied by ``forward``, so a model asked for logits
    (``forward(x, logits=True)``) skips a final ``Activation("sigmoid")`` exactly like a ``sigmoid``
    argument on the last layer.

    Args:
        activation: one of ``ACTIVATIONS`` (relu, sigmoid, tanh, leaky_relu, softmax, linear).
        name: layer name.

    Input shape: any. Output shape: the same.

    Example:
        >>> Activation("relu")(torch.tensor([[-1.0, 2.0]]))
        tensor([[0., 2.]])
    """

    def __init__(self, activation: str, *, name: str | None = None) -> None:
        if activation is None:
            raise ValueError(f"Activation: activation must be one of {', '.join(ACTIVATIONS)}, got None")
        super().__init__(name=name, activation=activation)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(int(v) for v in input_shape)

    def axis_maps(self, input_shape: Shape) -> tuple[AxisMap, AxisMap]:
        h, w = _spatial_lengths(input_shape)
        return AxisMap("identity", h), AxisMap("identity", w)

    def get_config(self) -> dict:
        return {"activation": self.activation, **self.base_config()}

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _spatial_lengths(input_shape: Shape) -> tuple[int, int]:
    """(H, W) of an image input ``(C, H, W)``; ``(1, 1)`` for non-image inputs (no spatial axes)."""
    if len(input_shape) == 3:
        return int(input_shape[1]), int(input_shape[2])
    return 1, 1
