"""Datasets as the lab reads them: registered names only, configured folders only, never a download.

The lab reads a dataset's *test* split from

1. a run's own recorded ``data_dir``, when that folder is one the lab may read (for that run's samples);
2. the server's ``--data-dir`` folders, in the order given;
3. the usual places (``$CONVOLAB_DATA``, the user cache, ``/usr/share/datasets``).

"May read" means: one of the ``--data-dir`` folders or inside one, or one of the usual places. A run's
data folder anywhere else is refused with a message naming the ``--data-dir`` to add; a ``folder:PATH``
dataset (a run trained on the user's own images) is never read, since its path comes from a file in the
run folder. ``download=False`` always: a request never fetches anything from the internet.

Loaded splits are kept per worker process (a few of them), keyed by name and folder.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from convolab.lab.http import ApiError

_CACHE: OrderedDict[tuple[str, str | None], Any] = OrderedDict()
CACHE_SIZE = 4


def dataset_names() -> tuple[str, ...]:
    from convolab.data import DATASETS

    return tuple(DATASETS)


def _usual_dirs(name: str) -> list[Path]:
    from convolab.data import candidate_dirs

    return [p for _, p in candidate_dirs(name, None)]


def allowed(folder: Any, name: str, data_dirs: list[str]) -> bool:
    """Whether the lab may read dataset ``name`` from ``folder`` (see the module docstring)."""
    if not isinstance(folder, str) or not folder or "\x00" in folder:
        return False
    real = Path(folder).expanduser().resolve()
    roots = [Path(d).expanduser().resolve() for d in data_dirs] + [p.resolve() for p in _usual_dirs(name)]
    return any(real == r or real.is_relative_to(r) for r in roots)


def _load(name: str, folder: str | None) -> Any:
    from convolab.data import load_dataset

    key = (name, folder)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    ds = load_dataset(name, "test", data_dir=folder, download=False)
    _CACHE[key] = ds
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return ds


def load_test_split(name: Any, data_dirs: list[str], first: str | None = None) -> Any:
    """The test split of registered dataset ``name`` from the first folder that has it.

    Args:
        name: a registered dataset name (``folder:...`` and unknown names are refused, 400).
        data_dirs: the server's ``--data-dir`` folders.
        first: a folder to try before them (a run's own data folder; must be an allowed one).
    """
    from convolab.data.errors import DatasetNotFoundError

    names = dataset_names()
    if not isinstance(name, str) or name not in names:
        if isinstance(name, str) and name.startswith("folder:"):
            raise ApiError("this run was trained on a folder: dataset; the lab does not read folder datasets")
        raise ApiError(f"dataset must be one of {', '.join(names)}, got {str(name)[:60]!r}")
    if first is not None and not allowed(first, name, data_dirs):
        raise ApiError(
            f"the run's data folder {first} is not one the lab may read; start the lab with "
            f"--data-dir {first}",
            403,
        )
    folders: list[str | None] = [first] if first is not None else []
    folders += [d for d in data_dirs if d != first] + [None]
    last: Exception | None = None
    for folder in folders:
        try:
            return _load(name, folder)
        except DatasetNotFoundError as exc:
            last = exc
        except ValueError as exc:  # e.g. a --data-dir that is not a folder
            last = exc
    raise ApiError(f"{name}'s test split is not on this machine and the lab never downloads ({last})", 404)
