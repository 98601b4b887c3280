"""The model of a run: built seeded for its data, described in its records, rebuilt from a checkpoint.

``build_seeded_model`` is ``convolab.build_model`` (``model.sequential.build_model``) with the weights
initialised from the run's seed and, given the data's image shape, the autoencoder's shapes checked
against it. ``checkpoint_model`` rebuilds a checkpoint's model from its spec and loads its weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from convolab.model.sequential import build_model
from convolab.train.checkpoint import check_weights

if TYPE_CHECKING:
    from convolab.model.sequential import Sequential
    from convolab.train.checkpoint import Checkpoint

__all__ = ["build_seeded_model", "checkpoint_model", "model_info"]


def build_seeded_model(source: Any, seed: int, data_shape: tuple[int, ...] | None = None) -> Sequential:
    """Build a model from a zoo name, spec path or spec dict, with weights initialised from ``seed``;
    with ``data_shape``, its input and output must be the data's images (an autoencoder's target)."""
    torch.manual_seed(seed)
    model = build_model(source)
    if data_shape is not None:
        _check_shapes(model, source, tuple(data_shape))
    return model


def _check_shapes(model: Sequential, source: Any, data_shape: tuple[int, ...]) -> None:
    name = source if isinstance(source, str) else model.to_spec().name
    if tuple(model.input_shape) != data_shape:
        raise ValueError(
            f"model {name!r} takes inputs of shape "
            f"{tuple(model.input_shape)} but the dataset's images are {data_shape}"
        )
    if tuple(model.output_shape) != data_shape:
        raise ValueError(  # an autoencoder's target is its input: checked before any folder or step
            f"model {name!r} outputs shape "
            f"{tuple(model.output_shape)} but trains to reconstruct the dataset's images "
            f"{data_shape}; its last layer must give the images' channels and size"
        )


def model_info(model: Sequential) -> dict[str, Any]:
    """Name, parameter count and MACs per image (from the static analysis) of a model."""
    from convolab.analysis.summary import analyze

    spec = model.to_spec()
    info = analyze(spec.to_dict())
    return {"model": spec.name, "params": int(info.total_params), "macs": int(info.total_macs)}


def checkpoint_model(ckpt: Checkpoint) -> Sequential:
    """The model of ``ckpt``: built from its spec, its weights checked (``check_weights``) and loaded;
    on the CPU, in training mode."""
    try:
        model = build_model(ckpt.spec)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"checkpoint {ckpt.path} holds an invalid model spec: {exc}") from None
    check_weights(model, ckpt.weights, ckpt.path)
    model.load_state_dict(ckpt.weights)
    return model
