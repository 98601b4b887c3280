"""The CPU work a lab worker process may do: a fixed registry of task names (nothing else runs there).

Each task is a plain function of JSON-like arguments returning a JSON-like answer; it raises
``ApiError`` (or a library ``ValueError``/``LimitError``) for a client mistake. ``configure`` is called
once in each worker with what the server allows it to read (``WorkerConfig``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class WorkerConfig:
    """What every worker of a pool knows: where runs and datasets may be read, and its CPU threads.

    ``threads``: torch's intra-op threads in each worker (``convolab.threads.set_threads``); None: the
    default policy (``OMP_NUM_THREADS`` if set, else the cores idle when the worker starts).
    """

    runs_root: str
    data_dirs: list[str] = field(default_factory=list)
    memory_bytes: int = 2 << 30
    threads: int | None = None


_CONFIG: list[WorkerConfig] = []


def configure(config: WorkerConfig) -> None:
    _CONFIG[:] = [config]


def config() -> WorkerConfig:
    if not _CONFIG:
        raise RuntimeError("lab tasks run in a configured worker (convolab.lab.worker)")
    return _CONFIG[0]


def runs_root() -> Path:
    return Path(config().runs_root)


def data_dirs() -> list[str]:
    return list(config().data_dirs)


# name -> (module under convolab.lab, function); looked up when called (tests may patch a function)
TASKS: dict[str, tuple[str, str]] = {
    "analyze": ("api_model", "analyze_text"),
    "filter": ("api_filters", "filter_request"),
    "datasets": ("api_filters", "available_datasets"),
    "upsample": ("api_upsampling", "upsample_all"),
    "run_info": ("api_autoencoder", "run_info"),
    "reconstruct": ("api_autoencoder", "reconstruct"),
    "samples": ("api_autoencoder", "samples"),
    "activations": ("api_activations", "activations"),
    "pixel": ("api_pixel", "pixel"),
    "arith": ("api_arith", "arith"),
    "explain": ("api_explain", "explain"),
}


def task(name: str) -> Callable[..., Any]:
    """The function of task ``name`` (KeyError for a name not in ``TASKS``)."""
    module, func = TASKS[name]
    return getattr(importlib.import_module(f"convolab.lab.{module}"), func)


def preload() -> None:
    """Import every task's module (the forkserver does this once, so forked workers start fast)."""
    for name in TASKS:
        task(name)
