"""Verified downloads: several mirrors, retries, a timeout, a progress bar, atomic placement.

A file is streamed into a temporary file beside its destination while its SHA-256 (and MD5) are
computed; only when they match the pinned values is it renamed into place with ``os.replace``
(atomic on one file system). On any failure the temporary file is deleted, so a cache never holds
an unverified byte. Plain ``urllib``: no new dependency.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from convolab.data.errors import DownloadError
from convolab.data.registry import FileSpec

USER_AGENT = "convolab (+https://github.com/convolab)"
DEFAULT_TIMEOUT = 30.0  # seconds without data before a connection is given up
DEFAULT_RETRIES = 2  # extra attempts per mirror after the first
_CHUNK = 1 << 16


class _Mismatch(Exception):
    """The transfer completed but the bytes are not the published ones."""


def _stream(url: str, tmp, timeout: float, progress: Progress | None, label: str) -> tuple[str, str]:
    """Copy ``url`` into the open file ``tmp``; return ``(sha256, md5)`` of what was received."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        task = progress.add_task(label, total=expected) if progress else None
        received = 0
        while chunk := resp.read(_CHUNK):
            tmp.write(chunk)
            sha.update(chunk)
            md5.update(chunk)
            received += len(chunk)
            if progress is not None and task is not None:
                progress.update(task, completed=received)
    if expected is not None and received != expected:
        raise http.client.IncompleteRead(b"", expected - received)
    return sha.hexdigest(), md5.hexdigest()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, http.client.IncompleteRead):
        return f"truncated transfer ({exc.expected} bytes missing)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable ({exc.reason})"
    return f"{type(exc).__name__}: {exc}"


def _transient(exc: BaseException) -> bool:
    """Worth another try: timeouts, truncated or reset transfers, 5xx. Not DNS failures, refusals, 4xx."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, (socket.gaierror, ConnectionRefusedError, PermissionError, urllib.error.URLError)):
        return False
    return isinstance(exc, (TimeoutError, ConnectionError, http.client.HTTPException, OSError))


def _attempt(url: str, dest: Path, spec: FileSpec, timeout: float, progress: Progress | None) -> None:
    """One try: temp file -> verify -> os.replace. The temp file never survives a failure."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            sha, md5 = _stream(url, tmp, timeout, progress, dest.name)
        if sha != spec.sha256 or (spec.md5 is not None and md5 != spec.md5):
            raise _Mismatch(f"checksum mismatch (got sha256 {sha}, expected {spec.sha256})")
        os.replace(tmp_name, dest)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def download_file(
    spec: FileSpec,
    mirrors: list[str] | tuple[str, ...],
    dest_dir: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download ``spec.name`` from the first mirror that delivers the published bytes.

    Args:
        spec: the file and its pinned checksums.
        mirrors: base URLs (ending in ``/``); the file name is appended.
        dest_dir: created if needed; the verified file ends up as ``dest_dir / spec.name``.
        timeout: seconds of silence before a connection is abandoned.
        retries: extra tries per mirror for transient failures (timeouts, truncation, 5xx).
        backoff: seconds to wait before the n-th retry, times n.
        progress: show a rich progress bar on stderr.

    Returns:
        The path of the verified file.

    Raises:
        DownloadError: every mirror failed; ``attempts`` names each URL and why.
    """
    created = [d for d in (dest_dir, *dest_dir.parents) if not d.exists()]  # deepest first
    dest_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(dest_dir, os.W_OK):
        raise PermissionError(f"cannot write into {dest_dir}; choose another --data-dir or CONVOLAB_DATA")
    dest = dest_dir / spec.name
    attempts: list[tuple[str, str]] = []
    bar = _progress_bar(progress)
    shown = None if bar.disable else bar  # tasks are added only to a bar that is drawn
    with bar:
        for base in mirrors:
            url = base + spec.name
            if _from_mirror(url, dest, spec, timeout, shown, retries, backoff, attempts):
                return dest
    _remove_empty(created)  # leave no trace of a failed first download (nor the cache's parents)
    raise DownloadError(spec.name, attempts)


def _progress_bar(progress: bool) -> Progress:
    """A transient download bar on stderr, disabled unless asked for and stderr is a terminal."""
    console = Console(stderr=True)
    progress = progress and console.is_terminal  # no bar (nor stray newlines) in logs and pipes
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
        disable=not progress,
    )


def _from_mirror(
    url: str,
    dest: Path,
    spec: FileSpec,
    timeout: float,
    bar: Progress | None,
    retries: int,
    backoff: float,
    attempts: list[tuple[str, str]],
) -> bool:
    """Try ``url`` up to ``retries + 1`` times; True once ``dest`` holds the verified file.

    Each failure is appended to ``attempts`` as ``(url, reason)``.
    """
    for n in range(retries + 1):
        try:
            _attempt(url, dest, spec, timeout, bar)
            return True
        except _Mismatch as exc:
            attempts.append((url, str(exc)))
            return False  # the mirror serves other bytes: retrying will not help
        except (OSError, http.client.HTTPException) as exc:
            attempts.append((url, _reason(exc)))
            if not _transient(exc):
                return False  # 404, unknown host, refused: another try gives the same answer
        if n < retries:
            time.sleep(backoff * (n + 1))
    return False


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders this call created, deepest first, while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()  # refuses a non-empty folder: then its parents stay too
        except OSError:
            return
