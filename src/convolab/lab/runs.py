"""Training runs as the lab sees them: discovery under one folder, safe name resolution, loading.

Only files *inside* the runs folder are ever read. A run name is a relative path (``demo`` or
``mnist/demo``); it is refused before touching the disk when it is absolute or has ``..`` or hidden
parts, and refused again after ``resolve()`` when it lands outside the folder (a symlink pointing out).
The same holds for every file of a run the lab reads (``best/``, ``last/``, their files,
``summary.json``, ``config.json``, ``log.jsonl``): each is resolved, symlinks included, and refused
when it leaves the runs folder. Stored JSON is read with a size bound and validated as data: a
``spec`` must be a mapping (a string such as ``"/etc/passwd"`` is refused, never opened as a path).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from convolab.lab.http import ApiError
from convolab.limits import LAB_MAX_RUN_DEPTH, LAB_MAX_RUN_NAME

MAX_DEPTH = LAB_MAX_RUN_DEPTH  # runs are found at most this many folders below the runs folder
MAX_NAME = LAB_MAX_RUN_NAME
MAX_JSON_BYTES = 16 << 20  # a run's state.json, config.json or summary.json
MAX_LOG_BYTES = 64 << 20  # a run's log.jsonl
CHECKPOINT_DIRS = ("best", "last", ".best.old", ".last.old")
_MODELS: OrderedDict[tuple[str, float], tuple[Any, dict[str, Any]]] = OrderedDict()
_MODELS_LOCK = threading.Lock()
MODEL_CACHE_SIZE = 4


def _has_checkpoint(folder: Path) -> bool:
    return any((folder / sub / "state.json").is_file() for sub in CHECKPOINT_DIRS)


def list_runs(root: Path) -> list[str]:
    """Names (relative POSIX paths) of the run folders under ``root``, sorted; [] when it is absent."""
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if depth and _has_checkpoint(here):
            found.append(here.relative_to(root).as_posix())
            dirnames[:] = []  # a run's own folders (best/, last/) are not runs
        elif depth >= MAX_DEPTH:
            dirnames[:] = []
    return found


def inside(root: Path, path: Path, what: str) -> Path:
    """``path`` resolved (symlinks followed); ``ApiError`` 403 when it is not inside ``root``."""
    real = path.resolve()
    if not real.is_relative_to(root):
        raise ApiError(f"{what} points outside the runs folder; the lab reads nothing outside it", 403)
    return real


def read_json_file(root: Path, path: Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON file of a run: inside ``root``, at most ``max_bytes``; None when it does not exist."""
    if not path.exists() and not path.is_symlink():
        return None
    real = inside(root, path, what)
    if not real.is_file():
        raise ApiError(f"{what} is not a file", 400)
    size = real.stat().st_size
    if size > max_bytes:
        raise ApiError(f"{what} is {size} bytes, over the lab's limit of {max_bytes}", 413)
    try:
        return json.loads(real.read_bytes())
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(f"{what} is not valid JSON", 400) from None


def resolve_run(root: Path, name: Any) -> Path:
    """The folder of run ``name`` inside ``root``.

    Raises:
        ApiError: 400 for a name that is not a plain relative path inside the folder, 403 for one that
            resolves outside it, 404 when no run has that name.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        shown = name if not isinstance(name, str) else name[:60]
        raise ApiError(f"run must be a run name (a folder under the runs folder), got {shown!r}")
    parts = name.replace("\\", "/").split("/")
    if (
        "\x00" in name
        or name.startswith("/")
        or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
    ):
        raise ApiError(f"run name must be a plain path inside the runs folder, got {name!r}")
    path = (root / Path(*parts)).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ApiError(f"run name must be a plain path inside the runs folder, got {name!r}")
    if not path.is_dir() or not _has_checkpoint(path):
        known = list_runs(root)
        hint = f"runs: {', '.join(known[:20])}" if known else f"no runs under {root}"
        raise ApiError(f"unknown run {name!r}; {hint}", 404)
    return path


def checkpoint_dir(root: Path, run_dir: Path, which: str) -> Path:
    """The checkpoint folder ``which`` of a run, it and every file in it inside ``root``."""
    from convolab.train.checkpoint import resolve_checkpoint

    for sub in CHECKPOINT_DIRS:  # a planted link is refused even where another checkpoint exists
        if (run_dir / sub).is_symlink():
            inside(root, run_dir / sub, f"the run's {sub}/")
    ckpt = inside(root, resolve_checkpoint(run_dir, which), f"the run's {which}/")
    for entry in ckpt.iterdir():
        inside(root, entry, f"the run's {ckpt.name}/{entry.name}")
    return ckpt


def validated_state(root: Path, ckpt: Path) -> dict[str, Any]:
    """A checkpoint's ``state.json`` as data: a mapping whose ``spec`` and ``config`` are mappings."""
    state = read_json_file(root, ckpt / "state.json", f"{ckpt.name}/state.json")
    if not isinstance(state, dict):
        raise ApiError(f"{ckpt.name}/state.json is not a convolab checkpoint state (a JSON object)")
    for key in ("spec", "config"):
        value = state.get(key)
        if not isinstance(value, dict):
            kind = type(value).__name__
            raise ApiError(
                f"{ckpt.name}/state.json: '{key}' must be a mapping, got {kind}; the run is damaged"
            )
    spec = state["spec"]
    shape = spec.get("input_shape")
    if not isinstance(shape, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise ApiError(f"{ckpt.name}/state.json: spec input_shape must be a list of integers")
    return state


def load_run_model(root: Path, run_dir: Path, which: str = "best") -> tuple[Any, dict[str, Any]]:
    """``(model in eval mode on the CPU, checkpoint state)`` of a run, by ``convolab.train.run.load_run``.

    The checkpoint is checked first (inside the runs folder, state validated as data). Cached (a few
    models) while ``state.json`` is unchanged, so drawing on the canvas does not reload weights.
    """
    from convolab.train.run import load_run

    ckpt_dir = checkpoint_dir(root, run_dir, which)
    key = (str(ckpt_dir), (ckpt_dir / "state.json").stat().st_mtime)
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    validated_state(root, ckpt_dir)
    loaded = load_run(ckpt_dir, which, device="cpu")
    with _MODELS_LOCK:
        _MODELS[key] = (loaded.model, loaded.state)
        while len(_MODELS) > MODEL_CACHE_SIZE:
            _MODELS.popitem(last=False)
    return loaded.model, loaded.state


def run_config(root: Path, run_dir: Path) -> dict[str, Any]:
    """A run's ``config.json`` (``{}`` when absent, unreadable or not a mapping; it is only a label)."""
    try:
        cfg = read_json_file(root, run_dir / "config.json", "the run's config.json")
    except ApiError:
        return {}
    return cfg if isinstance(cfg, dict) else {}


def read_curves(root: Path, run_dir: Path, state: dict[str, Any]) -> dict[str, list[list[float]]]:
    """Training curves ``{metric: [[epoch, value], ...]}`` from the run's log (epoch records).

    Falls back to the checkpoint's metrics history when the log is missing. Every numeric field of an
    epoch record except bookkeeping (time, step counters) becomes a curve, so new metrics show up
    without a change here.
    """
    from convolab.train.runfolder import LOG_FILE, read_log

    skip = {"time", "epoch", "step", "global_step", "seconds", "elapsed", "lr", "images_per_second"}
    log_path = run_dir / LOG_FILE
    records: list[Any] = []
    if log_path.is_file():
        real = inside(root, log_path, f"the run's {LOG_FILE}")
        if real.stat().st_size <= MAX_LOG_BYTES:
            records = [r for r in read_log(real) if isinstance(r, dict) and r.get("kind") == "epoch"]
    if not records:
        history = state.get("history") or []
        records = [r for r in history if isinstance(r, dict)] if isinstance(history, list) else []
    curves: dict[str, list[list[float]]] = {}
    for i, rec in enumerate(records):
        epoch = rec.get("epoch", i + 1)
        if isinstance(epoch, bool) or not isinstance(epoch, int | float):
            epoch = i + 1
        flat: dict[str, Any] = {}
        for key, value in rec.items():  # nested groups ({"val": {"bce": ...}}) become "val_bce"
            if isinstance(value, dict):
                flat.update({f"{key}_{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        for key, value in flat.items():
            if key in skip or key == "kind" or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(value) or not math.isfinite(epoch):
                continue
            curves.setdefault(str(key), []).append([float(epoch), float(value)])
    return curves
