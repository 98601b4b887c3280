"""Walk a Keras model config into a flat chain of layers, each with its weight arrays.

Sequential models, functional models that are a single chain, and models nested in either (an
``encoder`` and a ``decoder`` inside an ``autoencoder``) are flattened into one list of leaf layers in
call order. Branching functional graphs are refused: a convolab model is a sequence.

Weights are found where Keras put them (see ``reader``): in the Keras 3 store by the snake-cased class
name made unique per container (``layers/sequential/layers/conv2d_1/vars/0``), in legacy ``.h5`` by the
layer's own name (``.../conv2d/kernel``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convolab.keras_io.reader import KerasFile, KerasFileError

MODEL_CLASSES = ("Sequential", "Functional", "Model")
#: deepest nesting of models inside models that is followed
MAX_DEPTH = 32
MAX_LAYERS = 10_000


@dataclass
class KerasLayer:
    """One leaf layer of a Keras model: its class, its name, its config and its arrays (Keras order)."""

    class_name: str
    name: str
    config: dict[str, Any]
    weights: list[np.ndarray] = field(default_factory=list)


def snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: ``Conv2DTranspose`` -> ``conv2d_transpose``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def store_names(class_names: list[str]) -> list[str]:
    """Names the Keras 3 weight store gives a container's layers: ``dense``, ``dense_1``, ..."""
    used: dict[str, int] = {}
    out = []
    for cls in class_names:
        base = snake_case(cls)
        if base in used:
            used[base] += 1
            out.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            out.append(base)
    return out


@dataclass
class KerasModel:
    """A Keras model flattened to a chain.

    Attributes:
        input_shape: Keras input shape (channels-last, no batch axis), None when the file lacks it.
        layers: leaf layers in call order.
        latent: for an autoencoder saved as two nested models (encoder, decoder), the encoder's last layer.
    """

    input_shape: tuple[int, ...] | None
    layers: list[KerasLayer]
    latent: str | None = None


def flatten_model(kf: KerasFile) -> KerasModel:
    """The chain of leaf layers of ``kf``'s model (see the module docstring)."""
    if kf.config is None:
        raise KerasFileError(f"{kf.path}: a weights-only file has no architecture; pass --spec SPEC.yaml")
    walker = _Walker(kf)
    layers = walker.model(kf.config, "", 0)
    return KerasModel(walker.input_shape, layers, walker.latent)


class _Walker:
    def __init__(self, kf: KerasFile) -> None:
        self.kf = kf
        self.input_shape: tuple[int, ...] | None = None
        self.legacy = _legacy_index(kf) if kf.legacy_weight_names is not None else None
        self.count = 0
        self.latent: str | None = None

    def fail(self, msg: str) -> KerasFileError:
        return KerasFileError(f"{self.kf.path}: {msg}")

    def model(self, node: dict[str, Any], prefix: str, depth: int) -> list[KerasLayer]:
        if depth > MAX_DEPTH:
            raise self.fail(f"models nested more than {MAX_DEPTH} deep")
        cls, cfg = node.get("class_name"), node.get("config")
        if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
            raise self.fail(f"model {cls!r} has no list of layers in its config")
        entries = cfg["layers"]
        if not all(isinstance(e, dict) and isinstance(e.get("class_name"), str) for e in entries):
            raise self.fail(f"model {cfg.get('name')!r}: every layer needs a 'class_name'")
        if cls != "Sequential":
            _check_chain(self, cfg)
        self._take_input_shape(node, entries)
        # a Sequential's weight store skips its InputLayer; a functional model's does not
        stored = [e for e in entries if cls != "Sequential" or e["class_name"] != "InputLayer"]
        snames = store_names([e["class_name"] for e in stored])
        names = dict(zip((id(e) for e in stored), snames, strict=True))
        out: list[KerasLayer] = []
        inner = [e for e in entries if e["class_name"] != "InputLayer"]
        for entry in entries:
            path = f"{prefix}layers/{names[id(entry)]}" if id(entry) in names else ""
            if entry["class_name"] in MODEL_CLASSES:
                out.extend(self.model(entry, path + "/", depth + 1))
                if depth == 0 and len(inner) == 2 and entry is inner[0] and out:
                    self.latent = out[-1].name  # Sequential([encoder, decoder])
            elif entry["class_name"] != "InputLayer":
                out.append(self.leaf(entry, path))
        return out

    def leaf(self, entry: dict[str, Any], path: str) -> KerasLayer:
        self.count += 1
        if self.count > MAX_LAYERS:
            raise self.fail(f"more than {MAX_LAYERS} layers")
        cfg = entry.get("config")
        if not isinstance(cfg, dict):
            raise self.fail(f"layer {entry['class_name']!r} has no config object")
        raw_name = cfg.get("name")
        name = raw_name if isinstance(raw_name, str) else path.rsplit("/", 1)[-1]
        if self.legacy is not None:
            weights = self.legacy.get(name, [])
        else:
            weights = _store_vars(self.kf.arrays, path)
        return KerasLayer(entry["class_name"], name, cfg, weights)

    def _take_input_shape(self, node: dict[str, Any], entries: list[dict[str, Any]]) -> None:
        if self.input_shape is not None:
            return
        candidates: list[Any] = []
        for entry in entries[:1]:
            raw = entry.get("config")
            c: dict[str, Any] = raw if isinstance(raw, dict) else {}
            candidates += [c.get("batch_shape"), c.get("batch_input_shape")]
        build = node.get("build_config")
        if isinstance(build, dict):
            candidates.append(build.get("input_shape"))
        candidates.append(node["config"].get("build_input_shape"))
        for shape in candidates:
            if isinstance(shape, list) and len(shape) >= 2 and all(isinstance(v, int) for v in shape[1:]):
                self.input_shape = tuple(shape[1:])
                return


def _store_vars(arrays: dict[str, np.ndarray], path: str) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    while f"{path}/vars/{len(out)}" in arrays:
        out.append(arrays[f"{path}/vars/{len(out)}"])
    return out


def _legacy_index(kf: KerasFile) -> dict[str, list[np.ndarray]]:
    """Legacy ``.h5``: leaf layer name (the path component before the variable) -> arrays, in order."""
    index: dict[str, list[np.ndarray]] = {}
    for paths in (kf.legacy_weight_names or {}).values():
        for p in paths:
            parts = p.split("/")
            if p not in kf.arrays or len(parts) < 2:
                raise KerasFileError(f"{kf.path}: weight_names lists {p!r}, which the file does not hold")
            index.setdefault(parts[-2], []).append(kf.arrays[p])
    return index


def _inbound_names(entry: dict[str, Any]) -> list[str]:
    """Names of the layers feeding ``entry`` (Keras 3 ``keras_history`` or Keras 2 nested lists)."""
    found: list[str] = []

    def visit(obj: Any, depth: int) -> None:
        if depth > 64:
            return
        if isinstance(obj, dict):
            hist = obj.get("keras_history") if isinstance(obj.get("keras_history"), list) else None
            if hist and isinstance(hist[0], str):
                found.append(hist[0])
            for k, v in obj.items():
                if k != "keras_history":
                    visit(v, depth + 1)
        elif isinstance(obj, list):
            if len(obj) >= 3 and isinstance(obj[0], str) and isinstance(obj[1], int):  # Keras 2 node
                found.append(obj[0])
            else:
                for v in obj:
                    visit(v, depth + 1)

    visit(entry.get("inbound_nodes", []), 0)
    return found


def _check_chain(walker: _Walker, cfg: dict[str, Any]) -> None:
    """A functional model convolab can run is a chain: each layer reads only the one before it."""
    prev: str | None = None
    for entry in cfg["layers"]:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        inbound = _inbound_names(entry)
        if prev is None:
            if inbound:
                raise walker.fail(f"functional model {cfg.get('name')!r} does not start with its Input")
        elif inbound != [prev]:
            raise walker.fail(
                f"functional model {cfg.get('name')!r} is not a chain: layer {name!r} reads {inbound} "
                f"instead of only {prev!r} (branches and merges are not supported)"
            )
        prev = name
