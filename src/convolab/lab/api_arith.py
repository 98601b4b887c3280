"""Conv-arithmetic panel API: one small layer run for real and written out step by step.

``POST /api/arith`` with ``{"layer": "Conv2D", "args": {"kernel_size": 3, "strides": 2, "padding":
"same"}, "grid": [[...]], "kernel": [[...]], "bias": 0.5}`` (``values`` for MaxUnpool2D) answers
``arith_trace.trace`` (every step: window or stamp cells, weights, products, sum, the layer's value;
``grid`` and ``kernel`` may hold one plane per input channel for a Conv2D)
plus the formulas of that layer at that input: output size, parameters, MACs, and for 'same' padding
TF's split of each axis with the numbers substituted. Sizes are bounded by ``limits.ARITH_*``; a bad
argument is a 400 with the layer's own message.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convolab import limits
from convolab.lab.http import ApiError, get_choice, get_float, get_matrix, read_json


def _formulas(result: dict[str, Any], kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The layer's formulas at this input (the same arithmetic as the designer's rows)."""
    from convolab.lab.arith_trace import make_layer
    from convolab.lab.formulas import layer_formulas, same_padding_formula

    layer: Any = make_layer(kind, args)
    shape = tuple(result["input_shape"])
    if kind == "MaxUnpool2D":
        from convolab.layers.upsampling import MaxUnpool2D, PoolLink

        src = (1, len(result["source"]), len(result["source"][0]))
        unpool = MaxUnpool2D("pool")
        out: dict[str, Any] = {
            "pool": layer_formulas(layer, src),
            "unpool": layer_formulas(unpool, shape, PoolLink(layer, src)),
        }
        pad_shape = src
    else:
        out = layer_formulas(layer, shape)
        pad_shape = shape
    padding = getattr(layer, "padding", None)
    if padding == "same" and kind != "Conv2DTranspose":
        ks = getattr(layer, "kernel_size", None) or layer.pool_size
        dil = getattr(layer, "dilation_rate", (1, 1))
        out["padding"] = [
            same_padding_formula(int(pad_shape[1 + a]), ks[a], layer.strides[a], dil[a], "HW"[a])
            for a in (0, 1)
        ]
    return out


def get_planes(body: dict[str, Any], key: str, max_side: int) -> Any:
    """``body[key]`` as one matrix, or a list of up to ``ARITH_MAX_CHANNELS`` matrices (one per channel)."""
    value = body.get(key)
    if not (
        isinstance(value, list)
        and value
        and isinstance(value[0], list)
        and value[0]
        and isinstance(value[0][0], list)
    ):
        return get_matrix(body, key, max_side)
    if len(value) > limits.ARITH_MAX_CHANNELS:
        raise ApiError(f"{key} must have at most {limits.ARITH_MAX_CHANNELS} channels, got {len(value)}")
    planes = [get_matrix({key: v}, key, max_side) for v in value]
    if any(len(p) != len(planes[0]) or len(p[0]) != len(planes[0][0]) for p in planes):
        raise ApiError(f"{key}: every channel must have the same rows and columns")
    return planes


def arith(body: dict[str, Any]) -> dict[str, Any]:
    from convolab.lab.arith_trace import KINDS, trace

    kind = get_choice(body, "layer", "Conv2D", KINDS)
    args = body.get("args", {})
    if not isinstance(args, dict):
        raise ApiError(f"args must be an object of layer arguments, got {type(args).__name__}")
    grid = get_planes(body, "grid", limits.ARITH_MAX_GRID)
    kernel = get_planes(body, "kernel", limits.ARITH_MAX_KERNEL) if "kernel" in body else None
    values = get_matrix(body, "values", limits.ARITH_MAX_GRID) if "values" in body else None
    bias = get_float(body, "bias", 0.0, -limits.ARITH_MAX_VALUE, limits.ARITH_MAX_VALUE)
    result = trace(kind, args, grid, kernel=kernel, bias=bias, values=values)
    result["formulas"] = _formulas(result, kind, args)
    return result


async def arith_endpoint(request: Request) -> JSONResponse:
    body = await read_json(request, request.app.state.limits)
    return await request.app.state.pool.run("arith", body=body)  # a bounded worker (lab/worker.py)


def routes() -> list[Route]:
    return [Route("/api/arith", arith_endpoint, methods=["POST"])]
