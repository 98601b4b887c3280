"""The model of a run: built seeded for its data, described in its records, rebuilt from a checkpoint.

``build_seeded_model`` is ``convolab.build_model`` (``model.sequential.build_model``) with the weights
initialised from the run's seed and, given the data's image shape, the autoencoder's shapes checked
against it; ``ready_model`` adds the device and BCE's sigmoid check: a model that does not fit the run
fails there, before ``convolab.train.session`` writes anything. ``checkpoint_model`` rebuilds a
checkpoint's model from its spec and loads its weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from convolab.model.sequential import build_model
from convolab.train.checkpoint import check_weights
from convolab.train.config import ConfigError, TrainConfig

if TYPE_CHECKING:
    from convolab.model.sequential import Sequential
    from convolab.train.checkpoint import Checkpoint
    from convolab.train.sources import BatchSource

__all__ = ["build_seeded_model", "check_sigmoid_output", "checkpoint_model", "model_info", "ready_model"]


def build_seeded_model(
    source: Any, seed: int, data_shape: tuple[int, ...] | None = None, *, label: str | None = None
) -> Sequential:
    """Build a model from a zoo name, spec path or spec dict, with weights initialised from ``seed``;
    with ``data_shape``, its input and output must be the data's images (an autoencoder's target).
    ``label``: how messages name the model (default: ``source`` when a string, else the spec's name)."""
    torch.manual_seed(seed)
    model = build_model(source)
    if data_shape is not None:
        if label is None:
            label = source if isinstance(source, str) else model.to_spec().name
        _check_shapes(model, label, tuple(data_shape))
    return model


def ready_model(
    spec: Any, config: TrainConfig, source: BatchSource, device: torch.device, *, label: str | None = None
) -> Sequential:
    """The model of a run before its folder exists: built from ``spec`` (parsed once for the run) with
    ``config.seed``, its shapes checked against ``source``'s images (``label``: as
    :func:`build_seeded_model`), on ``device``, and with BCE its output checked to be a sigmoid."""
    from convolab.engine.allocator import configure_allocator
    from convolab.engine.device import prepare

    model = build_seeded_model(spec, config.seed, source.shape, label=label)
    configure_allocator(device)  # glibc heap tuning, for training on CPU only (docs/speed.md)
    prepare(model, device)
    if config.loss == "bce":
        check_sigmoid_output(model, source.sample())
    return model


@torch.no_grad()
def check_sigmoid_output(model: Sequential, x: torch.Tensor) -> None:
    """BCE is computed from the logits, so the model's output must be sigmoid(logits): check it once."""
    from convolab.engine.predict import forward_fn

    forward = forward_fn(model)  # the path TrainStep takes (fused plan when there is one)
    out, logits = model(x), forward(x, logits=True)
    if not torch.allclose(torch.sigmoid(logits), out, atol=1e-5):
        last = model.layers[-1]
        raise ConfigError(
            "loss",
            "{field} bce needs a model whose output is a sigmoid (BCE is computed from the logits "
            f"before it), but model {{model}} ends with {type(last).__name__}(activation="
            "{activation}); give its last layer activation: sigmoid, or use {field} mse",
            model=model.name,
            activation=last.activation,
        )


def _check_shapes(model: Sequential, name: str | None, data_shape: tuple[int, ...]) -> None:
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

    info = analyze(model)  # the built model's own layers: its spec is not parsed again
    return {"model": model.to_spec().name, "params": int(info.total_params), "macs": int(info.total_macs)}


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
