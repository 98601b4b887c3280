"""The designer's explanations and form: formulas per row, layer-argument controls, spec edits.

- ``POST /api/explain`` ``{"spec": text}``: for every layer, its arguments as written in the spec, and
  its output-size, parameter and MAC formulas with the numbers substituted (``formulas.layer_formulas``).
- ``GET /api/layer-args``: per layer type, its constructor arguments (from the signature) with the
  control that edits each (number, pair, choice, bool, text), its default, choices and bounds.
- ``POST /api/spec/edit`` ``{"spec": text, "layer": i, "key": k, "value": v}``: the spec text with that
  one argument set (``null`` removes it, i.e. back to the default), written in the zoo's YAML style.
  The edit goes through the same safe YAML loader as the designer; comments are not kept.
"""

from __future__ import annotations

import inspect
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convolab import limits
from convolab.lab.api_model import parse_spec_text
from convolab.lab.http import ApiError, get_int, read_json

#: how the form edits each known argument: (control, minimum, maximum)
CONTROLS: dict[str, tuple[str, int | None, int | None]] = {
    "filters": ("int", 1, limits.MAX_CHANNELS),
    "units": ("int", 1, limits.MAX_CHANNELS),
    "kernel_size": ("pair", 1, limits.MAX_KERNEL_SIDE),
    "pool_size": ("pair", 1, limits.MAX_KERNEL_SIDE),
    "strides": ("pair", 1, limits.MAX_FACTOR),
    "dilation_rate": ("pair", 1, limits.MAX_FACTOR),
    "size": ("pair", 1, limits.MAX_FACTOR),
    "output_padding": ("pair", 0, limits.MAX_FACTOR - 1),
    "padding": ("choice", None, None),
    "activation": ("choice", None, None),
    "interpolation": ("choice", None, None),
    "use_bias": ("bool", None, None),
    "trainable": ("bool", None, None),
    "pool": ("pool", None, None),
    "target_shape": ("list", None, None),
    "name": ("text", None, None),
}
SKIPPED = ("self", "kernel")  # a fixed kernel is a matrix: edited in the YAML text


def _choices(arg: str) -> list[Any] | None:
    from convolab.layers.activations import ACTIVATIONS
    from convolab.layers.padding import PADDINGS
    from convolab.layers.upsampling import INTERPOLATIONS

    table: dict[str, list[Any]] = {
        "padding": list(PADDINGS),
        "activation": [None, *ACTIVATIONS],
        "interpolation": list(INTERPOLATIONS),
    }
    return table.get(arg)


def layer_args() -> dict[str, list[dict[str, Any]]]:
    """Per layer type: ``[{"name", "control", "default", "required", "choices", "min", "max"}]``."""
    from convolab.layers.base import LAYER_REGISTRY

    out: dict[str, list[dict[str, Any]]] = {}
    for cls in sorted(set(LAYER_REGISTRY.values()), key=lambda c: c.__name__):
        fields = []
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name in SKIPPED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            control, lo, hi = CONTROLS.get(p.name, ("text", None, None))
            required = p.default is inspect.Parameter.empty
            default = None if required else p.default
            fields.append(
                {
                    "name": p.name,
                    "control": control,
                    "default": list(default) if isinstance(default, tuple) else default,
                    "required": required,
                    "choices": _choices(p.name),
                    "min": lo,
                    "max": hi,
                }
            )
        out[cls.__name__] = fields
    return out


def explain(doc: dict[str, Any], max_layers: int) -> dict[str, Any]:
    """Each layer's spec arguments and formulas (the designer's row explanations)."""
    from convolab.analysis.summary import analyze, build_layers
    from convolab.lab.formulas import layer_formulas
    from convolab.layers.upsampling import MaxUnpool2D, PoolLink
    from convolab.model.spec import load_spec

    layers = doc.get("layers")
    if isinstance(layers, list) and len(layers) > max_layers:
        raise ApiError(f"spec has {len(layers)} layers; the limit is {max_layers}", 413)
    spec = load_spec(doc)
    infos = analyze(spec).layers  # validates every shape with the library's own messages
    built = build_layers(spec.layers)
    by_name = {layer.name: (layer, info.input_shape) for layer, info in zip(built, infos, strict=True)}
    rows = []
    for raw, layer, info in zip(doc["layers"], built, infos, strict=True):
        link = PoolLink(*by_name[layer.pool]) if isinstance(layer, MaxUnpool2D) else None
        args = {k: v for k, v in raw.items() if k != "type"} if isinstance(raw, dict) else {}
        rows.append(
            {
                "name": info.name,
                "type": info.type,
                "args": args,
                "input_shape": list(info.input_shape),
                "output_shape": list(info.output_shape),
                "params": info.params,
                "macs": info.macs,
                "formulas": layer_formulas(layer, info.input_shape, link),
            }
        )
    return {"layers": rows}


def _check_value(value: Any, depth: int = 0) -> Any:
    """A spec argument value: a scalar or a (nested, short) list of scalars; never a mapping."""
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, str) and len(value) > 200:
            raise ApiError("value: strings are at most 200 characters")
        return value
    if isinstance(value, list) and depth < 2 and len(value) <= 8:
        return [_check_value(v, depth + 1) for v in value]
    raise ApiError(f"value must be a number, string, true/false, null or a short list, got {value!r}")


def edit_spec(doc: dict[str, Any], index: int, key: Any, value: Any) -> str:
    """The spec with ``layers[index][key] = value`` (``None`` removes the key), as YAML text."""
    layers = doc.get("layers")
    if not isinstance(layers, list) or not 0 <= index < len(layers) or not isinstance(layers[index], dict):
        raise ApiError(f"layer must be the index of a layer of the spec, got {index}")
    if not isinstance(key, str) or not key.isidentifier() or key == "type":
        raise ApiError(f"key must be a layer argument name, got {key!r}")
    value = _check_value(value)
    if value is None:
        layers[index].pop(key, None)
    else:
        layers[index][key] = value
    return dump_spec(doc)


class _FlowLayer(dict):
    """A layer mapping written on one line: ``- {type: Conv2D, kernel_size: [5, 3], ...}`` (zoo style)."""


class _SpecDumper(yaml.SafeDumper):
    pass


_SpecDumper.add_representer(
    _FlowLayer, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)
)


def dump_spec(doc: dict[str, Any]) -> str:
    """A spec mapping as YAML text, one line per layer (PyYAML alone would break layers with lists)."""
    layers = doc.get("layers")
    if isinstance(layers, list):
        doc = {**doc, "layers": [_FlowLayer(x) if isinstance(x, dict) else x for x in layers]}
    return yaml.dump(
        doc, Dumper=_SpecDumper, sort_keys=False, default_flow_style=None, width=100, allow_unicode=True
    )


async def explain_endpoint(request: Request) -> JSONResponse:
    lim = request.app.state.limits
    body = await read_json(request, lim)
    doc = parse_spec_text(body.get("spec"), lim.max_spec)
    return await request.app.state.pool.run("explain", doc=doc, max_layers=lim.max_layers)


async def layer_args_endpoint(request: Request) -> JSONResponse:
    return JSONResponse({"layers": layer_args()})


async def edit_endpoint(request: Request) -> JSONResponse:
    lim = request.app.state.limits
    body = await read_json(request, lim)
    doc = parse_spec_text(body.get("spec"), lim.max_spec)
    index = get_int(body, "layer", 0, 0, lim.max_layers - 1)
    return JSONResponse({"yaml": edit_spec(doc, index, body.get("key"), body.get("value"))})


def routes() -> list[Route]:
    return [
        Route("/api/explain", explain_endpoint, methods=["POST"]),
        Route("/api/layer-args", layer_args_endpoint),
        Route("/api/spec/edit", edit_endpoint, methods=["POST"]),
    ]
