"""Checksums of data files against the pinned values of the registry.

A file is *verified* when its bytes match the pinned SHA-256 of the distributed file, or, for an IDX
file, when its decompressed bytes match the pinned content SHA-256 (a recompressed copy such as
Debian's, or a gunzipped one). MD5s are checked as well wherever they are pinned.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from convolab.data.errors import ChecksumError
from convolab.data.registry import FileSpec

_CHUNK = 1 << 20


def file_digests(path: Path) -> tuple[str, str]:
    """``(sha256, md5)`` hex digests of a file, read in chunks."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def bytes_digests(data: bytes | bytearray) -> tuple[str, str]:
    """``(sha256, md5)`` hex digests of bytes in memory."""
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one file.

    Attributes:
        state: ``verified``, ``mismatch`` or ``unpinned`` (no published checksum for this form).
        how: which checksums matched, e.g. ``sha256+md5 of archive``.
        detail: the digests found, for error messages.
    """

    path: Path
    state: str
    how: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "verified"


def _match(found: tuple[str, str], sha: str | None, md5: str | None) -> bool | None:
    """True/False when a pinned SHA-256 exists, None when nothing is pinned."""
    if sha is None:
        return None
    return found[0] == sha and (md5 is None or found[1] == md5)


def _label(sha: str, md5: str | None, what: str) -> str:
    return f"sha256{'+md5' if md5 else ''} of {what}"


def verify_file(
    path: Path, spec: FileSpec, content: bytes | bytearray | None = None, *, quick: bool = False
) -> Verification:
    """Check ``path`` (the distributed file or its decompressed form) against ``spec``.

    Args:
        path: the file on disk.
        spec: the pinned checksums.
        content: the decompressed bytes if the caller already has them (saves a second pass).
        quick: with ``content``, accept a matching content SHA-256 alone (one hash instead of four;
            what loading uses). A mismatch still goes through every check for a precise report.
    """
    if quick and content is not None and spec.content_sha256 is not None:
        ok = hashlib.sha256(content).hexdigest() == spec.content_sha256
        if ok:
            return Verification(path, "verified", "sha256 of content")
    found = file_digests(path)
    if _match(found, spec.sha256, spec.md5):
        return Verification(path, "verified", _label(spec.sha256, spec.md5, "archive"))
    if spec.content_sha256 is not None and spec.name.endswith(".gz") and ".tar." not in spec.name:
        if content is None:
            from convolab.data.idx import read_idx_bytes  # local: keeps this module light

            try:
                content = read_idx_bytes(path)
            except ValueError as exc:
                return Verification(path, "mismatch", detail=str(exc))
        cfound = bytes_digests(content)
        if _match(cfound, spec.content_sha256, spec.content_md5):
            return Verification(path, "verified", _label(spec.content_sha256, spec.content_md5, "content"))
        return Verification(
            path, "mismatch", detail=f"sha256 {found[0]} (file), {cfound[0]} (decompressed content)"
        )
    if path.name != spec.name and spec.content_sha256 is None:
        return Verification(path, "unpinned", detail="no published checksum for the decompressed file")
    return Verification(path, "mismatch", detail=f"sha256 {found[0]}, expected {spec.sha256}")


def require_verified(result: Verification, dataset: str) -> None:
    """Raise :class:`ChecksumError` unless ``result`` is verified or unpinned."""
    if result.state == "mismatch":
        raise ChecksumError(
            f"{result.path} is not the published {dataset} file ({result.detail}); delete or replace "
            f"it, then run `convolab data fetch {dataset}` or point --data-dir at good copies"
        )
