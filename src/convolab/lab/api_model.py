"""Model designer API: the zoo, and the analysis of a spec typed in the page.

``POST /api/analyze`` takes the spec *text* and parses it here with a safe YAML loader that also refuses
anchors and aliases (so a small text cannot expand into a huge document); the parsed mapping, never the
text, goes to the library, so a string that happens to look like a file path is never opened.

The answer carries the summary table (``Analysis.to_dict()``) and, for every layer with a spatial
output, the exact receptive field of every output row and column (``lo``/``hi`` per coordinate, from the
interval walk), so the page highlights the field of a hovered pixel without another request.
"""

from __future__ import annotations

from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from convolab.lab.http import ApiError, read_json
from convolab.limits import LAB_MAX_SIDE, MAX_FACTOR, MAX_KERNEL_SIDE, format_number

MAX_SIDE = LAB_MAX_SIDE  # largest input side the designer analyses (the field arrays grow with it)


class _SafeNoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases: a spec never needs them and they allow YAML bombs."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ApiError(f"spec: YAML aliases are not allowed (line {event.start_mark.line + 1})")
        return super().compose_node(parent, index)


def parse_spec_text(text: Any, max_chars: int) -> dict[str, Any]:
    """Spec text (YAML or JSON) -> mapping, with the size limit and a message that names the line."""
    if not isinstance(text, str) or not text.strip():
        raise ApiError("spec must be a non-empty YAML or JSON text")
    if len(text) > max_chars:
        raise ApiError(f"spec too large: {len(text)} characters, limit {max_chars}", 413)
    try:
        doc = yaml.load(text, Loader=_SafeNoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ApiError(f"spec is not valid YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise ApiError(f"spec must be a mapping with 'input_shape' and 'layers', got {type(doc).__name__}")
    return doc


def check_spec_size(doc: dict[str, Any], max_layers: int, max_side: int = MAX_SIDE) -> None:
    """Refuse a spec over the lab's layer count or input side before anything is built (413)."""
    layers = doc.get("layers")
    if isinstance(layers, list) and len(layers) > max_layers:
        raise ApiError(f"spec has {len(layers)} layers; the limit is {max_layers}", 413)
    shape = doc.get("input_shape")
    if isinstance(shape, list) and any(
        isinstance(v, int | float) and not isinstance(v, bool) and v > max_side for v in shape[1:]
    ):
        raise ApiError(f"input_shape {shape}: the lab takes sides up to {max_side} pixels", 413)


FACTOR_ARGS = ("size", "factor", "strides", "dilation_rate", "pool_size", "output_padding")


def _numbers(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def check_layer_args(doc: dict[str, Any]) -> None:
    """Refuse factor-like arguments over ``MAX_FACTOR`` and kernels over ``MAX_KERNEL_SIDE`` (413),
    before the library builds anything: one small request must not ask for unbounded work."""
    layers = doc.get("layers")
    if not isinstance(layers, list):
        return
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict):
            continue
        for key, bound in [*((k, MAX_FACTOR) for k in FACTOR_ARGS), ("kernel_size", MAX_KERNEL_SIDE)]:
            for v in _numbers(entry.get(key)):
                if isinstance(v, int | float) and not isinstance(v, bool) and abs(v) > bound:
                    shown = format_number(v)  # 10**400 has no float: "an integer of about 401 digits"
                    raise ApiError(f"layer {i}: {key} {shown} is over the lab's limit of {bound}", 413)


def _field_arrays(info: Any) -> dict[str, Any] | None:
    if info.fields is None or len(info.output_shape) != 3:
        return None
    rows, cols = info.fields
    return {
        "rows": {"lo": rows.lo.tolist(), "hi": rows.hi.tolist()},
        "cols": {"lo": cols.lo.tolist(), "hi": cols.hi.tolist()},
    }


def analyze_spec(doc: dict[str, Any], max_layers: int) -> dict[str, Any]:
    """The designer's answer for a parsed spec: summary table plus per-coordinate receptive fields."""
    from convolab.analysis.summary import analyze
    from convolab.model.spec import load_spec

    check_spec_size(doc, max_layers)
    check_layer_args(doc)
    spec = load_spec(doc)
    result = analyze(spec)
    summary = result.to_dict()
    for row, info in zip(summary["layers"], result.layers, strict=True):
        row["input_shape"] = list(info.input_shape)
        row["fields"] = _field_arrays(info)
    return summary


def analyze_text(text: Any, max_chars: int, max_layers: int) -> dict[str, Any]:
    """The worker task behind ``POST /api/analyze``: parse the text, then ``analyze_spec``."""
    return analyze_spec(parse_spec_text(text, max_chars), max_layers)


async def zoo_list(request: Request) -> Response:
    from convolab.model.zoo import DESCRIPTIONS, list_models

    return JSONResponse(
        {"models": [{"name": n, "description": DESCRIPTIONS.get(n, "")} for n in list_models()]}
    )


async def zoo_spec(request: Request) -> Response:
    from convolab.model.zoo import get_spec

    name = request.path_params["name"]
    try:
        spec = get_spec(name)
    except ValueError as exc:
        raise ApiError(str(exc), 404) from None
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)
    return JSONResponse({"name": name, "spec": spec, "yaml": text})


async def analyze_endpoint(request: Request) -> Response:
    limits = request.app.state.limits
    body = await read_json(request, limits)
    text = body.get("spec")
    if not isinstance(text, str) or len(text) > limits.max_spec:
        parse_spec_text(text, limits.max_spec)  # the same message, without a trip to a worker
    pool = request.app.state.pool
    result = await pool.run("analyze", text=text, max_chars=limits.max_spec, max_layers=limits.max_layers)
    return result


def routes() -> list[Route]:
    return [
        Route("/api/zoo", zoo_list),
        Route("/api/zoo/{name}", zoo_spec),
        Route("/api/analyze", analyze_endpoint, methods=["POST"]),
    ]
