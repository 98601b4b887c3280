"""Activations view API: every layer's real output for a real input, and what made one pixel of it.

- ``POST /api/activations`` ``{"model": M, "input": I}`` answers the input and every layer's output
  (one tile per channel), with value ranges and each layer's exact receptive fields per row and
  column (the interval walk of ``convolab.analysis.summary``, as ``convolab summary``);
- ``POST /api/activations/pixel`` ``{"model": M, "input": I, "layer": i, "channel": k, "row": u,
  "col": v}`` answers that output pixel: its value, its pre-activation (``layer.call``), its receptive
  field, and for a Conv2D/Dense the kernel slice, the input window it multiplies and the bias.

``M`` is ``{"zoo": NAME}`` or ``{"spec": YAML_TEXT}`` (weights from ``"seed"``, default 0, exactly as
``convolab train`` initialises them), or ``{"run": R, "checkpoint": "best"}``. ``I`` is
``{"dataset": NAME, "index": i}`` (test split), ``{"pixels": [[...]]}`` (a drawing, values in [0, 1])
or ``{"upload": BASE64}`` (PNG/JPEG); an input whose size differs from the model's is resized
(bilinear, Pillow) and its channels repeated or averaged to the model's.

Maps travel as base64 of little-endian float32 (the forward pass's own numbers, no rounding), at most
``LAB_MAX_TILES`` channels and ``LAB_MAX_TILE_VALUES`` numbers per answer (later channels are left out
and counted). All work runs in a lab worker process.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from convolab.lab.http import ApiError, get_choice, get_int, get_matrix, read_json
from convolab.limits import (
    LAB_MAX_LAYERS,
    LAB_MAX_RUN_SIDE,
    LAB_MAX_SPEC_CHARS,
    LAB_MAX_TILE_VALUES,
    LAB_MAX_TILES,
)

_SPEC_MODELS: OrderedDict[tuple[str, int], Any] = OrderedDict()
CACHE_SIZE = 4
MAX_SEED = 2**31 - 1


def encode(arr: Any) -> str:
    """A float array as base64 of its little-endian float32 bytes (``Float32Array`` in the page)."""
    return base64.b64encode(np.ascontiguousarray(arr, dtype="<f4").tobytes()).decode("ascii")


def _spec_model(source: str, seed: int) -> Any:
    """A model from a zoo name or a spec text, weights initialised from ``seed`` (cached per worker)."""
    from convolab.lab.api_model import check_layer_args, check_spec_size, parse_spec_text
    from convolab.train.run_model import build_seeded_model

    key = (source, seed)
    if key in _SPEC_MODELS:
        _SPEC_MODELS.move_to_end(key)
        return _SPEC_MODELS[key]
    if source.startswith("zoo:"):
        from convolab.model.zoo import get_spec

        try:
            doc: Any = get_spec(source[4:])
        except ValueError as exc:
            raise ApiError(str(exc), 404) from None
    else:
        doc = parse_spec_text(source, LAB_MAX_SPEC_CHARS)
        check_spec_size(doc, LAB_MAX_LAYERS, LAB_MAX_RUN_SIDE)
        check_layer_args(doc)
    model = build_seeded_model(doc, seed).eval()
    _SPEC_MODELS[key] = model
    while len(_SPEC_MODELS) > CACHE_SIZE:
        _SPEC_MODELS.popitem(last=False)
    return model


def check_model(m: Any) -> dict[str, Any]:
    """The ``model`` field, validated (server side, before any work)."""
    if not isinstance(m, dict):
        raise ApiError("model must be an object: {zoo: NAME}, {spec: TEXT, seed: N} or {run: NAME}")
    kinds = [k for k in ("zoo", "spec", "run") if k in m]
    if len(kinds) != 1:
        raise ApiError("model must have exactly one of zoo, spec, run")
    kind = kinds[0]
    value = m[kind]
    if not isinstance(value, str) or not value.strip():
        raise ApiError(f"model {kind} must be a non-empty string")
    if kind == "spec" and len(value) > LAB_MAX_SPEC_CHARS:
        raise ApiError(f"spec too large: {len(value)} characters, limit {LAB_MAX_SPEC_CHARS}", 413)
    if kind == "zoo" and len(value) > 100:
        raise ApiError("model zoo must be a zoo name")
    out = {"kind": kind, "value": value, "seed": get_int(m, "seed", 0, 0, MAX_SEED)}
    out["checkpoint"] = get_choice(m, "checkpoint", "best", ("best", "last"))
    return out


def check_input(i: Any, max_image_side: int) -> dict[str, Any]:
    """The ``input`` field, validated (server side, before any work)."""
    from convolab.lab.api_filters import get_index
    from convolab.lab.datasets import dataset_names

    if not isinstance(i, dict):
        raise ApiError(
            "input must be an object: {dataset: NAME, index: i}, {pixels: [[...]]} or {upload: B64}"
        )
    if "pixels" in i:
        return {"kind": "pixels", "pixels": get_matrix(i, "pixels", LAB_MAX_RUN_SIDE)}
    if "upload" in i:
        if not isinstance(i["upload"], str):
            raise ApiError("input upload must be a base64 string (or a data: URL) of a PNG or JPEG file")
        return {"kind": "upload", "upload": i["upload"], "max_side": max_image_side}
    return {
        "kind": "dataset",
        "dataset": get_choice(i, "dataset", "mnist", dataset_names()),
        "index": get_index(i),
    }


def load_model(m: dict[str, Any]) -> tuple[Any, str]:
    """``(model, label)`` of a checked ``model`` field."""
    if m["kind"] == "run":
        from convolab.lab.api_autoencoder import _root
        from convolab.lab.runs import load_run_model, resolve_run

        root = _root()
        model, _ = load_run_model(root, resolve_run(root, m["value"]), m["checkpoint"])
        return model, f"run {m['value']} ({m['checkpoint']})"
    source = "zoo:" + m["value"] if m["kind"] == "zoo" else m["value"]
    model = _spec_model(source, m["seed"])
    return model, (f"zoo {m['value']}" if m["kind"] == "zoo" else "spec") + f", seed {m['seed']}"


def image_of(i: dict[str, Any]) -> np.ndarray:
    """The chosen input as float32 ``(C, H, W)`` in [0, 1], at its own size."""
    if i["kind"] == "pixels":
        return np.clip(np.asarray(i["pixels"], dtype=np.float32), 0.0, 1.0)[None]
    if i["kind"] == "upload":
        from convolab.lab.images import decode_upload

        return decode_upload(i["upload"], i["max_side"])[None]
    from convolab.lab.datasets import load_test_split
    from convolab.lab.tasks import data_dirs

    ds = load_test_split(i["dataset"], data_dirs())
    n = len(ds)
    if i["index"] >= n:
        raise ApiError(f"index must be in [0, {n - 1}] for {i['dataset']}'s test split, got {i['index']}")
    return ds.images[i["index"]].numpy().astype(np.float32) / 255.0


def fit_input(img: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``img`` ``(C0, h, w)`` -> ``(1, *shape)``: resized (bilinear) and its channels matched."""
    from PIL import Image

    if len(shape) == 1:  # a flat input: a square image of that many pixels
        side = int(round(shape[0] ** 0.5))
        if side * side != shape[0]:
            raise ApiError(f"the model takes a flat input of {shape[0]} values, not a square image")
        shape_img: tuple[int, int, int] = (1, side, side)
    elif len(shape) == 3:
        shape_img = (int(shape[0]), int(shape[1]), int(shape[2]))
    else:
        raise ApiError(f"the activations view takes models with (C, H, W) or flat inputs, not {list(shape)}")
    c, h, w = shape_img
    if img.shape[1:] != (h, w):
        bilinear = Image.Resampling.BILINEAR
        img = np.stack([np.asarray(Image.fromarray(ch, mode="F").resize((w, h), bilinear)) for ch in img])
    if img.shape[0] != c:
        img = np.repeat(img.mean(axis=0, keepdims=True), c, axis=0)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    return img.reshape(1, *shape)


def _fields(info: Any, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """Per-row and per-column input intervals of a (C, H, W) output (-1 where nothing is seen)."""
    if info.fields is None or len(shape) != 3:
        return None
    out = {}
    for key, axis, n in (("rows", info.fields[0], shape[1]), ("cols", info.fields[1], shape[2])):
        spans = [axis.interval(u) for u in range(n)]
        out[key] = {
            "lo": [-1 if s is None else int(s[0]) for s in spans],
            "hi": [-1 if s is None else int(s[1]) for s in spans],
        }
    return out


def forward(model: Any, x: np.ndarray) -> tuple[list[tuple[str, Any]], Any]:
    """Every layer's output (``Sequential.feature_maps``) and the static analysis of the model."""
    import torch

    from convolab.analysis.summary import analyze

    with torch.no_grad():
        maps = model.feature_maps(torch.as_tensor(x))
    return maps, analyze(model.to_spec().to_dict())


def activations(model: dict[str, Any], input: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
    """The worker task behind ``POST /api/activations``."""
    net, label = load_model(model)
    return activations_of(net, fit_input(image_of(input), tuple(net.input_shape)), label)


def activations_of(net: Any, x: np.ndarray, label: str) -> dict[str, Any]:
    """The activations answer for a built model and its input ``x`` ``(1, *input_shape)``: the lab's
    task above and the notebook widget (``convolab.widgets.Activations``) both answer this."""
    maps, analysis = forward(net, x)
    tiles, values, left_out = 0, int(x.size), 0
    layers = []
    for i, ((name, out), layer, info) in enumerate(zip(maps, net, analysis.layers, strict=True)):
        arr = out[0].numpy()
        shape = tuple(int(v) for v in arr.shape)
        per_channel = int(np.prod(shape[1:])) if len(shape) == 3 else int(arr.size)
        channels = shape[0] if len(shape) == 3 else 1
        room = min(LAB_MAX_TILES - tiles, (LAB_MAX_TILE_VALUES - values) // max(per_channel, 1))
        shown = max(0, min(channels, room))
        left_out += channels - shown
        tiles, values = tiles + shown, values + shown * per_channel
        flat = arr.reshape(channels, per_channel)[:shown]
        lo, hi = float(arr.min()), float(arr.max())
        layers.append(
            {
                "index": i,
                "name": name,
                "type": type(layer).__name__,
                "activation": layer.activation,
                "shape": list(shape),
                "channels": channels,
                "channels_shown": shown,
                "data": encode(flat),
                "min": lo,
                "max": hi,
                "signed": lo < 0,
                "latent": name == net.latent,
                "fields": _fields(info, shape),
            }
        )
    return {
        "model": net.name,
        "label": label,
        "latent": net.latent,
        "input_shape": list(net.input_shape),
        "input": {
            "shape": list(x.shape[1:]),
            "data": encode(x[0]),
            "min": float(x.min()),
            "max": float(x.max()),
        },
        "layers": layers,
        "left_out": left_out,
        "limits": {"tiles": LAB_MAX_TILES, "values": LAB_MAX_TILE_VALUES},
    }


async def activations_endpoint(request: Request) -> Response:
    limits = request.app.state.limits
    body = await read_json(request, limits)
    m, i = _checked(request, body)
    return await request.app.state.pool.run("activations", model=m, input=i)


def _checked(request: Request, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    from convolab.lab.runs import resolve_run

    m, i = (
        check_model(body.get("model")),
        check_input(body.get("input"), request.app.state.limits.max_image_side),
    )
    if m["kind"] == "run":
        resolve_run(request.app.state.runs_root, m["value"])
    return m, i


async def pixel_endpoint(request: Request) -> Response:
    limits = request.app.state.limits
    body = await read_json(request, limits)
    m, i = _checked(request, body)
    where = {k: get_int(body, k, 0, 0, 1 << 20) for k in ("layer", "channel", "row", "col")}
    return await request.app.state.pool.run("pixel", model=m, input=i, **where)


def routes() -> list[Route]:
    return [
        Route("/api/activations", activations_endpoint, methods=["POST"]),
        Route("/api/activations/pixel", pixel_endpoint, methods=["POST"]),
    ]
