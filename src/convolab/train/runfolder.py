"""Run folders and their JSONL log.

A run folder holds ``config.json`` (the TrainConfig), ``log.jsonl`` (one JSON object per line: step
losses every ``log_every`` steps, one ``epoch`` record per epoch, resume/interrupt/stop events),
the checkpoints ``last/`` and ``best/``, ``summary.json`` (final test metrics) and the figures.
Each log line is flushed as it is written, so a killed run keeps its log up to the kill.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import IO, Any

CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
SUMMARY_FILE = "summary.json"
METRICS_CSV = "metrics.csv"
LOCK_FILE = ".lock"
TENSORBOARD_DIR = "tensorboard"  # event files (convolab.train.tblog), when tensorboard is installed
FIGURES = ("reconstructions.png", "curves.png", "feature_maps.png", "kernels.png", "latent_pca.png",
           "denoising.png")  # fmt: skip
# What a run writes into its folder: the only entries --overwrite removes (a user's other files stay).
RUN_ENTRIES = (CONFIG_FILE, LOG_FILE, SUMMARY_FILE, METRICS_CSV, LOCK_FILE, "last", "best", ".last.old",
               ".best.old", TENSORBOARD_DIR, *FIGURES)  # fmt: skip


class RunLog:
    """Append-only JSONL log; every record gets a ``time`` (Unix seconds) and ``kind``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = open(self.path, "a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> None:
        if self._fh is None:
            raise ValueError(f"log {self.path} is closed")
        record = {"kind": kind, "time": round(time.time(), 3), **fields}
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
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


def check_run_dir(out: str | Path, *, overwrite: bool = False) -> Path:
    """Refuse an ``--out`` that would lose work; nothing is changed on disk.

    An existing non-empty folder is refused unless ``overwrite`` is set, and even then only a folder
    that is a convolab run may be replaced. A path that is a file is refused.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(
                f"run folder {out} already exists; use --resume {out} to continue it, "
                "--overwrite to replace it, or another --out"
            )
        if not is_run_dir(out):
            raise ValueError(
                f"overwrite refused: {out} is not a convolab run folder (no convolab {CONFIG_FILE})"
            )
        RunLock(out).acquire().release()  # a run still writing there is refused, not deleted
    return out


def prepare_run_dir(out: str | Path, *, overwrite: bool = False) -> Path:
    """``check_run_dir``, then create the folder empty (replacing an old run with ``overwrite``)."""
    out = check_run_dir(out, overwrite=overwrite)
    if out.is_dir():
        for name in RUN_ENTRIES:  # only what a run wrote; any other file stays
            entry = out / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.exists() or entry.is_symlink():
                entry.unlink()
        for stale in out.glob(".*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


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
