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
# Files whose presence marks a folder as a convolab run (so --overwrite never deletes anything else).
RUN_MARKERS = (CONFIG_FILE, LOG_FILE)


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
    return path.is_dir() and any((path / m).exists() for m in RUN_MARKERS)


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
            raise ValueError(f"--overwrite refused: {out} is not a convolab run folder (no {CONFIG_FILE})")
    return out


def prepare_run_dir(out: str | Path, *, overwrite: bool = False) -> Path:
    """``check_run_dir``, then create the folder empty (replacing an old run with ``overwrite``)."""
    out = check_run_dir(out, overwrite=overwrite)
    if out.is_dir() and any(out.iterdir()):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


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
