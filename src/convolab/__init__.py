"""convolab: Keras-exact layers on PyTorch, static analysis, classic filters and autoencoders."""

from convolab.analysis import Analysis, LayerInfo, analyze, render_table
from convolab.checkpoint import load_checkpoint, save_checkpoint
from convolab.data import DatasetNotFoundError, ImageDataset, load_dataset, read_idx, train_val_split
from convolab.filters import KERNELS, filter2d, get_kernel, gradient_magnitude, load_image
from convolab.layers import (
    Activation,
    AveragePooling2D,
    AvgPool2D,
    BedOfNails2D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Flatten,
    MaxPool2D,
    MaxPooling2D,
    MaxUnpool2D,
    Reshape,
    UpSampling2D,
)
from convolab.layers.base import LAYER_REGISTRY, AxisMap, Layer, get_layer_class
from convolab.model import Sequential, build_model
from convolab.report import compare_runs, evaluate_run, make_figures
from convolab.runs import load_run
from convolab.spec import ModelSpec, dump_spec, dumps_spec, load_spec
from convolab.train import NonFiniteLossError, Trainer, TrainingInterrupted
from convolab.trainconfig import TrainConfig
from convolab.zoo import get_spec, list_models

__all__ = [
    "KERNELS",
    "filter2d",
    "get_kernel",
    "gradient_magnitude",
    "load_image",
    "Analysis",
    "LayerInfo",
    "analyze",
    "get_spec",
    "list_models",
    "render_table",
    "LAYER_REGISTRY",
    "DatasetNotFoundError",
    "ImageDataset",
    "load_dataset",
    "read_idx",
    "train_val_split",
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
    "ModelSpec",
    "Reshape",
    "Sequential",
    "UpSampling2D",
    "build_model",
    "dump_spec",
    "dumps_spec",
    "get_layer_class",
    "load_spec",
    "NonFiniteLossError",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "compare_runs",
    "evaluate_run",
    "load_checkpoint",
    "load_run",
    "make_figures",
    "save_checkpoint",
]
__version__ = "0.1.0"
