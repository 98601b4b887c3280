"""Checkpoints: a folder with weights (safetensors), state (JSON) and optimizer state, written atomically.

Layout of a checkpoint folder (docs/architecture.md, "Checkpoints")::

    model.safetensors   the model's state_dict (no pickle: safetensors is a plain header + raw bytes)
    state.json          format marker, convolab version, model spec, train config, epoch, step within
                        the epoch, global step, RNG states (base64), metrics history, best metric
    optimizer.pt        torch.save of the optimizer's state_dict, loaded with weights_only=True

A save writes everything into a temporary sibling folder, fsyncs it, then swaps it into place with
renames: the old folder is renamed to ``.NAME.old``, the new one to ``NAME``, and the old one removed.
A crash at any point leaves either the new checkpoint, or the previous one (under ``NAME`` or
``.NAME.old``); ``resolve_checkpoint`` finds whichever is complete.

``load_state`` checks the format of ``state.json`` here; the types and ranges of its training fields are
checked in ``convolab.train.state_checks``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from convolab.train.state_checks import check_state

CHECKPOINT_FORMAT = "convolab-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "state.json"
OPTIMIZER_FILE = "optimizer.pt"


@dataclass
class Checkpoint:
    """A loaded checkpoint: its folder, ``state.json`` contents, weights and optimizer state."""

    path: Path
    state: dict[str, Any]
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None

    @property
    def spec(self) -> dict[str, Any]:
        return self.state["spec"]

    @property
    def config(self) -> dict[str, Any]:
        return self.state["config"]


# Tests only: "BOUNDARY:N" kills this process (SIGKILL) the Nth time it reaches BOUNDARY, e.g.
# "last:swapped-in:3". Boundaries: NAME:written, NAME:swapped-out, NAME:swapped-in (each save of NAME)
# and between-best-last (convolab.train.run_checkpoints). tests/test_train_kill.py kills at every one.
KILL_ENV = "CONVOLAB_TEST_KILL_AT"
_kill_hits: dict[str, int] = {}


def kill_point(name: str) -> None:
    """Die here if ``$CONVOLAB_TEST_KILL_AT`` names this boundary (a no-op when it is unset)."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    want, _, count = spec.rpartition(":")
    if want != name:
        return
    _kill_hits[name] = _kill_hits.get(name, 0) + 1
    if _kill_hits[name] == int(count):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _version() -> str:
    """convolab's installed version (from the package metadata: no import of the package root)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("convolab")
    except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
        return "unknown"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def save_checkpoint(
    path: str | Path,
    *,
    weights: dict[str, torch.Tensor],
    state: dict[str, Any],
    optimizer: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder at ``path`` atomically (see the module docstring); returns ``path``.

    Args:
        path: the checkpoint folder, e.g. ``runs/x/last``.
        weights: a model ``state_dict``; tensors are copied to CPU, contiguous.
        state: JSON-able training state; the format marker and version are added here.
        optimizer: an optimizer ``state_dict`` (tensors, numbers, lists: loadable with weights_only).
    """
    path = Path(path)
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{path.name}.tmp-{os.getpid()}"
    old = parent / f".{path.name}.old"
    for stale in parent.glob(f".{path.name}.tmp-*"):  # left by a killed save (one writer per run)
        shutil.rmtree(stale, ignore_errors=True)
    full_state = {"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, "convolab": _version()}
    full_state.update(state)
    try:
        tmp.mkdir()
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
        save_file(tensors, str(tmp / WEIGHTS_FILE))
        if optimizer is not None:
            torch.save(optimizer, tmp / OPTIMIZER_FILE)
        (tmp / STATE_FILE).write_text(json.dumps(full_state, indent=1) + "\n")
        for name in (WEIGHTS_FILE, OPTIMIZER_FILE, STATE_FILE):
            if (tmp / name).exists():
                _fsync_file(tmp / name)
        _fsync_dir(tmp)
        kill_point(f"{path.name}:written")
        if path.exists() and old.exists():
            shutil.rmtree(old)  # a previous save crashed after its swap; `path` is complete
        if path.exists():
            os.replace(path, old)
            kill_point(f"{path.name}:swapped-out")
        os.replace(tmp, path)
        _fsync_dir(parent)
        kill_point(f"{path.name}:swapped-in")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


def remove_stale(run_dir: str | Path, names: tuple[str, ...] = ("best", "last")) -> None:
    """Remove what a killed save left: ``.NAME.old`` beside a complete ``NAME``, and temp folders."""
    run_dir = Path(run_dir)
    for name in names:
        old = run_dir / f".{name}.old"
        if old.is_dir() and (run_dir / name / STATE_FILE).is_file():
            shutil.rmtree(old, ignore_errors=True)
        for stale in run_dir.glob(f".{name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)


CHECKPOINT_NAMES = ("best", "last")  # the checkpoints of a run folder


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """Find a checkpoint folder from a run folder (``which``: best or last) or a checkpoint folder.

    Falls back to ``.NAME.old`` when a crash interrupted a save between its two renames, and from
    ``best`` to ``last`` when no best exists yet.
    """
    if which not in CHECKPOINT_NAMES:
        choices = " or ".join(repr(n) for n in CHECKPOINT_NAMES)
        raise ValueError(f"unknown checkpoint {which!r}: choose {choices}")
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such run or checkpoint: {path}")
    if not path.is_dir():
        raise ValueError(f"not a convolab checkpoint (a checkpoint is a folder): {path}")
    if (path / STATE_FILE).exists() or (path / WEIGHTS_FILE).exists():
        return path
    order = [which] + [w for w in CHECKPOINT_NAMES if w != which]
    for name in order:
        for cand in (path / name, path / f".{name}.old"):
            if (cand / STATE_FILE).exists():
                return cand
    raise ValueError(f"no checkpoint in {path} (looked for {', '.join(order)}/{STATE_FILE})")


def _read_capped(path: Path, cap: int) -> str:
    """The text of regular file ``path``, refused past ``cap`` bytes before anything is parsed (the
    size is read from the open file, and at most ``cap + 1`` bytes are ever read)."""
    try:
        with open(path, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ValueError(f"{path} is not a regular file; not a convolab checkpoint state")
            data = f.read(cap + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > cap:
        raise ValueError(f"{path} is over {cap >> 20} MiB (limits.MAX_STATE_BYTES): not a checkpoint state")
    return data.decode("utf-8")


def load_state(path: str | Path) -> dict[str, Any]:
    """Read and check ``state.json`` of a checkpoint folder (clear ValueError when it is not one).

    Every field the loop reads is checked for type and range (counters, RNG state size, history), so a
    hand-edited or corrupt file gives one message naming the file, the field and the value.
    """
    from convolab.limits import MAX_STATE_BYTES

    path = Path(path)
    state_path = path / STATE_FILE
    if not state_path.is_file():
        raise ValueError(f"not a convolab checkpoint (no {STATE_FILE}): {path}")
    try:
        state = json.loads(_read_capped(state_path, MAX_STATE_BYTES))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"not a convolab checkpoint ({STATE_FILE} is not JSON: {first}): {path}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"not a convolab checkpoint ({STATE_FILE} lacks the format marker): {path}")
    version = state.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{state_path}: format_version = {version!r}: must be an integer")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"checkpoint format {version} is newer than this convolab understands ({FORMAT_VERSION}): {path}"
        )
    for key in ("spec", "config", "epoch", "step", "global_step"):
        if key not in state:
            raise ValueError(f"corrupt checkpoint ({STATE_FILE} has no {key!r}): {path}")
    check_state(state, state_path)
    return state


def load_checkpoint(path: str | Path, *, with_optimizer: bool = True) -> Checkpoint:
    """Load a checkpoint folder (weights on CPU). Nothing is unpickled: safetensors + weights_only."""
    path = Path(path)
    state = load_state(path)
    wpath = path / WEIGHTS_FILE
    if not wpath.is_file():
        raise ValueError(f"corrupt checkpoint (no {WEIGHTS_FILE}): {path}")
    try:
        weights = load_file(str(wpath))
    except Exception as exc:  # safetensors raises its own error type for truncated/corrupt files
        raise ValueError(f"corrupt or truncated {WEIGHTS_FILE} in {path}: {exc}") from None
    opt = None
    opath = path / OPTIMIZER_FILE
    if with_optimizer and opath.is_file():
        try:
            opt = torch.load(opath, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling refused or truncated file
            raise ValueError(f"corrupt or unsafe {OPTIMIZER_FILE} in {path}: {exc}") from None
    return Checkpoint(path=path, state=state, weights=weights, optimizer=opt)


def check_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str | Path) -> None:
    """Raise ValueError when ``weights`` do not fit ``model`` (missing/unexpected keys, shapes) or are
    not finite (NaN or inf: a run's own checkpoint is refused as import-keras refuses such weights)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    shapes = [
        f"{k} {tuple(weights[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(weights))
        if tuple(own[k].shape) != tuple(weights[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}")
    if shapes:
        problems.append(f"shape mismatch {'; '.join(shapes[:5])}")
    if problems:
        raise ValueError(f"checkpoint {source} does not fit this model: {'; '.join(problems)}")
    for k in sorted(weights):  # as import-keras refuses them: a NaN model evaluates to NaN, silently
        t = weights[k]
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int(t.numel() - torch.isfinite(t).sum())
            raise ValueError(
                f"{Path(source) / WEIGHTS_FILE}: tensor {k!r} holds {bad} NaN or infinite values; "
                "weights must be finite"
            )


def rng_state() -> dict[str, Any]:
    """The global torch RNG states (CPU and CUDA) as base64 strings (JSON-able)."""

    def enc(t: torch.Tensor) -> str:
        return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")

    out: dict[str, Any] = {"torch": enc(torch.get_rng_state())}
    if torch.cuda.is_available():
        out["cuda"] = [enc(s) for s in torch.cuda.get_rng_state_all()]
    return out


def restore_rng(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned (CUDA states only where CUDA exists)."""

    def dec(s: str) -> torch.Tensor:
        return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8)

    if "torch" in state:
        torch.set_rng_state(dec(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([dec(s) for s in state["cuda"]][: torch.cuda.device_count()])
