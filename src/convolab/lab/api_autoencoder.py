"""Autoencoder panel API: runs under ``--runs``, live reconstructions, evaluation samples, curves.

Endpoints (a run is named by its path relative to the runs folder, see ``convolab.lab.runs``):

- ``GET /api/runs``: the runs found;
- ``GET /api/run?name=R&checkpoint=best``: its spec, epoch, metrics and training curves;
- ``POST /api/run/reconstruct`` ``{"run": R, "pixels": [[...]]}``: the model's output for one image
  (values in [0, 1], the spec's input height x width);
- ``GET /api/run/samples?name=R&offset=0&count=8``: evaluation images and their reconstructions.

The samples are the dataset's test split; for a run trained on it (``--train-split test``) the images
it saw in training are marked ``seen`` (recomputed with the run's seed, fraction and limit). They are
read from the run's own data folder when the lab may read it (see
``convolab.lab.datasets``), never downloaded, never from a ``folder:`` dataset. All work runs in a lab
worker process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from convolab.lab.http import ApiError, get_choice, get_matrix, read_json, shown
from convolab.lab.images import rounded
from convolab.lab.runs import (
    list_runs,
    load_run_model,
    read_curves,
    read_json_file,
    resolve_run,
    run_config,
)
from convolab.limits import LAB_MAX_INDEX, LAB_MAX_RUN_SIDE, LAB_MAX_SAMPLES

CHECKPOINTS = ("best", "last")
MAX_SAMPLES = LAB_MAX_SAMPLES


def _query_int(request: Request, key: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    if len(raw) > 12 or not raw.lstrip("-").isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(f"{key} must be an integer in [{lo}, {hi}], got {shown(raw)}")
    return int(raw)


def _query_checkpoint(request: Request) -> str:
    return get_choice(dict(request.query_params), "checkpoint", "best", CHECKPOINTS)


async def runs_endpoint(request: Request) -> Response:
    root = request.app.state.runs_root
    runs = []
    for name in list_runs(root):
        cfg = run_config(root, root / name)
        model, dataset = cfg.get("model"), cfg.get("dataset")
        runs.append(
            {
                "name": name,
                "model": model if isinstance(model, str) else None,
                "dataset": dataset if isinstance(dataset, str) else None,
            }
        )
    return JSONResponse({"root": str(root), "runs": runs})


def _root() -> Any:
    from convolab.lab.tasks import runs_root

    return runs_root().resolve()


def eval_name(config: dict[str, Any]) -> str:
    """What the samples are: the test split, saying so when the run also trained on it."""
    if config.get("train_split", "train") == "train":
        return "test split"
    return "test split; this run trained on it (--train-split test): images it saw in training are marked"


def run_info(name: Any, which: str) -> dict[str, Any]:
    """The worker task behind ``GET /api/run``."""
    import yaml

    root = _root()
    run_dir = resolve_run(root, name)
    model, state = load_run_model(root, run_dir, which)
    summary = read_json_file(root, run_dir / "summary.json", "the run's summary.json")
    spec, config = state["spec"], state["config"]
    return {
        "name": name,
        "checkpoint": which,
        "model": spec.get("name"),
        "input_shape": spec.get("input_shape"),
        "spec_yaml": yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100),
        "params": int(sum(p.numel() for p in model.parameters())),
        "epoch": state.get("epoch"),
        "global_step": state.get("global_step"),
        "config": config,
        "eval_set": eval_name(config),
        "summary": summary if isinstance(summary, dict) else {},
        "curves": read_curves(root, run_dir, state),
    }


async def run_endpoint(request: Request) -> Response:
    name = request.query_params.get("name")
    resolve_run(request.app.state.runs_root, name)  # a bad name is refused before any work is queued
    info = await request.app.state.pool.run("run_info", name=name, which=_query_checkpoint(request))
    return info


def _predict(model: Any, images: np.ndarray) -> np.ndarray:
    """``(N, C, H, W)`` float images in [0, 1] -> the model's outputs, same layout."""
    with torch.no_grad():
        return model(torch.as_tensor(images, dtype=torch.float32)).numpy()


def reconstruct(name: Any, pixels: list[list[float]], which: str) -> dict[str, Any]:
    """The worker task behind ``POST /api/run/reconstruct``."""
    root = _root()
    model, state = load_run_model(root, resolve_run(root, name), which)
    shape = tuple(state["spec"]["input_shape"])
    arr = np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0)
    if len(shape) != 3 or shape[0] != 1 or arr.shape != shape[1:]:
        raise ApiError(
            f"pixels must be {shape[-2]}x{shape[-1]} for this run (input {list(shape)}), got "
            f"{arr.shape[0]}x{arr.shape[1]}"
        )
    out = _predict(model, arr[None, None])  # (1, 1, H, W)
    return {"run": name, "reconstruction": rounded(out[0, 0], 3)}


async def reconstruct_endpoint(request: Request) -> Response:
    body = await read_json(request, request.app.state.limits)
    pixels = get_matrix(body, "pixels", LAB_MAX_RUN_SIDE)
    which = get_choice(body, "checkpoint", "best", CHECKPOINTS)
    resolve_run(request.app.state.runs_root, body.get("run"))
    result = await request.app.state.pool.run("reconstruct", name=body.get("run"), pixels=pixels, which=which)
    return result


def seen_in_training(config: dict[str, Any], n: int) -> set[int]:
    """Indices of the test split a ``--train-split test`` run trained on (empty for other runs).

    The run's training part is ``train_val_split`` of the first ``limit`` images with the run's seed
    and fraction; it is recomputed here by the function that split draws its indices from.
    """
    from convolab.data import split_indices

    if config.get("train_split", "train") != "test":
        return set()
    limit = config.get("limit")
    used = limit if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < n else n
    fraction, seed = config.get("val_fraction", 0.1), config.get("seed", 0)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not isinstance(seed, int):
        return set(range(used))  # unknown split: every image it may have seen is marked
    train, _ = split_indices(used, float(fraction), seed=seed)
    return set(train.tolist())


def class_names(dataset: Any) -> tuple[str, ...]:
    """The registry's class names of a dataset ("Ankle boot" for Fashion-MNIST's 9); none if unknown."""
    from convolab.data.registry import get_spec

    try:
        return get_spec(dataset).classes if isinstance(dataset, str) else ()
    except ValueError:
        return ()


def _class_of(names: tuple[str, ...], label: Any) -> str | None:
    return names[label] if isinstance(label, int) and 0 <= label < len(names) else None


def samples(name: Any, offset: int, count: int, which: str) -> dict[str, Any]:
    """The worker task behind ``GET /api/run/samples``."""
    root = _root()
    run_dir = resolve_run(root, name)
    model, state = load_run_model(root, run_dir, which)
    from convolab.lab.datasets import load_test_split
    from convolab.lab.tasks import data_dirs

    cfg = state["config"]
    own = cfg.get("data_dir")
    own = own if isinstance(own, str) and own else None
    ds = load_test_split(cfg.get("dataset", "mnist"), data_dirs(), own)
    n = len(ds)
    seen = seen_in_training(cfg, n)
    if offset >= n:
        raise ApiError(f"offset must be below {n} (the test split has {n} images), got {offset}")
    stop = min(offset + count, n)
    images = ds.images[offset:stop].to(torch.float32).numpy() / 255.0  # (n, C, H, W)
    if tuple(images.shape[1:]) != tuple(model.input_shape):
        raise ApiError(
            f"the run's model takes {list(model.input_shape)} but its dataset's images are "
            f"{list(images.shape[1:])}"
        )
    outputs = _predict(model, images)
    labels = [None] * (stop - offset) if ds.labels is None else ds.labels[offset:stop].tolist()
    names = class_names(cfg.get("dataset"))
    items = [
        {
            "index": offset + i,
            "label": labels[i],
            "seen": offset + i in seen,
            "class": _class_of(names, labels[i]),
            "input": rounded(images[i, 0], 3),
            "output": rounded(outputs[i, 0], 3),
        }
        for i in range(stop - offset)
    ]
    return {
        "run": name,
        "dataset": cfg.get("dataset"),
        "eval_set": eval_name(cfg),
        "total": n,
        "trained_on_test": bool(seen),
        "offset": offset,
        "items": items,
    }


async def samples_endpoint(request: Request) -> Response:
    offset = _query_int(request, "offset", 0, 0, LAB_MAX_INDEX)
    count = _query_int(request, "count", 8, 1, MAX_SAMPLES)
    name, which = request.query_params.get("name"), _query_checkpoint(request)
    resolve_run(request.app.state.runs_root, name)
    result = await request.app.state.pool.run("samples", name=name, offset=offset, count=count, which=which)
    return result


def routes() -> list[Route]:
    return [
        Route("/api/runs", runs_endpoint),
        Route("/api/run", run_endpoint),
        Route("/api/run/reconstruct", reconstruct_endpoint, methods=["POST"]),
        Route("/api/run/samples", samples_endpoint),
    ]
