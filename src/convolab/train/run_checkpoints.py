"""A run folder's checkpoints: committed in order (``save_run_checkpoint``), reopened (``open_resume``).

One save writes ``best`` before ``last`` (``COMMIT_ORDER``). A kill between the two leaves ``best`` new
and ``last`` old; resuming from ``last`` retrains that epoch, which is deterministic, so it improves
again and commits both: the run ends bitwise equal, best and summary included. (The other order would
leave a ``last`` that names a ``best`` never written.) Each checkpoint is committed through
``checkpoint.save_checkpoint``'s atomic swap.

``open_resume`` gives the ``last`` checkpoint and the config to continue: the stored one, where only
the fields ``config.RESUME_OVERRIDES`` names can be given anew; they make a new config
(``dataclasses.replace``), validated, with ``out`` the folder the run is in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from convolab.train.checkpoint import (
    STATE_FILE,
    Checkpoint,
    kill_point,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from convolab.train.config import RESUME_OVERRIDES, TrainConfig
from convolab.train.runfolder import CONFIG_FILE, read_json
from convolab.train.state_checks import check_resumable

__all__ = ["COMMIT_ORDER", "open_resume", "save_run_checkpoint"]

COMMIT_ORDER = ("best", "last")


def save_run_checkpoint(
    run_dir: Path, which: tuple[str, ...], model: torch.nn.Module, state: dict, optimizer: dict | None
) -> Path:
    """Save the checkpoints ``which`` of ``run_dir`` in ``COMMIT_ORDER``; returns the last one's path."""
    weights = model.state_dict()
    names = sorted(which, key=COMMIT_ORDER.index)
    path = run_dir / names[-1]
    for i, name in enumerate(names):
        if i:
            kill_point(f"between-{names[i - 1]}-{name}")
        path = save_checkpoint(run_dir / name, weights=weights, state=state, optimizer=optimizer)
    return path


def open_resume(run: str | Path, overrides: dict[str, Any]) -> tuple[Checkpoint | None, TrainConfig]:
    """The ``last`` checkpoint of ``run`` and its config with ``overrides`` applied (validated).

    A run killed before its first checkpoint has only its ``config.json``: the checkpoint is then
    None and the run starts over from it (the same numbers, since a run is a function of its config).
    """
    run = Path(run)
    if not run.exists():
        raise ValueError(f"--resume {run}: no such run folder")
    ckpt = None
    try:
        ckpt = load_checkpoint(resolve_checkpoint(run, "last"))
    except ValueError as exc:
        if not (run / CONFIG_FILE).is_file() or (run / "last").exists() or (run / "best").exists():
            raise ValueError(f"--resume {run}: {exc}") from None
    if ckpt is not None:
        try:
            check_resumable(ckpt.state, ckpt.path / STATE_FILE)
        except ValueError as exc:
            raise ValueError(f"--resume {run}: {exc}") from None
    stored = TrainConfig.from_dict(ckpt.config if ckpt is not None else read_json(run / CONFIG_FILE))
    bad = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if bad:
        raise ValueError(
            f"resume continues the stored configuration; {', '.join(bad)} cannot change "
            f"(only {', '.join(RESUME_OVERRIDES)} can)"
        )
    out = str(ckpt.path.parent if ckpt is not None else run)
    return ckpt, dataclasses.replace(stored, **overrides, out=out).validate()
