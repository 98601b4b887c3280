"""The state of every registered dataset on this machine (``convolab data list`` / ``verify``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from convolab.data.checksums import Verification, file_digests, verify_file
from convolab.data.locations import (
    candidate_dirs,
    find_cifar_members,
    find_file,
    is_foreign,
    split_present,
)
from convolab.data.registry import DATASETS, DatasetSpec, get_spec


@dataclass
class DatasetStatus:
    """Where a dataset was found and whether its files verify.

    Attributes:
        name: registry name; where: ``--data-dir``/``CONVOLAB_DATA``/``user cache``/``system`` or "".
        folder: the folder found (None when missing); splits: the splits present there.
        files: one :class:`Verification` per file (state ``not checked`` when verify=False).
        size: total bytes of the files found.
    """

    name: str
    where: str = ""
    folder: Path | None = None
    splits: list[str] = field(default_factory=list)
    files: list[Verification] = field(default_factory=list)
    size: int = 0

    @property
    def state(self) -> str:
        """``verified``, ``MISMATCH``, ``unverified``, ``not checked`` or ``missing``."""
        if self.folder is None:
            return "missing"
        states = {v.state for v in self.files}
        if "mismatch" in states:
            return "MISMATCH"
        if states == {"verified"}:
            return "verified"
        if "unpinned" in states:
            return "unverified"
        return "not checked"


def _paths(spec: DatasetSpec, folder: Path, splits: list[str]) -> list[tuple[Path, str | None]]:
    """Files to check: ``(path, pinned member sha256 or None for registry files)``."""
    out: list[tuple[Path, str | None]] = []
    members = find_cifar_members(folder, spec) if spec.kind == "cifar10-binary" else None
    if members is not None and find_file(folder, spec.files["cifar-10-binary.tar.gz"]) is None:
        return [(p, spec.members[m]) for m, p in members.items()]
    for fname in dict.fromkeys(f for s in splits for f in spec.splits[s]):
        path = find_file(folder, spec.files[fname])
        if path is not None:
            out.append((path, None))
    return out


def _check(spec: DatasetSpec, path: Path, member_sha: str | None) -> Verification:
    if member_sha is None:
        fname = path.name if path.name in spec.files else path.name + ".gz"
        return verify_file(path, spec.files[fname])
    sha = file_digests(path)[0]
    if sha == member_sha:
        return Verification(path, "verified", "sha256 of member")
    return Verification(path, "mismatch", detail=f"sha256 {sha}, expected {member_sha}")


def dataset_status(
    name: str, data_dir: str | os.PathLike | None = None, *, verify: bool = True
) -> DatasetStatus:
    """Status of one dataset: the first folder holding any of its splits, and its files' checksums.

    A folder that holds another MNIST-family dataset (same file names) is passed over.
    """
    spec = get_spec(name)
    for label, folder in candidate_dirs(name, data_dir):
        splits = [
            s for s in spec.splits if split_present(folder, spec, s) and not is_foreign(name, folder, s)
        ]
        if not splits:
            continue
        files = _paths(spec, folder, splits)
        checks = [_check(spec, p, sha) if verify else Verification(p, "not checked") for p, sha in files]
        size = sum(p.stat().st_size for p, _ in files)
        return DatasetStatus(name, label, folder, splits, checks, size)
    return DatasetStatus(name)


def all_status(data_dir: str | os.PathLike | None = None, *, verify: bool = True) -> list[DatasetStatus]:
    """:func:`dataset_status` of every registered dataset, in registry order."""
    return [dataset_status(n, data_dir, verify=verify) for n in DATASETS]
