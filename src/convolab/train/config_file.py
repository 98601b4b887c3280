"""Reading a ``--config`` file within bounds: a regular file only (a FIFO, a device or a folder is refused
without opening it), at most ``MAX_CONFIG_BYTES`` read, YAML without aliases. No torch, no numpy.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from convolab.limits import MAX_CONFIG_BYTES


def read_config_bytes(path: Path) -> bytes:
    """The bytes of a config file: a regular file only (stat before open; a FIFO, a device or a folder
    is refused without opening it), opened non-blocking and checked again on the open descriptor (it
    may have been swapped), and at most ``MAX_CONFIG_BYTES`` read whatever the file says its size is."""
    what = f"config file {path}"
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{what} is not a regular file ({_kind(st.st_mode)}); give a YAML/JSON file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ValueError(f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{what} is not a regular file ({_kind(st.st_mode)}); give a YAML/JSON file")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"{what} is over {MAX_CONFIG_BYTES} bytes; a train config is a few lines")
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ValueError(f"cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:  # it grew while read (a file being written)
        raise ValueError(f"{what} is over {MAX_CONFIG_BYTES} bytes; a train config is a few lines")
    return b"".join(chunks)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a pipe"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` without aliases (a few bytes of aliases can expand to gigabytes)."""
    import yaml

    class _NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise ValueError("YAML aliases (*name) are not allowed in a train config")
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=_NoAliases)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None
