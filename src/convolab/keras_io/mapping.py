"""Map Keras layers (config + arrays) to convolab spec entries and PyTorch-layout weights.

Kernel layouts (docs/architecture.md, "Keras semantics to match"): Dense ``(in, units)`` ->
``(units, in)`` by a
transpose; Conv2D ``(kh, kw, cin, filters)`` -> ``(filters, cin, kh, kw)`` and Conv2DTranspose
``(kh, kw, filters, cin)`` -> ``(cin, filters, kh, kw)``, both by ``permute(3, 2, 0, 1)``, no flip.

Flatten order: Keras flattens ``(H, W, C)``, convolab ``(C, H, W)``. The mapper tracks, for a vector,
which Keras element each convolab element holds (``perm``: ``convolab[j] == keras[perm[j]]``). A Dense
reading a permuted vector gets its kernel rows gathered by ``perm``; a Keras ``Reshape((H, W, C))`` fed
by a Dense gets that Dense's outputs reordered so convolab's channels-first reshape sees Keras's image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from convolab.keras_io.reader import KerasFileError
from convolab.keras_io.structure import KerasLayer
from convolab.layers.activations import ACTIVATIONS

SUPPORTED = (
    "InputLayer Dense Conv2D Conv2DTranspose MaxPooling2D AveragePooling2D UpSampling2D Flatten Reshape "
    "Activation ReLU LeakyReLU Softmax Dropout"
).split()
#: layers that are the identity at inference time: imported as nothing
INFERENCE_NOOPS = (
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "ActivityRegularization",
)
_CODE_LAYERS = ("Lambda", "TFOpLambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer")


@dataclass
class Mapped:
    """The result of mapping: convolab layer entries, their weights, and notes for the user."""

    input_shape: tuple[int, ...]
    layers: list[dict[str, Any]] = field(default_factory=list)
    weights: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def keras_to_convolab_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Keras channels-last ``(H, W, C)`` -> ``(C, H, W)``; ``(H, W)`` -> ``(1, H, W)``; vectors stay."""
    if len(shape) == 3:
        h, w, c = shape
        return (c, h, w)
    if len(shape) == 2:  # a grey image without a channel axis flattens the same as (1, H, W)
        return (1, *shape)
    if len(shape) == 1:
        return tuple(shape)
    raise KerasFileError(f"Keras input shape {shape} is not an image (H, W, C) or a vector (features,)")


def flatten_perm(shape: tuple[int, ...]) -> np.ndarray | None:
    """``perm`` after flattening a convolab tensor of ``shape``: None when the orders agree."""
    if len(shape) != 3 or shape[0] == 1:
        return None
    c, h, w = shape
    # keras flat index of element (h, w, c), laid out at convolab position (c, h, w)
    keras_index = np.arange(c * h * w).reshape(h, w, c)  # (H, W, C)
    return keras_index.transpose(2, 0, 1).reshape(-1)  # (C*H*W,)


def activation_name(owner: str, value: Any) -> str | None:
    """A Keras activation (string or serialized function) as a convolab activation name."""
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        value = value["config"]  # Keras 3 may serialize a builtin as {"class_name": "function", ...}
    if value is None or value == "linear":
        return None
    if isinstance(value, str) and value in ACTIVATIONS:
        return value
    raise _Unsupported(f"{owner} (activation {value!r}; convolab has {', '.join(ACTIVATIONS)})")


class _Unsupported(Exception):
    """One unsupported feature; collected so the user sees every problem in one error."""


class Mapper:
    """Walk Keras leaf layers in order, producing convolab entries and weights (see module docstring)."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.out = Mapped(keras_to_convolab_shape(tuple(input_shape)))
        self.shape = self.out.input_shape
        self.perm: np.ndarray | None = None
        self.last_dense: str | None = None  # a Dense whose output reaches here through elementwise layers
        self.problems: list[str] = []
        self.names: set[str] = set()

    def run(self, layers: list[KerasLayer]) -> Mapped:
        for layer in layers:
            try:
                self.add(layer)
            except _Unsupported as exc:
                self.problems.append(str(exc))
                self.shape = ()  # later shapes are unknown; keep collecting class-level problems
        if self.problems:
            raise KerasFileError(
                "unsupported Keras layers: "
                + "; ".join(self.problems)
                + f". convolab imports {', '.join(SUPPORTED)}"
            )
        return self.out

    def add(self, layer: KerasLayer) -> None:
        cls, cfg = layer.class_name, layer.config
        label = f"{cls} {layer.name!r}"
        if cls in _CODE_LAYERS:
            raise _Unsupported(f"{label} (holds Python code; convolab never runs code from a file)")
        if cls in INFERENCE_NOOPS:
            self.out.notes.append(f"{label} is the identity at inference and was left out")
            return
        handler = _HANDLERS.get(cls)
        if handler is None:
            raise _Unsupported(label)
        fmt = cfg.get("data_format")
        if fmt not in (None, "channels_last"):
            raise _Unsupported(f"{label} (data_format {fmt!r}; only channels_last is supported)")
        dry = not self.shape and bool(self.problems)  # after an earlier problem: check the config only
        try:
            handler(self, layer, label, dry=dry)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, KerasFileError):
                raise
            raise _Unsupported(f"{label} (malformed config: {type(exc).__name__} {exc})") from None

    # -- helpers ---------------------------------------------------------------------------------
    def emit(self, layer: KerasLayer, type_: str, args: dict[str, Any], weights: dict | None = None) -> None:
        from convolab.layers.base import get_layer_class

        name, k = layer.name, 1
        while name in self.names:  # nested Keras models may reuse a name
            k += 1
            name = f"{layer.name}_{k}"
        self.names.add(name)
        entry = {"type": type_, "name": name, **args}
        try:
            new_shape = tuple(get_layer_class(type_)(**args).compute_output_shape(self.shape))
        except ValueError as exc:
            raise _Unsupported(f"{type_} {layer.name!r} ({exc})") from None
        self.out.layers.append(entry)
        if weights:
            self.out.weights[name] = weights
        self.shape = new_shape

    def weights(self, layer: KerasLayer, label: str, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        got = [tuple(w.shape) for w in layer.weights]
        if got != shapes:
            raise KerasFileError(f"{label}: the file holds weights of shapes {got}, expected {shapes}")
        return [np.asarray(w, dtype=np.float32) for w in layer.weights]


def _use_bias(cfg: dict[str, Any]) -> bool:
    return bool(cfg.get("use_bias", True))


def _dense(m: Mapper, layer: KerasLayer, label: str, dry: bool) -> None:
    cfg = layer.config
    args: dict[str, Any] = {
        "units": int(cfg["units"]),
        "activation": activation_name(label, cfg.get("activation")),
        "use_bias": _use_bias(cfg),
    }
    if dry:
        return
    if len(m.shape) != 1:
        raise _Unsupported(
            f"{label} (applied to a {len(m.shape)}-D input {m.shape}: Keras's Dense acts on the channel "
            "axis there; add a Flatten before it)"
        )
    n_in = m.shape[0]
    units = args["units"]
    arrays = m.weights(layer, label, [(n_in, units)] + ([(units,)] if args["use_bias"] else []))
    kernel = arrays[0] if m.perm is None else arrays[0][m.perm]  # rows in convolab's input order
    w = {"weight": torch.from_numpy(np.ascontiguousarray(kernel.T))}  # (units, in)
    if args["use_bias"]:
        w["bias"] = torch.from_numpy(arrays[1])
    m.emit(layer, "Dense", args, w)
    m.perm, m.last_dense = None, m.out.layers[-1]["name"]


def _conv(m: Mapper, layer: KerasLayer, label: str, dry: bool, transpose: bool = False) -> None:
    cfg = layer.config
    if int(cfg.get("groups", 1)) != 1:
        raise _Unsupported(f"{label} (groups={cfg['groups']}; only groups=1 is supported)")
    args = {
        "filters": int(cfg["filters"]),
        "kernel_size": list(cfg["kernel_size"]),
        "strides": list(cfg.get("strides", (1, 1))),
        "padding": cfg.get("padding", "valid"),
        "dilation_rate": list(cfg.get("dilation_rate", (1, 1))),
        "use_bias": _use_bias(cfg),
        "activation": activation_name(label, cfg.get("activation")),
    }
    if transpose:
        args["output_padding"] = cfg.get("output_padding")
    if dry:
        return
    if len(m.shape) != 3:
        raise _Unsupported(f"{label} (needs an image input, got shape {m.shape})")
    kh, kw = args["kernel_size"]
    cin, f = m.shape[0], args["filters"]
    kshape = (kh, kw, f, cin) if transpose else (kh, kw, cin, f)
    arrays = m.weights(layer, label, [kshape] + ([(f,)] if args["use_bias"] else []))
    # (kh, kw, a, b) -> (b, a, kh, kw): Conv2d (out, in, kh, kw) / ConvTranspose2d (in, out, kh, kw)
    w = {"weight": torch.from_numpy(np.ascontiguousarray(arrays[0].transpose(3, 2, 0, 1)))}
    if args["use_bias"]:
        w["bias"] = torch.from_numpy(arrays[1])
    m.emit(layer, "Conv2DTranspose" if transpose else "Conv2D", args, w)
    m.perm, m.last_dense = None, None


def _conv_t(m: Mapper, layer: KerasLayer, label: str, dry: bool) -> None:
    _conv(m, layer, label, dry, transpose=True)


def _pool(m: Mapper, layer: KerasLayer, label: str, dry: bool) -> None:
    cfg = layer.config
    type_ = "MaxPool2D" if layer.class_name.startswith("Max") else "AvgPool2D"
    strides = cfg.get("strides")
    args = {
        "pool_size": list(cfg.get("pool_size", (2, 2))),
        "strides": list(strides) if strides else None,
        "padding": cfg.get("padding", "valid"),
    }
    if not dry:
        m.emit(layer, type_, args)
        m.perm, m.last_dense = None, None


def _upsampling(m: Mapper, layer: KerasLayer, label: str, dry: bool) -> None:
    cfg = layer.config
    interp = cfg.get("interpolation", "nearest")
    if interp not in ("nearest", "bilinear"):
        raise _Unsupported(f"{label} (interpolation {interp!r}; convolab has nearest, bilinear)")
    if not dry:
        m.emit(layer, "UpSampling2D", {"size": list(cfg.get("size", (2, 2))), "interpolation": interp})
        m.perm, m.last_dense = None, None


def _flatten(m: Mapper, layer: KerasLayer, label: str, dry: bool) -> None:
    if dry:
        return
    perm = flatten_perm(m.shape) if len(m.shape) == 3 else m.perm
    m.emit(layer, "Flatten", {})
    m.perm = perm


def _reshape(m: Mapper, layer: KerasLayer, label: str, dry: bool) -> None:
    target = [int(v) for v in layer.config["target_shape"]]
    if dry:
        return
    before = flatten_perm(m.shape) if len(m.shape) == 3 else m.perm  # as a Keras-ordered vector
    total = math.prod(m.shape)
    if -1 in target:
        known = math.prod(v for v in target if v != -1)
        target[target.index(-1)] = total // known if known else 0
    ours = list(keras_to_convolab_shape(tuple(target)))
    want = flatten_perm(tuple(ours)) if len(ours) == 3 else None  # the order convolab's reshape reads
    if not _same_perm(before, want):
        if m.last_dense is None or len(m.shape) != 1:
            raise _Unsupported(
                f"{label} (reorders a {m.shape} tensor channels-last; convolab can only absorb that "
                "into a Dense right before it)"
            )
        _reorder_dense_outputs(m, m.last_dense, want if want is not None else np.arange(total))
    m.emit(layer, "Reshape", {"target_shape": ours})
    m.perm = None if len(ours) == 3 else want
    m.last_dense = None


def _same_perm(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        other = b if a is None else a
        return other is None or bool(np.array_equal(other, np.arange(other.size)))
    return bool(np.array_equal(a, b))


def _reorder_dense_outputs(m: Mapper, name: str, order: np.ndarray) -> None:
    """Make the Dense ``name`` emit Keras element ``order[j]`` at position ``j``."""
    w = m.out.weights[name]
    idx = torch.from_numpy(np.asarray(order, dtype=np.int64))
    w["weight"] = w["weight"][idx].contiguous()
    if "bias" in w:
        w["bias"] = w["bias"][idx].contiguous()


def _activation_layer(m: Mapper, layer: KerasLayer, label: str, dry: bool) -> None:
    cfg, cls = layer.config, layer.class_name
    if cls == "Activation":
        act = activation_name(label, cfg.get("activation"))
    elif cls == "ReLU":
        if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
            raise _Unsupported(f"{label} (max_value/negative_slope/threshold; only the plain ReLU)")
        act = "relu"
    elif cls == "LeakyReLU":
        slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
        if not math.isclose(float(slope), 0.2, rel_tol=0, abs_tol=1e-12):
            raise _Unsupported(f"{label} (negative_slope {slope}; convolab's leaky_relu has 0.2)")
        act = "leaky_relu"
    else:  # Softmax
        if cfg.get("axis", -1) != -1:
            raise _Unsupported(f"{label} (axis {cfg.get('axis')}; only the last axis)")
        act = "softmax"
    if not dry:
        m.emit(layer, "Activation", {"activation": act or "linear"})  # keeps perm and last_dense


_HANDLERS = {
    "Dense": _dense,
    "Conv2D": _conv,
    "Convolution2D": _conv,
    "Conv2DTranspose": _conv_t,
    "Convolution2DTranspose": _conv_t,
    "MaxPooling2D": _pool,
    "MaxPool2D": _pool,
    "AveragePooling2D": _pool,
    "AvgPool2D": _pool,
    "UpSampling2D": _upsampling,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Activation": _activation_layer,
    "ReLU": _activation_layer,
    "LeakyReLU": _activation_layer,
    "Softmax": _activation_layer,
}
