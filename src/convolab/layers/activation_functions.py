"""The activation functions by name (Keras's names), with no layer machinery: ``base.py`` uses them.

relu, sigmoid, tanh, leaky_relu (Keras 3 default slope 0.2), softmax (last axis for vectors, channel
axis for images, as Keras's channels-last softmax), linear (identity). The ``Activation`` layer is in
``activations.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# Keras 3 ``keras.activations.leaky_relu`` uses negative_slope=0.2 (PyTorch's default is 0.01).
LEAKY_SLOPE = 0.2


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _softmax(x: torch.Tensor) -> torch.Tensor:
    # Keras applies softmax on the last (channels-last) axis; in NCHW that is the channel axis.
    return F.softmax(x, dim=1 if x.dim() == 4 else -1)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": _identity,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),
    "softmax": _softmax,
}


def normalize(layer: str, name: str | None) -> str | None:
    """Validate an activation name; ``None`` and ``"linear"`` both mean no activation (kept as given)."""
    if name is None:
        return None
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"{layer}: activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")
    return name


def get(name: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    return ACTIVATIONS[name or "linear"]
