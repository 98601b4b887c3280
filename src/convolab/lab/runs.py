"""Training runs as the lab sees them: discovery under one folder, safe name resolution, loading.

Only folders *inside* the runs folder are ever read. A run name is a relative path (``demo`` or
``mnist/demo``); it is refused before touching the disk when it is absolute or has ``..`` or hidden
parts, and refused again after ``resolve()`` when it lands outside the folder (a symlink pointing out).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from convolab.lab.http import ApiError

MAX_DEPTH = 3  # runs are found at most this many folders below the runs folder
MAX_NAME = 200
_MODELS: OrderedDict[tuple[str, float], tuple[Any, dict[str, Any]]] = OrderedDict()
_MODELS_LOCK = threading.Lock()
MODEL_CACHE_SIZE = 4


def _has_checkpoint(folder: Path) -> bool:
    return any((folder / sub / "state.json").is_file() for sub in ("best", "last", ".best.old", ".last.old"))


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


def resolve_run(root: Path, name: Any) -> Path:
    """The folder of run ``name`` inside ``root``.

    Raises:
        ApiError: 400 for a name that is not a plain relative path inside the folder, 404 when no
            run has that name.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ApiError(f"run must be a run name (a folder under the runs folder), got {name!r}")
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


def load_run_model(run_dir: Path, which: str = "best") -> tuple[Any, dict[str, Any]]:
    """``(model in eval mode on the CPU, checkpoint state)`` of a run, by ``convolab.runs.load_run``.

    Cached (a few models) while the checkpoint's ``state.json`` is unchanged, so drawing on the canvas
    does not reload weights on every stroke.
    """
    from convolab.checkpoint import resolve_checkpoint
    from convolab.runs import load_run

    ckpt_dir = resolve_checkpoint(run_dir, which)
    key = (str(ckpt_dir), (ckpt_dir / "state.json").stat().st_mtime)
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    loaded = load_run(ckpt_dir, which, device="cpu")
    with _MODELS_LOCK:
        _MODELS[key] = (loaded.model, loaded.state)
        while len(_MODELS) > MODEL_CACHE_SIZE:
            _MODELS.popitem(last=False)
    return loaded.model, loaded.state


def read_curves(run_dir: Path, state: dict[str, Any]) -> dict[str, list[list[float]]]:
    """Training curves ``{metric: [[epoch, value], ...]}`` from the run's log (epoch records).

    Falls back to the checkpoint's metrics history when the log is missing. Every numeric field of an
    epoch record except bookkeeping (time, step counters) becomes a curve, so new metrics show up
    without a change here.
    """
    from convolab.runlog import LOG_FILE, read_log

    skip = {"time", "epoch", "step", "global_step", "seconds", "elapsed", "lr", "images_per_second"}
    log_path = run_dir / LOG_FILE
    records = [r for r in read_log(log_path) if r.get("kind") == "epoch"] if log_path.is_file() else []
    if not records:
        history = state.get("history") or []
        records = [r for r in history if isinstance(r, dict)] if isinstance(history, list) else []
    curves: dict[str, list[list[float]]] = {}
    for i, rec in enumerate(records):
        epoch = rec.get("epoch", i + 1)
        flat: dict[str, Any] = {}
        for key, value in rec.items():  # nested groups ({"val": {"bce": ...}}) become "val_bce"
            if isinstance(value, dict):
                flat.update({f"{key}_{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        for key, value in flat.items():
            if key in skip or key == "kind" or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            curves.setdefault(key, []).append([float(epoch), float(value)])
    return curves
