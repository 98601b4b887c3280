"""convolab: Keras-exact layers on PyTorch, static analysis, classic filters and autoencoders.

Every public name below is importable from ``convolab`` (``from convolab import Conv2D``), but its
module is imported only on first use (PEP 562), so ``import convolab`` and ``convolab --version`` do
not pay for torch, numpy or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["Analysis", "LayerInfo", "analyze", "render_table"], "convolab.analysis.summary"),
    **dict.fromkeys(["load_checkpoint", "save_checkpoint"], "convolab.train.checkpoint"),
    **dict.fromkeys(
        ["DatasetNotFoundError", "ImageDataset", "load_dataset", "read_idx", "train_val_split"],
        "convolab.data",
    ),
    **dict.fromkeys(
        ["KERNELS", "filter2d", "get_kernel", "gradient_magnitude", "load_image"], "convolab.filters"
    ),
    **dict.fromkeys(
        [
            "Activation",
            "AveragePooling2D",
            "AvgPool2D",
            "BedOfNails2D",
            "Conv2D",
            "Conv2DTranspose",
            "Dense",
            "Flatten",
            "MaxPool2D",
            "MaxPooling2D",
            "MaxUnpool2D",
            "Reshape",
            "UpSampling2D",
        ],
        "convolab.layers",
    ),
    **dict.fromkeys(["LAYER_REGISTRY", "AxisMap", "Layer", "get_layer_class"], "convolab.layers.base"),
    **dict.fromkeys(["Sequential", "build_model"], "convolab.model.sequential"),
    **dict.fromkeys(["compare_runs", "evaluate_run", "make_figures"], "convolab.train.report"),
    **dict.fromkeys(["History", "Run", "load_run"], "convolab.train.run"),
    **dict.fromkeys(["fit", "resume"], "convolab.train.fit"),
    **dict.fromkeys(["evaluate", "predict"], "convolab.train.keras_api"),
    **dict.fromkeys(["ModelSpec", "dump_spec", "dumps_spec", "load_spec"], "convolab.model.spec"),
    **dict.fromkeys(["NonFiniteLossError", "Trainer", "TrainingInterrupted"], "convolab.train.loop"),
    "TrainConfig": "convolab.train.config",
    **dict.fromkeys(["get_spec", "list_models"], "convolab.model.zoo"),
    "set_threads": "convolab.threads",
}

__all__ = [
    "Activation",
    "Analysis",
    "AveragePooling2D",
    "AvgPool2D",
    "AxisMap",
    "BedOfNails2D",
    "Conv2D",
    "Conv2DTranspose",
    "DatasetNotFoundError",
    "Dense",
    "Flatten",
    "History",
    "ImageDataset",
    "KERNELS",
    "LAYER_REGISTRY",
    "Layer",
    "LayerInfo",
    "MaxPool2D",
    "MaxPooling2D",
    "MaxUnpool2D",
    "ModelSpec",
    "NonFiniteLossError",
    "Reshape",
    "Run",
    "Sequential",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "UpSampling2D",
    "analyze",
    "build_model",
    "compare_runs",
    "dump_spec",
    "dumps_spec",
    "evaluate",
    "evaluate_run",
    "filter2d",
    "fit",
    "get_kernel",
    "get_layer_class",
    "get_spec",
    "gradient_magnitude",
    "list_models",
    "load_checkpoint",
    "load_dataset",
    "load_image",
    "load_run",
    "load_spec",
    "make_figures",
    "predict",
    "read_idx",
    "render_table",
    "resume",
    "save_checkpoint",
    "set_threads",
    "train_val_split",
]


def __getattr__(name: str) -> Any:
    """Import the module of a public name on first use and cache the name in this module."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'convolab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static checkers and IDEs see the real names
    from convolab.analysis.summary import Analysis, LayerInfo, analyze, render_table
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
    from convolab.model.sequential import Sequential, build_model
    from convolab.model.spec import ModelSpec, dump_spec, dumps_spec, load_spec
    from convolab.model.zoo import get_spec, list_models
    from convolab.threads import set_threads
    from convolab.train import NonFiniteLossError, Trainer, TrainingInterrupted
    from convolab.train.checkpoint import load_checkpoint, save_checkpoint
    from convolab.train.config import TrainConfig
    from convolab.train.fit import fit, resume
    from convolab.train.keras_api import evaluate, predict
    from convolab.train.report import compare_runs, evaluate_run, make_figures
    from convolab.train.run import History, Run, load_run
