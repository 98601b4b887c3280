"""Layers with Keras semantics on PyTorch (NCHW inside); one family per module."""

from convolab.layers import padding
from convolab.layers.base import LAYER_REGISTRY, AxisMap, Layer, get_layer_class, register

__all__ = ["LAYER_REGISTRY", "AxisMap", "Layer", "get_layer_class", "padding", "register"]
