"""Where convolab keeps files of its own: the user cache (datasets, built kernels). Standard library only."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/convolab`` or ``~/.cache/convolab``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convolab"
