"""The folder of built kernel libraries: the user's alone, and a library there is loaded only as it was built.

A library loaded with ``dlopen`` runs its code in this process, so the folder it comes from is checked
as ssh checks ``~/.ssh``: it, resolved, must be a folder the user owns that nobody else may write, and
each folder above it must belong to the user or root and be writable by others only with the sticky bit
(``/tmp``); otherwise a planted library or a swapped folder could run. ``$CONVOLAB_NATIVE_DIR`` must
name an existing folder or a new one inside an existing folder (only the last part is made, mode 0700);
the default ``$XDG_CACHE_HOME/convolab/native`` is made with its parents, as the XDG cache is.

A build records the library's size and SHA-256 in a sidecar (``NAME.so.sha256``), written after the
library is in place; :func:`verified` loads nothing that is not a regular file of the user's with that
size and hash. So a library truncated by a full disk or a crash (whose ``dlopen`` could end the process
with SIGBUS), one copied in by hand, or one left by another version is rebuilt, never loaded. Builds take
an exclusive ``flock`` on ``.lock`` in the folder, so concurrent first runs (DDP ranks) build once.

Every failure is an :class:`UnsafeCache` (an ``OSError``) with a one-line reason for ``native.status()``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from convolab.paths import user_cache_root

ENV_DIR = "CONVOLAB_NATIVE_DIR"
MAX_LIBRARY_BYTES = 64 << 20  # a built library is ~0.2 MB; a sidecar naming more is not ours


class UnsafeCache(OSError):
    """The cache folder or a library in it may not be used; the message says why, in one line."""


def cache_dir() -> tuple[Path, bool]:
    """The folder (``$CONVOLAB_NATIVE_DIR``, else the user cache) and whether its parents may be made."""
    env = os.environ.get(ENV_DIR)
    if not env:
        try:
            return user_cache_root() / "native", True
        except RuntimeError as exc:  # no $HOME and no home in the password database
            raise UnsafeCache(f"no user cache folder: {exc}") from None
    try:
        path = Path(env).expanduser()
    except RuntimeError as exc:  # "~nouser/x": no such user's home
        raise UnsafeCache(f"${ENV_DIR}={env!r}: {exc}") from None
    if "\0" in env:
        raise UnsafeCache(f"${ENV_DIR}={env!r} holds a NUL byte")
    return path.absolute(), False


def private_dir() -> Path:
    """The cache folder, made if allowed, checked to be the user's alone (see the module doc)."""
    path, make_parents = cache_dir()
    if not path.is_dir():
        if not make_parents and not path.parent.is_dir():
            raise UnsafeCache(f"${ENV_DIR}: {path.parent} does not exist (it is not created)")
        try:
            path.mkdir(mode=0o700, parents=make_parents, exist_ok=True)
        except OSError as exc:
            raise UnsafeCache(f"cannot create {path}: {exc.strerror or exc}") from None
    check_private(path)
    return path


def check_private(path: Path) -> None:
    uid = os.getuid()
    real = path.resolve()
    st = real.stat()
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeCache(f"{real} is not a folder")
    if st.st_uid != uid:
        raise UnsafeCache(f"{real} belongs to uid {st.st_uid}, not to this user (uid {uid})")
    if st.st_mode & 0o022:
        raise UnsafeCache(f"{real} is writable by others (mode {stat.S_IMODE(st.st_mode):o}; chmod go-w it)")
    for parent in real.parents:
        pst = parent.stat()
        if pst.st_uid not in (0, uid):
            raise UnsafeCache(f"{parent}, above {real}, belongs to uid {pst.st_uid}: others could replace it")
        if pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX:
            mode = stat.S_IMODE(pst.st_mode)
            raise UnsafeCache(f"{parent}, above {real}, is writable by others (mode {mode:o})")


def _sidecar(lib: Path) -> Path:
    return lib.with_name(lib.name + ".sha256")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record(lib: Path) -> None:
    """Write the sidecar of a library just built (atomically: a temp file renamed into place)."""
    tmp = lib.with_name(f".{lib.name}.sha256.{os.getpid()}")
    tmp.write_text(f"{lib.stat().st_size} {_sha256(lib)}\n", encoding="ascii")
    os.replace(tmp, _sidecar(lib))


def verified(lib: Path) -> str | None:
    """None if ``lib`` is a library this user built here, else why it is not to be loaded."""
    try:
        st = os.lstat(lib)
    except FileNotFoundError:
        return "not built yet"
    except OSError as exc:
        return f"cannot stat it ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        return "not this user's, or writable by others"
    try:
        size_text, digest = _sidecar(lib).read_text(encoding="ascii").split()
        size = int(size_text)
    except (OSError, ValueError, UnicodeDecodeError):
        return "no record of its build (sidecar missing or unreadable)"
    if not 0 < size <= MAX_LIBRARY_BYTES or st.st_size != size:
        return f"{st.st_size} bytes where the build wrote {size} (truncated or replaced)"
    try:
        if _sha256(lib) != digest:
            return "its SHA-256 differs from the build's"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    return None


@contextmanager
def build_lock(folder: Path, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` (waiting at most ``timeout_s``) while building."""
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = f"another process has been building in {folder} for {timeout_s:.0f} s"
                    raise UnsafeCache(msg) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock
