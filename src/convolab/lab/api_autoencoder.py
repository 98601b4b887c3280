"""Autoencoder panel API: runs under ``--runs``, live reconstructions, test-set samples, curves.

Endpoints (a run is named by its path relative to the runs folder, see ``convolab.lab.runs``):

- ``GET /api/runs``: the runs found;
- ``GET /api/run?name=R&checkpoint=best``: its spec summary, epoch, metrics and training curves;
- ``POST /api/run/reconstruct`` ``{"run": R, "pixels": [[...]]}``: the model's output for one image
  (values in [0, 1], the spec's input height x width);
- ``GET /api/run/samples?name=R&offset=0&count=8``: test-split images and their reconstructions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from convolab.lab.http import ApiError, get_choice, get_matrix, read_json
from convolab.lab.images import rounded
from convolab.lab.runs import list_runs, load_run_model, read_curves, resolve_run

CHECKPOINTS = ("best", "last")
MAX_SAMPLES = 32


def _config(run_dir: Path) -> dict[str, Any]:
    try:
        cfg = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _query_int(request: Request, key: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(f"{key} must be an integer in [{lo}, {hi}], got {raw!r}")
    return int(raw)


def _query_checkpoint(request: Request) -> str:
    return get_choice(dict(request.query_params), "checkpoint", "best", CHECKPOINTS)


async def runs_endpoint(request: Request) -> JSONResponse:
    root = request.app.state.runs_root
    runs = []
    for name in list_runs(root):
        cfg = _config(root / name)
        runs.append({"name": name, "model": cfg.get("model"), "dataset": cfg.get("dataset")})
    return JSONResponse({"root": str(root), "runs": runs})


def _run_info(root: Path, name: str | None, which: str) -> dict[str, Any]:
    run_dir = resolve_run(root, name)
    model, state = load_run_model(run_dir, which)
    summary: dict[str, Any] = {}
    if (run_dir / "summary.json").is_file():
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
        except ValueError:
            summary = {}
    spec = state.get("spec", {})
    return {
        "name": name,
        "checkpoint": which,
        "model": spec.get("name"),
        "input_shape": spec.get("input_shape"),
        "params": int(sum(p.numel() for p in model.parameters())),
        "epoch": state.get("epoch"),
        "global_step": state.get("global_step"),
        "config": state.get("config", {}),
        "summary": summary,
        "curves": read_curves(run_dir, state),
    }


async def run_endpoint(request: Request) -> JSONResponse:
    name = request.query_params.get("name")
    info = await run_in_threadpool(_run_info, request.app.state.runs_root, name, _query_checkpoint(request))
    return JSONResponse(info)


def _predict(model: Any, images: np.ndarray) -> np.ndarray:
    """``(N, C, H, W)`` float images in [0, 1] -> the model's outputs, same layout."""
    with torch.no_grad():
        return model(torch.as_tensor(images, dtype=torch.float32)).numpy()


def _reconstruct(root: Path, name: Any, pixels: list[list[float]], which: str) -> dict[str, Any]:
    model, state = load_run_model(resolve_run(root, name), which)
    shape = tuple(state["spec"]["input_shape"])
    arr = np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0)
    if len(shape) != 3 or shape[0] != 1 or arr.shape != shape[1:]:
        raise ApiError(f"pixels must be {shape[-2]}x{shape[-1]} for this run (input {list(shape)}), got "
                       f"{arr.shape[0]}x{arr.shape[1]}")  # fmt: skip
    out = _predict(model, arr[None, None])  # (1, 1, H, W)
    return {"run": name, "reconstruction": rounded(out[0, 0], 3)}


async def reconstruct_endpoint(request: Request) -> JSONResponse:
    body = await read_json(request, request.app.state.limits)
    pixels = get_matrix(body, "pixels", 256)
    which = get_choice(body, "checkpoint", "best", CHECKPOINTS)
    result = await run_in_threadpool(
        _reconstruct, request.app.state.runs_root, body.get("run"), pixels, which
    )
    return JSONResponse(result)


def _test_split(app: Any, dataset: str, data_dir: str | None) -> Any:
    from convolab.data import load_dataset

    key = ("dataset", dataset, data_dir)
    if key not in app.state.cache:
        app.state.cache[key] = load_dataset(dataset, "test", data_dir=data_dir)
    return app.state.cache[key]


def _samples(app: Any, name: Any, offset: int, count: int, which: str) -> dict[str, Any]:
    run_dir = resolve_run(app.state.runs_root, name)
    model, state = load_run_model(run_dir, which)
    cfg = state.get("config", {})
    data_dir = app.state.data_dir or cfg.get("data_dir")
    ds = _test_split(app, cfg.get("dataset", "mnist"), None if data_dir is None else str(data_dir))
    n = len(ds.images)
    if offset >= n:
        raise ApiError(f"offset must be below the test split's {n} images, got {offset}")
    stop = min(offset + count, n)
    images = np.asarray(ds.images[offset:stop], dtype=np.float32) / 255.0  # (n, C, H, W)
    outputs = _predict(model, images)
    labels = [None] * (stop - offset) if ds.labels is None else np.asarray(ds.labels[offset:stop]).tolist()
    items = [
        {"index": offset + i, "label": labels[i], "input": rounded(images[i, 0], 3),
         "output": rounded(outputs[i, 0], 3)}
        for i in range(stop - offset)
    ]  # fmt: skip
    return {"run": name, "dataset": cfg.get("dataset"), "total": n, "offset": offset, "items": items}


async def samples_endpoint(request: Request) -> JSONResponse:
    offset = _query_int(request, "offset", 0, 0, 10**7)
    count = _query_int(request, "count", 8, 1, MAX_SAMPLES)
    args = (request.app, request.query_params.get("name"), offset, count, _query_checkpoint(request))
    return JSONResponse(await run_in_threadpool(_samples, *args))


def routes() -> list[Route]:
    return [
        Route("/api/runs", runs_endpoint),
        Route("/api/run", run_endpoint),
        Route("/api/run/reconstruct", reconstruct_endpoint, methods=["POST"]),
        Route("/api/run/samples", samples_endpoint),
    ]
