"""Layers with Keras semantics on PyTorch (NCHW inside); one family per module."""

from convolab.layers import padding
from convolab.layers.activations import ACTIVATIONS, Activation
from convolab.layers.base import LAYER_REGISTRY, AxisMap, Layer, get_layer_class, register
from convolab.layers.conv import Conv2D
from convolab.layers.conv_transpose import Conv2DTranspose
from convolab.layers.dense import Dense, Flatten, Reshape
from convolab.layers.pooling import AvgPool2D, MaxPool2D
from convolab.layers.upsampling import BedOfNails2D, MaxUnpool2D, PoolLink, UpSampling2D, max_unpool2d

# Keras's spellings of the pooling layers
MaxPooling2D = MaxPool2D
AveragePooling2D = AvgPool2D

__all__ = [
    "ACTIVATIONS",
    "LAYER_REGISTRY",
    "Activation",
    "AveragePooling2D",
    "AvgPool2D",
    "AxisMap",
    "BedOfNails2D",
    "Conv2D",
    "Conv2DTranspose",
    "Dense",
    "Flatten",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "MaxUnpool2D",
    "PoolLink",
    "Reshape",
    "UpSampling2D",
    "get_layer_class",
    "max_unpool2d",
    "padding",
    "register",
]
