"""convolab: Keras-exact layers on PyTorch, static analysis, classic filters and autoencoders."""

from convolab.layers.base import LAYER_REGISTRY, AxisMap, Layer, get_layer_class

__all__ = ["LAYER_REGISTRY", "AxisMap", "Layer", "get_layer_class"]
__version__ = "0.1.0"
