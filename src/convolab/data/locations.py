"""Where datasets are looked for, in the order of docs/architecture.md.

1. an explicit ``data_dir`` (the folder itself, or ``data_dir/<name>``),
2. ``$CONVOLAB_DATA/<name>``,
3. the user cache ``$XDG_CACHE_HOME/convolab/<name>`` (default ``~/.cache/convolab/<name>``),
4. system dataset folders (``/usr/share/datasets/<name>``: Debian's ``dataset-fashion-mnist``),
5. download into the first writable place of 1-3.
"""

from __future__ import annotations

import os
from pathlib import Path

from convolab.data.registry import DatasetSpec, FileSpec
from convolab.paths import user_cache_root

ENV_VAR = "CONVOLAB_DATA"
# Module-level so tests can point it elsewhere.
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)


def candidate_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """``(label, folder)`` pairs to search for dataset ``name``, highest priority first."""
    out: list[tuple[str, Path]] = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        out += [("--data-dir", root), ("--data-dir", root / name)]
    env = os.environ.get(ENV_VAR)
    if env:
        out.append((ENV_VAR, Path(env).expanduser() / name))
    out.append(("user cache", user_cache_root() / name))
    out += [("system", d / name) for d in SYSTEM_DIRS]
    return out


def download_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Where a download of ``name`` goes: ``data_dir``, else ``$CONVOLAB_DATA/<name>``, else the cache."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser() / name
    return user_cache_root() / name


def find_file(folder: Path, spec: FileSpec) -> Path | None:
    """The file of ``spec`` in ``folder``: as distributed (``x.gz``) or decompressed (``x``)."""
    for fname in dict.fromkeys((spec.name, spec.raw_name)):
        path = folder / fname
        if path.is_file():
            return path
    return None


def find_cifar_members(folder: Path, spec: DatasetSpec) -> dict[str, Path] | None:
    """Extracted CIFAR-10 ``*.bin`` files in ``folder`` or ``folder/cifar-10-batches-bin``."""
    for sub in (folder, folder / "cifar-10-batches-bin"):
        paths = {m: sub / m for m in spec.members}
        if all(p.is_file() for p in paths.values()):
            return paths
    return None


def split_present(folder: Path, spec: DatasetSpec, split: str) -> bool:
    """Whether every file of ``split`` is in ``folder`` (existence only; checksums come later)."""
    if spec.kind == "cifar10-binary" and find_cifar_members(folder, spec) is not None:
        return True
    return all(find_file(folder, f) is not None for f in spec.split_files(split))


def owner_of(folder: Path, split: str) -> str | None:
    """The registered IDX dataset whose ``split`` label file is in ``folder``, by checksum, or None.

    MNIST, Fashion-MNIST and KMNIST use the same file names, so a ``--data-dir`` holding one of them
    must not be taken for another. Label files are tiny (10-60 kB): this costs milliseconds.
    """
    import hashlib

    from convolab.data.idx import read_idx_bytes
    from convolab.data.registry import DATASETS

    digests: dict[Path, tuple[str, str | None]] = {}
    for spec in DATASETS.values():
        if spec.kind != "idx":
            continue
        fspec = spec.files[spec.splits[split][1]]
        path = find_file(folder, fspec)
        if path is None:
            continue
        if path not in digests:
            try:
                content = hashlib.sha256(read_idx_bytes(path, max_bytes=1 << 20)).hexdigest()
            except ValueError:
                content = None
            digests[path] = (hashlib.sha256(path.read_bytes()).hexdigest(), content)
        pins = {fspec.sha256, fspec.content_sha256} - {None}
        if pins & set(digests[path]):
            return spec.name
    return None


def is_foreign(name: str, folder: Path, split: str) -> bool:
    """Whether ``folder`` demonstrably holds another dataset's ``split`` (see :func:`owner_of`)."""
    owner = owner_of(folder, split)
    return owner is not None and owner != name


def resolve(name: str, data_dir: str | os.PathLike | None = None, *, split: str | None = None) -> Path | None:
    """The first folder holding dataset ``name`` (all its splits, or only ``split``), or None.

    Existence only: checksums are verified when the data are loaded (or by ``convolab data verify``).
    """
    from convolab.data.registry import get_spec

    spec = get_spec(name)
    splits = [split] if split is not None else list(spec.splits)
    for _, folder in candidate_dirs(name, data_dir):
        if all(split_present(folder, spec, s) and not is_foreign(name, folder, s) for s in splits):
            return folder
    return None
