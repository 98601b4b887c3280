"""Keras's default initialisers, on torch's global RNG (``torch.manual_seed`` makes them reproducible).

Keras 3 ``GlorotUniform``: ``U(-limit, limit)`` with ``limit = sqrt(6 / (fan_in + fan_out))``, where for
a conv kernel ``fan_in = in_channels * kh * kw`` and ``fan_out = filters * kh * kw``
(``keras.src.initializers.random_initializers.compute_fans``). Biases start at zero.
PyTorch's own default (Kaiming uniform with a = sqrt(5)) differs, hence these helpers.
"""

from __future__ import annotations

import math

import torch


def glorot_uniform_(tensor: torch.Tensor, fan_in: int, fan_out: int) -> torch.Tensor:
    """Fill ``tensor`` in place from Keras's glorot_uniform for the given fans; returns it."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.uniform_(-limit, limit)
