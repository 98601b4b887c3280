"""Import a Keras model file as a convolab model and write it as a convolab run.

``import_keras(path)`` reads the file (``reader``), flattens the model (``structure``), maps every layer
(``mapping``), builds the convolab ``Sequential`` and loads the converted weights. With ``spec=`` the
architecture comes from a convolab spec instead (needed for weights-only ``.weights.h5`` files); the
file's arrays are then matched to the spec's Dense / Conv2D / Conv2DTranspose layers in order, per class,
exactly as Keras named them in its weight store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convolab.keras_io.mapping import Mapper, keras_to_convolab_shape
from convolab.keras_io.reader import KerasFile, KerasFileError, read_keras_file
from convolab.keras_io.structure import KerasLayer, flatten_model, snake_case

#: convolab layer type -> the Keras class it corresponds to (for --spec)
KERAS_CLASS = {
    "Dense": "Dense",
    "Conv2D": "Conv2D",
    "Conv2DTranspose": "Conv2DTranspose",
    "MaxPool2D": "MaxPooling2D",
    "AvgPool2D": "AveragePooling2D",
    "UpSampling2D": "UpSampling2D",
    "Flatten": "Flatten",
    "Reshape": "Reshape",
    "Activation": "Activation",
}
WEIGHTED = ("Dense", "Conv2D", "Conv2DTranspose")


@dataclass
class ImportedModel:
    """A Keras model brought into convolab.

    Attributes:
        model: the convolab ``Sequential``, weights loaded, in eval mode.
        spec: its spec as a plain dict (what a run stores).
        source: the Keras file.
        kind: ``keras``, ``h5`` or ``weights``.
        keras_version: as recorded in the file.
        notes: things the user should know (layers left out, ...).
    """

    model: Any
    spec: dict[str, Any]
    source: Path
    kind: str
    keras_version: str | None
    notes: list[str] = field(default_factory=list)


def import_keras(path: str | Path, spec: Any = None, *, name: str | None = None) -> ImportedModel:
    """Read a Keras ``.keras`` / ``.h5`` / ``.weights.h5`` file into a convolab model.

    Args:
        path: the Keras file.
        spec: optional convolab spec (path, zoo name, dict) giving the architecture; required for a
            weights-only file.
        name: the model's name (default: the Keras model's name, or the file's stem).

    Raises:
        KerasFileError (a ValueError): unreadable, hostile or unsupported files, with every unsupported
            layer listed in one message.

    Example:
        >>> imported = import_keras("autoencoder.keras")  # doctest: +SKIP
        >>> imported.model(torch.rand(1, 1, 28, 28)).shape  # doctest: +SKIP
        torch.Size([1, 1, 28, 28])
    """
    from convolab.model.sequential import Sequential

    kf = read_keras_file(path)
    if spec is not None:
        keras_input, layers, latent, model_name = _from_spec(kf, spec)
    else:
        km = flatten_model(kf)
        if km.input_shape is None:
            raise KerasFileError(f"{kf.path}: the model config records no input shape; pass --spec")
        keras_input, layers, latent = km.input_shape, km.layers, km.latent
        model_name = kf.config["config"].get("name") if kf.config else None
    try:
        mapped = Mapper(keras_input).run(layers)
    except KerasFileError as exc:
        raise KerasFileError(f"{kf.path}: {exc}") from None
    spec_dict = {
        "name": name or (model_name if isinstance(model_name, str) else None) or Path(path).stem,
        "input_shape": list(mapped.input_shape),
        "latent": latent if latent in {entry["name"] for entry in mapped.layers} else None,
        "layers": mapped.layers,
    }
    model = Sequential.from_spec(spec_dict)
    _load_weights(model, mapped.weights, kf.path)
    model.eval()
    return ImportedModel(model, model.to_spec().to_dict(), kf.path, kf.kind, kf.keras_version, mapped.notes)


def _load_weights(model: Any, weights: dict[str, dict[str, torch.Tensor]], source: Path) -> None:
    with torch.no_grad():
        for layer in model:
            params = dict(layer.named_parameters(recurse=False))
            given = weights.get(layer.name, {})
            if set(params) != set(given):
                raise KerasFileError(
                    f"{source}: layer {layer.name!r} has parameters {sorted(params)}, "
                    f"the file gave {sorted(given)}"
                )
            for pname, tensor in given.items():
                if tuple(params[pname].shape) != tuple(tensor.shape):
                    raise KerasFileError(
                        f"{source}: {layer.name}.{pname} has shape {tuple(params[pname].shape)}, "
                        f"converted Keras weight has {tuple(tensor.shape)}"
                    )
                params[pname].copy_(tensor)


# --------------------------------------------------------------------------------------------------
# --spec: the architecture from a convolab spec, the arrays from the file by class order.


def _from_spec(kf: KerasFile, source: Any) -> tuple[tuple[int, ...], list[KerasLayer], Any, Any]:
    from convolab.model.spec import load_spec

    spec = load_spec(source)
    layers: list[KerasLayer] = []
    wanted = [e for e in spec.layers if e["type"] in WEIGHTED]
    arrays = _weights_in_order(kf, [KERAS_CLASS[e["type"]] for e in wanted])
    it = iter(arrays)
    for entry in spec.layers:
        cls = KERAS_CLASS.get(entry["type"])
        if cls is None:
            raise KerasFileError(
                f"--spec: layer {entry['name']!r} of type {entry['type']} has no Keras equivalent"
            )
        cfg = {k: v for k, v in entry.items() if k not in ("type", "name")}
        if entry["type"] == "Reshape":  # convolab (C, H, W) -> Keras (H, W, C)
            t = list(cfg["target_shape"])
            cfg["target_shape"] = [*t[1:], t[0]] if len(t) == 3 else t
        layers.append(KerasLayer(cls, entry["name"], cfg, next(it) if entry["type"] in WEIGHTED else []))
    shape = tuple(spec.input_shape)
    keras_input = (*shape[1:], shape[0]) if len(shape) == 3 else shape
    if keras_to_convolab_shape(keras_input) != shape:  # pragma: no cover - arithmetic guard
        raise KerasFileError(f"--spec: cannot express input shape {shape} in Keras layout")
    return keras_input, layers, spec.latent, spec.name


def _weights_in_order(kf: KerasFile, classes: list[str]) -> list[list[np.ndarray]]:
    """The file's weight groups for the given Keras classes, in model order."""
    if kf.legacy_weight_names is not None:  # legacy: the saved layer order, layers with weights only
        groups = _legacy_groups(kf)
        if len(groups) != len(classes):
            raise KerasFileError(
                f"{kf.path}: the file has {len(groups)} layers with weights, the spec {len(classes)}"
            )
        return groups
    by_base: dict[str, list[str]] = {}
    for key in sorted({k.rsplit("/vars/", 1)[0] for k in kf.arrays if "/vars/" in k}, key=_natural):
        leaf = key.rsplit("/", 1)[-1]
        by_base.setdefault(re.sub(r"_\d+$", "", leaf), []).append(key)
    out, used = [], dict.fromkeys(by_base, 0)
    for cls in classes:
        base = snake_case(cls)
        keys = by_base.get(base, [])
        if used.get(base, 0) >= len(keys):
            raise KerasFileError(
                f"{kf.path}: the spec has more {cls} layers than the file ({len(keys)} {base} weight groups)"
            )
        key = keys[used[base]]
        used[base] += 1
        i, arrays = 0, []
        while f"{key}/vars/{i}" in kf.arrays:
            arrays.append(kf.arrays[f"{key}/vars/{i}"])
            i += 1
        out.append(arrays)
    extra = {b: len(k) - used.get(b, 0) for b, k in by_base.items() if len(k) > used.get(b, 0)}
    if extra and any(b in {snake_case(c) for c in KERAS_CLASS.values()} for b in extra):
        raise KerasFileError(f"{kf.path}: the file has weights the spec does not use: {extra}")
    return out


def _legacy_groups(kf: KerasFile) -> list[list[np.ndarray]]:
    groups = []
    for paths in (kf.legacy_weight_names or {}).values():
        if paths:
            groups.append([kf.arrays[p] for p in paths if p in kf.arrays])
    return groups


def _natural(key: str) -> list[Any]:
    """Sort ``conv2d_2`` before ``conv2d_10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


# --------------------------------------------------------------------------------------------------
# Writing a convolab run (the format of convolab.train.checkpoint), so evaluate/reconstruct/summary accept it.


def write_run(imported: ImportedModel, out: str | Path, *, dataset: str = "mnist") -> Path:
    """Write ``imported`` as a convolab run folder ``out`` with identical ``last/`` and ``best/`` checkpoints.

    Args:
        imported: from :func:`import_keras`.
        out: the run folder: new, empty, or an earlier import (replaced atomically); anything else is
            refused with a ``ValueError`` (``convolab.keras_io.targets``).
        dataset: the dataset ``convolab evaluate`` uses by default for this run.
    """
    from convolab.data.registry import get_spec
    from convolab.keras_io.targets import check_import_target
    from convolab.train.checkpoint import save_checkpoint
    from convolab.train.config import TrainConfig

    if not str(dataset).startswith("folder:"):
        get_spec(dataset)  # an unknown name: one ValueError line with the nearest names, nothing written
    out = check_import_target(out)  # never over a trained run or into a foreign folder
    config = TrainConfig(
        model=imported.spec.get("name") or "imported",
        dataset=dataset,
        out=str(out),
        extra={
            "imported_from": str(imported.source),
            "keras_format": imported.kind,
            "keras_version": imported.keras_version,
            "notes": imported.notes,
        },
    ).validate()
    state = {
        "spec": imported.spec,
        "config": config.to_dict(),
        "epoch": 0,
        "step": 0,
        "global_step": 0,
        "history": [],
    }
    weights = imported.model.state_dict()
    for which in ("last", "best"):
        save_checkpoint(out / which, weights=weights, state=state)
    return out
