"""Paths of particular machines, which no tracked file may name (issue 26, item 9).

A user's checkout has none of the team's folders: not the development machines' work and home folders,
not the shared folder beside the checkout that once held a dataset. Fixed scratch folders under /tmp are
refused in code and scripts (two runs would share them; a reproduce command must write where its user
says). Legitimate absolute paths stay allowed: `/usr/share/datasets/...` (where Debian's dataset packages
put their files), `/etc/...` and `/proc/...` in hostile-input tests, `/tmp/...` in documented example
commands (any user can write there) and as test data.
"""

from __future__ import annotations

import re

_START = r"(?<![\w.~-])"  # a path's own start: not inside a longer word or a relative path
LEAKS = {
    "a development machine's work folder": re.compile(_START + r"/work/"),
    "root's home folder": re.compile(_START + r"/root/"),
    "someone's home folder": re.compile(_START + r"/home/[A-Za-z_]"),
    "the shared folder beside the checkout": re.compile(r"\.\./shared\b|\bshared/data\b"),
    "the shared data variable": re.compile(r"CONVOLAB_SHARED" r"_DATA"),
}
SCRATCH = re.compile(_START + r"/tmp/[\w.-]")  # refused in code and scripts only
CODE_SUFFIXES = (".py", ".sh", ".c", ".h", ".js", ".toml", ".cfg", ".yml", ".yaml")
CODE_NAMES = ("Makefile",)


def leaks(text: str, *, code: bool = False) -> list[str]:
    """What in ``text`` names a particular machine: ``'why: the matched text'`` per finding."""
    found = [f"{why}: {m.group(0)}" for why, rx in LEAKS.items() for m in rx.finditer(text)]
    if code:
        found += [f"a fixed scratch folder: {m.group(0)}" for m in SCRATCH.finditer(text)]
    return found
