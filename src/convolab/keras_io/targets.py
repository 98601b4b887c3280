"""Where import-keras and export may write: never over a run's checkpoints, never into a foreign folder.

``import-keras -o DIR`` writes ``DIR/last/``, ``DIR/best/`` and ``DIR/spec.yaml``. It may create DIR, fill
an empty DIR, or replace an earlier import (its checkpoints say ``imported_from`` and hold no optimizer
state); anything else in DIR (a trained run, a user's files, ``.``) is refused before any work.
``export -o FILE`` refuses a missing folder (it never creates one) and any file of a run or checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

IMPORT_ENTRIES = frozenset({"last", "best", "spec.yaml"})
RUN_FILES = frozenset(
    {
        "model.safetensors",
        "state.json",
        "optimizer.pt",
        "config.json",
        "log.jsonl",
        "summary.json",
        "spec.yaml",
    }
)


def _is_earlier_import(folder: Path) -> bool:
    names = {p.name for p in folder.iterdir()}
    if not names <= IMPORT_ENTRIES:
        return False
    for which in ("last", "best"):
        ckpt = folder / which
        if not ckpt.exists():
            continue
        if (ckpt / "optimizer.pt").exists():
            return False
        try:
            state = json.loads((ckpt / "state.json").read_text())
            if "imported_from" not in state["config"]["extra"]:
                return False
        except (OSError, ValueError, KeyError, TypeError):
            return False
    return True


def check_import_target(out: str | Path) -> Path:
    """``out`` if import-keras may write its run there, else a one-line ``ValueError``."""
    out = Path(out)
    if not out.exists():
        if not out.parent.is_dir() and out.parent != Path(""):
            raise ValueError(f"-o {out}: the folder {out.parent} does not exist")
        return out
    if not out.is_dir():
        raise ValueError(f"-o {out}: exists and is not a folder")
    if not any(out.iterdir()) or _is_earlier_import(out):
        return out
    if (out / "last" / "optimizer.pt").exists() or (out / "log.jsonl").exists():
        raise ValueError(
            f"-o {out}: holds a trained run; importing would replace its checkpoints; choose another -o"
        )
    raise ValueError(
        f"-o {out}: the folder is not empty and is not an earlier import; choose a new or empty folder"
    )


def check_export_target(out: str | Path) -> Path:
    """``out`` if export may write the file there, else a one-line ``ValueError``."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"-o {out}: the folder {parent} does not exist (export creates no folders)")
    if out.is_dir():
        raise ValueError(f"-o {out}: is a folder; give a file name")
    if out.name in RUN_FILES or (parent / "state.json").exists() or (parent / "model.safetensors").exists():
        raise ValueError(
            f"-o {out}: would write over a run's or checkpoint's files; choose a file outside it"
        )
    return out
