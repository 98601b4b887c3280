"""What a checkpoint's training state must hold: the types and ranges of the fields the loop reads
from ``state.json`` (counters, loss, history, best, RNG state) and what resuming needs beyond them.

``convolab.train.checkpoint.load_state`` reads the file and checks its format; it calls ``check_state``
so that a hand-edited or corrupt file gives one message naming the file, the field and the value.
"""

from __future__ import annotations

import base64
import math
import reprlib
from pathlib import Path
from typing import Any

import torch

__all__ = ["MAX_COUNTER", "check_resumable", "check_state"]

MAX_COUNTER = 10**12  # epochs and steps a state may claim (far beyond any real run)


def check_state(state: dict[str, Any], where: Path) -> None:
    """Types and ranges of the training fields of a state (missing optional fields get defaults)."""

    def bad(field: str, why: str) -> ValueError:
        return ValueError(f"{where}: {field} = {state.get(field)!r}: {why}")

    for key in ("epoch", "step", "global_step"):
        v = state[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_COUNTER:
            raise bad(key, f"must be an integer in [0, {MAX_COUNTER}]")
    if state["global_step"] < state["step"]:
        raise bad("global_step", f"must be >= step ({state['step']})")
    for key in ("spec", "config"):
        if not isinstance(state[key], dict):
            raise bad(key, "must be a mapping")
    state.setdefault("epoch_loss", [0.0, 0])
    state.setdefault("epoch_seconds", 0.0)
    state.setdefault("history", [])
    state.setdefault("best", {"metric": None, "value": None, "epoch": None})
    el = state["epoch_loss"]
    if not (isinstance(el, list) and len(el) == 2 and all(_finite(x) for x in el) and el[1] >= 0):
        raise bad("epoch_loss", "must be [finite loss sum, steps >= 0]")
    if not (_finite(state["epoch_seconds"]) and state["epoch_seconds"] >= 0):
        raise bad("epoch_seconds", "must be a finite number >= 0")
    hist = state["history"]
    if not isinstance(hist, list):
        raise bad("history", "must be a list of epoch records")
    for i, record in enumerate(hist):
        why = _bad_record(record)
        if why:
            raise ValueError(f"{where}: history = {_short(hist)}: entry {i}: {why}")
    best = state["best"]
    if not (isinstance(best, dict) and (best.get("value") is None or _finite(best["value"]))):
        raise bad("best", "must be a mapping with a finite 'value' (or null)")
    rng = state.get("rng", {})  # required to resume (check_resumable), not to evaluate or export
    if not isinstance(rng, dict) or not isinstance(rng.get("torch", ""), str):
        raise bad("rng", "must be a mapping of base64 RNG states")
    if "torch" in rng:
        want = torch.get_rng_state().numel()
        try:
            got = len(base64.b64decode(rng["torch"], validate=True))
        except ValueError:
            got = -1
        if got != want:
            raise ValueError(f"{where}: rng.torch: decodes to {got} bytes, a CPU generator state is {want}")


def _bad_record(record: Any) -> str:
    """Why one history entry is not an epoch record (``""``: it is one). ``epoch`` is required; the
    fields the figures and the metrics file read are typed when present."""
    if not isinstance(record, dict):
        return "must be an epoch record (a mapping)"
    epoch = record.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 1 <= epoch <= MAX_COUNTER:
        return f"'epoch' = {_short(epoch)}: must be an integer in [1, {MAX_COUNTER}]"
    seconds = record.get("seconds", 0)
    if not (_finite(seconds) and seconds >= 0):
        return f"'seconds' = {_short(seconds)}: must be a finite number >= 0"
    if "train_loss" in record and not _number(record["train_loss"]):
        return f"'train_loss' = {_short(record['train_loss'])}: must be a number"
    val = record.get("val", {})
    if not (isinstance(val, dict) and all(v is None or _number(v) for v in val.values())):
        return f"'val' = {_short(val)}: must be a mapping of metric values"
    return ""


def check_resumable(state: dict[str, Any], where: Path) -> None:
    """What resuming needs beyond ``check_state``: the RNG state (a resumed run is bitwise the
    uninterrupted one only when its random streams continue where they stopped)."""
    if "rng" not in state:
        raise ValueError(f"{where}: rng is missing: a checkpoint without its RNG state cannot be resumed")
    if "torch" not in state["rng"]:
        raise ValueError(f"{where}: rng = {_short(state['rng'])}: has no 'torch' state; it cannot be resumed")


def _short(value: Any) -> str:
    """``repr`` cut at 80 characters (a hand-edited field can be huge)."""
    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother, r.maxlist, r.maxdict = 3, 40, 40, 6, 6
    return r.repr(value)[:80]


def _number(x: Any) -> bool:
    """A JSON number (NaN and inf included: a diverged run's loss is still a record)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
