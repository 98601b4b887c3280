"""Model specs: a Sequential model as plain data (Python dicts, YAML or JSON), validated with clear errors.

A spec is ``{"name": ..., "input_shape": [C, H, W], "latent": ..., "layers": [{"type": ..., "name": ...,
**args}, ...]}``. ``load_spec`` accepts a ``ModelSpec``, a dict, a path to a .yaml/.yml/.json file, a YAML
or JSON string, or a zoo name, and returns a *canonical* ``ModelSpec``: every layer has a unique name
(missing ones become ``<snake_case type>_<n>``, e.g. ``conv2d_1``), its type is the class name (aliases such
as ``MaxPooling2D`` resolve) and its arguments are exactly the layer's ``spec_config()`` (``get_config()``
less convolab's keyword-only extras at their default). So
``load_spec(x) == Sequential.from_spec(x).to_spec()``.

Every error is a ``ValueError`` that names the layer (0-based index and name), the field and the value,
e.g. ``layer 3 ('dec_conv1', Conv2D): kernel_size must be >= 1, got 0``.

Example:
    >>> spec = load_spec({"input_shape": [1, 28, 28], "layers": [{"type": "Conv2D", "filters": 4,
    ...     "kernel_size": 3}]})
    >>> spec.layers[0]["name"], spec.layers[0]["padding"]
    ('conv2d_1', 'valid')
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from convolab import limits
from convolab.layers import Layer, get_layer_class
from convolab.model.spec_text import check_depth, parse_text, read_spec_file, too_big_message
from convolab.model.walk import check_shape_limits, pair_pools

SPEC_KEYS = ("name", "input_shape", "latent", "layers")
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass
class ModelSpec:
    """A validated, canonical Sequential model description.

    Attributes:
        name: the model's name (None if unnamed).
        input_shape: one sample's shape without the batch axis: ``(C, H, W)`` or ``(features,)``.
        layers: one dict per layer, ``{"type": ..., "name": ..., **constructor args}``.
        latent: name of the layer whose output is the code (bottleneck), or None.
    """

    name: str | None = None
    input_shape: tuple[int, ...] = ()
    layers: list[dict[str, Any]] = field(default_factory=list)
    latent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able data (lists, not tuples); ``load_spec(spec.to_dict()) == spec``."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "latent": self.latent,
            "layers": [dict(layer) for layer in self.layers],
        }

    @property
    def layer_names(self) -> list[str]:
        return [layer["name"] for layer in self.layers]


# --------------------------------------------------------------------------------------------------
# Reading


def load_spec(source: Any) -> ModelSpec:
    """Read and validate a spec from any supported source; see the module docstring.

    Args:
        source: a ``ModelSpec``, a mapping, a ``Path`` or path string ending in .yaml/.yml/.json, a YAML or
            JSON document as a string, or the name of a model in ``convolab.model.zoo``.

    Raises:
        ValueError: malformed YAML/JSON (with the parser's line and column), unknown fields or layer types,
            bad argument values, duplicate names, a MaxUnpool2D whose pool is missing or comes later.
    """
    return spec_from_dict(_source_data(source))


def load_spec_and_layers(source: Any) -> tuple[ModelSpec, list[Layer]]:
    """``load_spec(source)`` and the fresh, unbuilt, named layers it was validated with (one pass)."""
    return _spec_and_layers(_source_data(source))


def _source_data(source: Any) -> Any:
    """The parsed, not yet validated, data of any source ``load_spec`` accepts."""
    if isinstance(source, ModelSpec):
        return source.to_dict()
    if isinstance(source, Mapping):
        return source
    if isinstance(source, os.PathLike):
        return read_spec_file(Path(source))
    if not isinstance(source, str):
        raise TypeError(
            f"a spec must be a ModelSpec, dict, path, YAML/JSON string or zoo name, got {_short(source)}"
        )
    if len(source) > limits.MAX_SPEC_BYTES:
        raise limits.LimitError(too_big_message("the spec string", len(source)))
    text = source.strip()
    if "\n" in text or text.startswith(("{", "[")):
        return parse_text(text, "<string>")
    if Path(text).suffix.lower() in SPEC_SUFFIXES or Path(text).is_file():
        return read_spec_file(Path(text))
    if ":" in text:  # a one-line YAML mapping
        return parse_text(text, "<string>")
    return _from_zoo(text)


def _from_zoo(name: str) -> Any:
    try:
        from convolab.model import zoo  # late: the zoo builds on this module
    except ImportError:  # pragma: no cover - the zoo ships with the package
        raise ValueError(f"unknown model {name!r}: not a spec file and no model zoo is available") from None
    return zoo.get_spec(name)


# --------------------------------------------------------------------------------------------------
# Validation


def spec_from_dict(data: Any) -> ModelSpec:
    """Validate spec data (already parsed) and return the canonical ``ModelSpec``."""
    return _spec_and_layers(data)[0]


def _spec_and_layers(data: Any) -> tuple[ModelSpec, list[Layer]]:
    if not isinstance(data, Mapping):
        raise ValueError(
            "a spec must be a mapping with 'input_shape' and 'layers', "
            f"got {type(data).__name__}: {_short(data)}"
        )
    check_depth(data)
    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise ValueError(f"unknown spec field {unknown[0]!r}{_hint(unknown[0], SPEC_KEYS)}")
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"spec name must be a string, got {name!r}")
    input_shape = check_input_shape(data.get("input_shape"))
    raw = data.get("layers")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise ValueError(f"spec 'layers' must be a non-empty list of layer mappings, got {_short(raw)}")
    layers = spec_layers(raw)
    latent = data.get("latent")
    names = [str(layer.name) for layer in layers]
    if latent is not None and latent not in names:
        raise ValueError(f"latent {latent!r} is not a layer name{_hint(str(latent), names)}")
    dicts = [layer_dict(layer) for layer in layers]
    return ModelSpec(name=name, input_shape=input_shape, layers=dicts, latent=latent), layers


def check_input_shape(shape: Any, what: str = "spec input_shape") -> tuple[int, ...]:
    """``shape`` as a tuple of positive ints within the limits; ``what`` names it in the error.

    ``(C, H, W)``: ``H, W <= limits.MAX_SIDE`` and ``C <= limits.MAX_CHANNELS``; any other shape has at
    most 8 axes of at most ``MAX_SIDE ** 2`` each.
    """
    ok = isinstance(shape, Sequence) and not isinstance(shape, str) and 1 <= len(shape) <= 8
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)
    if not ok:
        raise ValueError(f"{what} must be a non-empty list of positive ints (at most 8), got {_short(shape)}")
    out = tuple(int(v) for v in shape)
    if len(out) == 3:
        check_shape_limits(out, f"{what} {list(out)}")  # the walk's check, with this shape's name
    elif max(out) > limits.MAX_SIDE**2:
        raise limits.LimitError(
            f"{what} {list(out)} has an axis of {max(out)}, over the limit of {limits.MAX_SIDE**2} "
            "(limits.MAX_SIDE ** 2)"
        )
    return out


def _short(value: Any) -> str:
    """``repr`` cut at 80 characters, never expanding a huge or deep value (reprlib)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother, r.maxlist, r.maxdict = 3, 60, 60, 6, 4
    return r.repr(value)[:80]


def snake_case(type_name: str) -> str:
    """``Conv2DTranspose`` -> ``conv2d_transpose``, ``MaxPool2D`` -> ``max_pool2d`` (Keras's rule)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def canonical_layers(raw: Sequence[Any]) -> list[dict[str, Any]]:
    """Validate layer dicts, give every layer a unique name, return ``{"type", "name", **config}`` dicts."""
    return [layer_dict(layer) for layer in spec_layers(raw)]


def spec_layers(raw: Sequence[Any]) -> list[Layer]:
    """Validate layer dicts and build them: fresh, unbuilt, named layers (no parameters allocated).

    The same checks as ``canonical_layers`` (whose dicts are these layers' ``layer_dict``): types,
    fields, argument values and limits, unique names, and the unpool pairing (``walk.pair_pools``).
    """
    limits.check_count("the number of layers", len(raw), limits.MAX_LAYERS)
    classes = [get_layer_class_at(i, entry) for i, entry in enumerate(raw)]
    names = assign_names(_explicit_names(raw), classes)
    layers = [
        build_layer(cls, entry, name, f"layer {i} ({name!r}, {cls.__name__})")
        for i, (cls, entry, name) in enumerate(zip(classes, raw, names, strict=True))
    ]
    pair_pools(layers)
    return layers


def name_layers(layers: Sequence[Layer]) -> None:
    """Name the unnamed ones of already constructed ``layers`` in place (the spec's rule), check that
    names are valid and unique and that every unpool's pool exists; nothing is rebuilt."""
    limits.check_count("the number of layers", len(layers), limits.MAX_LAYERS)
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"layer {i}: a Sequential takes convolab layers, got {type(layer).__name__}")
    entries = [{"type": type(layer).__name__, "name": layer.name} for layer in layers]
    names = assign_names(_explicit_names(entries), [type(layer) for layer in layers])
    for layer, name in zip(layers, names, strict=True):
        layer.name = name
    pair_pools(layers)


def assign_names(explicit: Mapping[int, str], classes: Sequence[type[Layer]]) -> list[str]:
    """Every layer's name: the explicit one, else ``<snake_case type>_<n>`` skipping explicit names."""
    used = set(explicit.values())
    counters: dict[str, int] = {}
    seen: dict[str, int] = {}
    names = []
    for i, cls in enumerate(classes):
        name = explicit.get(i)
        if name is None:  # auto name: snake_case type + counter, skipping names given explicitly
            base = snake_case(cls.__name__)
            while True:
                counters[base] = counters.get(base, 0) + 1
                name = f"{base}_{counters[base]}"
                if name not in used:
                    break
            used.add(name)
        if name in seen:
            where = f"layer {i} ({name!r}, {cls.__name__})"
            raise ValueError(f"{where}: name {name!r} is already used by layer {seen[name]}")
        seen[name] = i
        names.append(name)
    return names


def layer_dict(layer: Layer) -> dict[str, Any]:
    """The canonical spec entry of a layer: ``{"type", "name", **spec_config()}``.

    ``spec_config`` is ``get_config`` less the keyword-only extras left at their default (Conv2D's
    ``kernel`` and ``trainable``; ``Layer.spec_config``), so spec files stay as short as they were.
    """
    cfg = layer.spec_config()
    return {
        "type": type(layer).__name__,
        "name": cfg["name"],
        **{k: v for k, v in cfg.items() if k != "name"},
    }


def get_layer_class_at(i: int, entry: Any) -> type[Layer]:
    if not isinstance(entry, Mapping):
        raise ValueError(f"layer {i}: must be a mapping with a 'type', got {_short(entry)}")
    where = f"layer {i} ({entry['name']!r})" if entry.get("name") is not None else f"layer {i}"
    if "type" not in entry:
        raise ValueError(f"{where}: missing field 'type'")
    if not isinstance(entry["type"], str):
        raise ValueError(f"{where}: type must be a string, got {entry['type']!r}")
    try:
        return get_layer_class(entry["type"])
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _explicit_names(raw: Sequence[Any]) -> dict[int, str]:
    names = {}
    for i, entry in enumerate(raw):
        if isinstance(entry, Mapping) and entry.get("name") is not None:
            name = entry["name"]
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise ValueError(
                    f"layer {i} ({name!r}, {entry.get('type')}): name must start with a letter or '_' and "
                    f"hold only letters, digits, '_' and '-', got {name!r}"
                )
            names[i] = name
    return names


def layer_fields(cls: type[Layer]) -> tuple[list[str], list[str]]:
    """``(all constructor fields, required ones)`` of a layer class, from its signature."""
    params = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return [p.name for p in params], [p.name for p in params if p.default is inspect.Parameter.empty]


def build_layer(cls: type[Layer], entry: Mapping[str, Any], name: str | None, where: str) -> Layer:
    """Construct ``cls`` from a spec entry; every problem becomes ``ValueError("{where}: ...")``."""
    fields, required = layer_fields(cls)
    args = {k: v for k, v in entry.items() if k not in ("type", "name")}
    for key in args:
        if key not in fields:
            raise ValueError(f"{where}: unknown field {key!r}{_hint(str(key), fields)}")
    missing = [f for f in required if f not in args and f != "name"]
    if missing:
        raise ValueError(f"{where}: missing required field {missing[0]!r}")
    try:
        return cls(**args, name=name)
    except (ValueError, TypeError, OverflowError) as exc:
        msg = str(exc)
        prefix = f"{cls.__name__} {name!r}: "
        kind = limits.LimitError if isinstance(exc, limits.LimitError) else ValueError
        raise kind(f"{where}: {msg[len(prefix) :] if msg.startswith(prefix) else msg}") from None


def _hint(value: str, choices: Sequence[str]) -> str:
    near = difflib.get_close_matches(value, list(choices), n=2, cutoff=0.6)
    if near:
        return f"; did you mean {', '.join(repr(n) for n in near)}?"
    return f"; expected one of {', '.join(repr(c) for c in choices)}" if choices else ""


# --------------------------------------------------------------------------------------------------
# Writing


def dumps_spec(spec: ModelSpec | Mapping[str, Any], fmt: str = "yaml") -> str:
    """The spec as YAML (``fmt='yaml'``) or JSON (``fmt='json'``) text."""
    data = spec.to_dict() if isinstance(spec, ModelSpec) else load_spec(spec).to_dict()
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "yaml":
        # flow style for lists of scalars ([3, 3]), block style for the layer mappings
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    raise ValueError(f"spec format must be 'yaml' or 'json', got {fmt!r}")


def dump_spec(spec: ModelSpec | Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write the spec to ``path``: JSON for a .json suffix, YAML for .yaml/.yml. Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SPEC_SUFFIXES:
        raise ValueError(f"spec file must end in .yaml, .yml or .json, got {str(path)!r}")
    path.write_text(dumps_spec(spec, "json" if suffix == ".json" else "yaml"), encoding="utf-8")
    return path
