"""Run folders and their JSONL log.

A run folder holds ``config.json`` (the TrainConfig), ``log.jsonl`` (one JSON object per line: step
losses every ``log_every`` steps, one ``epoch`` record per epoch, resume/interrupt/stop events),
the checkpoints ``last/`` and ``best/``, ``summary.json`` (final test metrics) and the figures.
Each log line is flushed as it is written, so a killed run keeps its log up to the kill.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
SUMMARY_FILE = "summary.json"
METRICS_CSV = "metrics.csv"
LOCK_FILE = ".lock"
TENSORBOARD_DIR = "tensorboard"  # event files (convolab.train.tblog), when tensorboard is installed
FIGURES = (
    "reconstructions.png",
    "curves.png",
    "feature_maps.png",
    "kernels.png",
    "latent_pca.png",
    "denoising.png",
)
# What a run writes into its folder: the only entries --overwrite removes (a user's other files stay).
RUN_ENTRIES = (
    CONFIG_FILE,
    LOG_FILE,
    SUMMARY_FILE,
    METRICS_CSV,
    LOCK_FILE,
    "last",
    "best",
    ".last.old",
    ".best.old",
    TENSORBOARD_DIR,
    *FIGURES,
)


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr: a failure that costs a nicety (a log), not the run."""
    sys.stderr.write(f"warning: {' '.join(message.split())}\n")
    sys.stderr.flush()


class LogWriter(Protocol):
    """What a run logs to: ``RunLog`` (rank 0), ``NullLog`` (other ranks) or a ``LazyLog`` of either."""

    def write(self, kind: str, **fields: Any) -> None: ...

    def close(self) -> None: ...


class LazyLog:
    """A log opened by ``open_log`` at its first write: a Trainer built on a run folder writes nothing
    there until it logs (a resume refused while loading its checkpoint leaves the folder as it was)."""

    def __init__(self, open_log: Callable[[], LogWriter]) -> None:
        self._open = open_log
        self._log: LogWriter | None = None

    def write(self, kind: str, **fields: Any) -> None:
        if self._log is None:
            self._log = self._open()
        self._log.write(kind, **fields)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


class RunLog:
    """Append-only JSONL log; every record gets a ``time`` (Unix seconds) and ``kind``.

    A log that cannot be opened is a ``ValueError`` naming the file (before the run trains); a write
    that fails later (a full disk, the file made read-only) is reported once (:func:`warn`) and the run
    goes on without its log: the checkpoints and metrics.csv still hold the history."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.failed = False
        try:
            self._fh: IO[str] | None = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot write the run's log {self.path}: {exc.strerror or exc}") from None

    def write(self, kind: str, **fields: Any) -> None:
        if self.failed:
            return
        if self._fh is None:
            raise ValueError(f"log {self.path} is closed")
        record = {"kind": kind, "time": round(time.time(), 3), **fields}
        try:
            self._fh.write(json.dumps(record) + "\n")
            self._fh.flush()
        except OSError as exc:
            self.failed = True
            warn(
                f"cannot write the run's log {self.path} ({exc.strerror or exc}); training goes on "
                "without it (the checkpoints and metrics.csv keep the history)"
            )

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:  # the last flush failed: reported by write() already, or nothing was lost
                pass
            self._fh = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL log; a torn last line (the process was killed mid-write) is skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def is_run_dir(path: Path) -> bool:
    """A folder a convolab run marks as its own: a ``config.json`` that is a train config."""
    try:
        data = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False
    if not isinstance(data, dict) or not {"model", "dataset", "epochs", "seed"} <= set(data):
        return False
    from convolab.train.config import TrainConfig

    try:
        TrainConfig.from_dict(data)
    except (ValueError, TypeError):
        return False
    return True


class RunLock:
    """An exclusive lock on a run folder (``.lock``, ``flock``): one writer at a time.

    The kernel drops the lock when the process ends, however it ends (SIGKILL included), so a stale
    lock file never blocks a ``--resume``. (A raw descriptor: a lock never released by a caller that
    forgets is closed with the process, without a ResourceWarning.)
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / LOCK_FILE
        self._fd: int | None = None
        self.created = False  # claim_run_dir: this lock file is new (a failed start removes it)

    def acquire(self) -> RunLock:
        import fcntl
        import os

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            who = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise ValueError(
                f"run folder {self.path.parent} is in use by another convolab process (pid {who}); "
                "wait for it to finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            import os

            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


CHECKPOINTS = ("last", "best", ".last.old", ".best.old")
TEMP_ENTRIES = tuple(
    f".{name}.tmp" for name in RUN_ENTRIES
)  # an atomic write cut short (write_json, figures)


def is_failed_start(path: Path) -> bool:
    """A folder a start left before it trained anything (killed, or failed on an older convolab): only
    a run's own entries, no checkpoint, no metrics, no summary, and either nothing but ``.lock`` (and an
    empty ``tensorboard/``) or a convolab ``config.json``. Such a folder is reused by the next start.
    Reads only; the caller holds the folder's lock before it removes anything (a run in its first
    epoch looks the same, and holds the lock)."""
    try:
        entries = {p.name: p for p in path.iterdir()}
    except OSError:
        return False
    names = set(entries)
    if not names <= {*RUN_ENTRIES, *TEMP_ENTRIES} or names & {
        SUMMARY_FILE,
        METRICS_CSV,
        *CHECKPOINTS,
        *FIGURES,
    }:
        return False
    if CONFIG_FILE in names:
        return is_run_dir(path)
    tb = entries.get(TENSORBOARD_DIR)
    if tb is not None and (tb.is_symlink() or not tb.is_dir() or any(tb.iterdir())):
        return False
    return names <= {LOCK_FILE, TENSORBOARD_DIR}


def check_run_dir(out: str | Path, *, overwrite: bool = False, locked: bool = False) -> Path:
    """Refuse an ``--out`` that would lose work; nothing is changed on disk.

    An existing non-empty folder is refused unless ``overwrite`` is set, and even then only a folder
    that is a convolab run may be replaced. A path that is a file is refused. A folder left by a start
    that failed before training (:func:`is_failed_start`) is reused as if it were empty. ``locked``:
    the caller holds the folder's lock already (the check again, under it).
    """
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise ValueError(f"--out {out} is a symbolic link that leads nowhere; choose another --out")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not is_failed_start(out):
        if not overwrite:
            raise ValueError(
                f"run folder {out} already exists; use --resume {out} to continue it, "
                "--overwrite to replace it, or another --out"
            )
        if not is_run_dir(out):
            raise ValueError(
                f"overwrite refused: {out} is not a convolab run folder (no convolab {CONFIG_FILE})"
            )
        if not locked:  # a run still writing there is refused, not deleted
            RunLock(out).acquire().release()
    return out


def claim_run_dir(out: str | Path, *, overwrite: bool = False) -> RunLock:
    """``check_run_dir``, then create the folder and take its lock, then (under the lock, checked
    again) empty it of an old run's entries (``overwrite``, or a failed start's). Returns the held lock:
    a run still writing there is refused before anything is removed, and no ``.lock`` is ever deleted
    (another process may hold it)."""
    out = check_run_dir(out, overwrite=overwrite)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    new_lock = not (out / LOCK_FILE).exists()
    try:
        lock = RunLock(out).acquire()
        lock.created = new_lock
    except BaseException:
        if created:
            _remove_empty(out)
        raise
    try:
        check_run_dir(out, overwrite=overwrite, locked=True)  # again, under the lock
        clear_run_entries(out)
    except BaseException:
        lock.release()
        raise
    return lock


def clear_run_entries(out: Path) -> None:
    """Remove what a run wrote into ``out`` (``RUN_ENTRIES``, temp files), keeping ``.lock``."""
    for name in RUN_ENTRIES:  # only what a run wrote; any other file stays
        entry = out / name
        if name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.exists() or entry.is_symlink():
            entry.unlink()
    for stale in [*out.glob(".*.tmp-*"), *(out / name for name in TEMP_ENTRIES)]:
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        elif stale.exists() or stale.is_symlink():
            stale.unlink()


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def abandon_start(lock: RunLock, created: bool) -> None:
    """A start failed after :func:`claim_run_dir`: remove what it wrote, its ``.lock`` if it made it,
    and the folder if it made it: the folder is as it was before."""
    out = lock.path.parent
    try:
        clear_run_entries(out)
        if lock.created:
            lock.path.unlink(missing_ok=True)
    finally:
        lock.release()
    if created:
        _remove_empty(out)


CSV_COLUMNS = (
    "epoch",
    "train_loss",
    "val_bce",
    "val_mse",
    "val_psnr",
    "val_ssim",
    "seconds",
    "images_per_second",
)


def write_metrics_csv(path: str | Path, history: list[dict[str, Any]]) -> None:
    """The epoch records as CSV (one row per epoch, ``CSV_COLUMNS``), rewritten atomically."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for h in history:
        val = h.get("val", {})
        row = [h.get("epoch"), h.get("train_loss"), *(val.get(k) for k in ("bce", "mse", "psnr", "ssim"))]
        writer.writerow([*row, h.get("seconds"), h.get("images_per_second")])
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"missing {path.name} in {path.parent}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
