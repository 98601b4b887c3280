"""Build the C kernels once per machine, cache the library, load it with ctypes; or say why not.

The kernels (``*.c`` beside this file) are plain C11 with GCC/Clang vector extensions and OpenMP: no
torch headers, so a build takes a few seconds of CPU. The first call of :func:`library` compiles them
with the system C compiler (``$CC``, else ``cc``) into the cache folder of :mod:`.cache`
(``$XDG_CACHE_HOME/convolab/engine/native/``, default ``~/.cache/convolab/native``; ``$CONVOLAB_NATIVE_DIR``
wins), named by a hash of the sources, the flags, the compiler's version and the CPU's flags: a changed
source, compiler or machine builds afresh, an unchanged one loads in microseconds. The folder must be
the user's alone, the build runs under a lock and goes to a temporary file renamed into place, and a
library is loaded only if its size and SHA-256 are those its build recorded (:mod:`.cache`): a
truncated, foreign or unreadable file is rebuilt, never loaded.

Flags: ``-O3 -march=native -ffp-contract=fast -fopenmp`` first (the CPU's vector width; ``a * b + c``
as one fused multiply-add where the CPU has one, which ``-std=c11`` alone turns off; OpenMP that
links the ``libgomp.so.1`` torch has already loaded, so the kernels share torch's threads and
``torch.set_num_threads`` applies); then without ``-march=native``; then without OpenMP (one thread).
Each with ``-Werror=implicit-function-declaration``: a source calling what it does not declare (older
compilers only warn) fails to build instead of failing to load. All the attempts together get
:data:`BUILD_DEADLINE_S` seconds: a compiler that hangs costs a run that long, then the PyTorch path runs.

Nothing here is required: without a compiler, on another OS, with an unsafe cache folder, or with
``CONVOLAB_NATIVE=0`` in the environment, :func:`library` returns None and every caller runs its
PyTorch path, which computes the same function (bit for bit for the kernels that only move values, to
rounding for the two that convolve: tests/test_native*.py). :func:`status` says which one runs and why.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from convolab.engine.native import cache
from convolab.engine.native.cache import ENV_DIR, UnsafeCache

SOURCES = ("pool_relu.c", "conv_pool_relu.c", "conv_pool_relu_grad.c", "pixel_shuffle.c", "subpixel_conv.c")
HEADERS = ("conv_pool_relu.h",)  # included by sources: part of the library's hash
_STRICT = "-Werror=implicit-function-declaration"  # a call to an undeclared function fails the build
FLAG_SETS = (
    ("-O3", "-march=native", "-ffp-contract=fast", "-fopenmp", _STRICT),
    ("-O3", "-ffp-contract=fast", "-fopenmp", _STRICT),
    ("-O3", "-ffp-contract=fast", _STRICT),
)
BUILD_DEADLINE_S = 60.0  # every compile and lock wait of one build together (a build takes ~4 s of CPU)
VERSION_TIMEOUT_S = 5.0  # `cc --version`
ENV_SWITCH = "CONVOLAB_NATIVE"  # "0" turns the kernels off (the PyTorch path runs)
__all__ = ["ENV_DIR", "ENV_SWITCH", "library", "reset", "status"]

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
# C signatures: name -> argument types (every function returns void)
SIGNATURES = {
    "pool_relu_forward": [_PTR, _PTR, _PTR] + [_I64] * 8,
    "pool_relu_backward": [_PTR, _PTR, _PTR] + [_I64] * 8,
    "unpool_forward": [_PTR, _PTR, _PTR] + [_I64] * 9,
    "unpool_gather": [_PTR, _PTR, _PTR, _PTR] + [_I64] * 9,
    "conv_pool_relu_forward": [_PTR] * 7,  # the last one: the 16 int64 dimensions (geom in the C file)
    "conv_pool_relu_backward": [_PTR] * 8,
    "pixel_shuffle_forward": [_PTR, _PTR] + [_I64] * 8,
    "pixel_shuffle_backward": [_PTR, _PTR, _PTR] + [_I64] * 7,
    "subpixel_forward": [_PTR] * 5,  # the last one: the int64 dimensions (geom in the C file)
    "subpixel_backward": [_PTR] * 10,
}

_state: dict[str, object] = {}  # "lib": CDLL | None, "status": str


def cache_dir() -> Path:
    """Where built libraries are kept (``$CONVOLAB_NATIVE_DIR``, else the user cache); not checked."""
    return cache.cache_dir()[0]


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _compiler() -> str | None:
    cc = os.environ.get("CC") or "cc"
    return shutil.which(cc)


def _compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.splitlines()[0] if out.stdout else "?"


def _digest(cc_version: str, flags: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        h.update((Path(__file__).parent / name).read_bytes())
    for part in (*flags, cc_version, platform.machine(), _cpu_flags()):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def _compile(cc: str, flags: tuple[str, ...], target: Path, timeout_s: float) -> str | None:
    """Build into ``target`` atomically and record it; None on success, else the first error line."""
    if timeout_s <= 0:
        return f"no time left of the {BUILD_DEADLINE_S:.0f} s build limit"
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    sources = [str(Path(__file__).parent / name) for name in SOURCES]
    cmd = [cc, *flags, "-std=c11", "-shared", "-fPIC", "-o", tmp, *sources]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        Path(tmp).unlink(missing_ok=True)
        return f"{cc} ran past the build limit ({timeout_s:.0f} s left of {BUILD_DEADLINE_S:.0f} s)"
    except (OSError, subprocess.SubprocessError) as exc:
        Path(tmp).unlink(missing_ok=True)
        return f"{cc}: {exc}"
    if out.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        lines = [ln for ln in out.stderr.splitlines() if "error" in ln] or out.stderr.splitlines() or ["?"]
        return lines[0].strip()
    os.chmod(tmp, 0o700)
    os.replace(tmp, target)
    cache.record(target)
    return None


def _load(path: Path) -> ctypes.CDLL:
    import torch  # noqa: F401  (first: its libgomp.so.1 is the one the kernels' OpenMP then binds to)

    lib = ctypes.CDLL(str(path))
    for name, argtypes in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, None
    return lib


def _verified_or_built(cc: str, flags: tuple[str, ...], folder: Path, target: Path, deadline: float) -> Path:
    """``target`` as its build recorded it, building it (under the folder's lock) where it is not."""
    if cache.verified(target) is None:
        return target
    with cache.build_lock(folder, max(0.0, deadline - time.monotonic())):
        why = cache.verified(target)  # another process may have built it while this one waited
        if why is not None:
            err = _compile(cc, flags, target, deadline - time.monotonic())
            if err is not None:
                raise OSError(err)
            why = cache.verified(target)
            if why is not None:
                raise OSError(f"{target} fails its check right after the build: {why}")
    return target


def _build() -> tuple[ctypes.CDLL | None, str]:
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return None, f"off ({ENV_SWITCH}=0): the PyTorch path runs"
    if platform.system() != "Linux":
        return None, f"not built on {platform.system()} (Linux only): the PyTorch path runs"
    cc = _compiler()
    if cc is None:
        return None, "no C compiler (cc or $CC) found: the PyTorch path runs"
    try:
        folder = cache.private_dir()
    except UnsafeCache as exc:
        return None, f"cache folder refused: {exc}: the PyTorch path runs"
    except OSError as exc:
        return None, f"cache folder unusable: {exc}: the PyTorch path runs"
    deadline = time.monotonic() + BUILD_DEADLINE_S
    cc_version = _compiler_version(cc)
    errors = []
    for flags in FLAG_SETS:
        try:  # a missing source (a broken install), an unwritable cache, a library that does not load
            target = folder / f"convolab-native-{_digest(cc_version, flags)}.so"
            lib = _load(_verified_or_built(cc, flags, folder, target, deadline))
            return lib, f"built with {cc} {' '.join(flags)}: {target}"
        except (OSError, AttributeError) as exc:
            errors.append(f"{' '.join(flags)}: {exc}")
    return None, "build failed (" + "; ".join(errors) + "): the PyTorch path runs"


def library() -> ctypes.CDLL | None:
    """The loaded kernel library, built on first use; None where it cannot be (see :func:`status`)."""
    if "lib" not in _state:
        _state["lib"], _state["status"] = _build()
    return _state["lib"]  # type: ignore[return-value]


def loaded() -> ctypes.CDLL:
    """The loaded kernel library, for a kernel about to run (its ``eligible()`` found it loaded).

    Raises:
        RuntimeError: the library is not there (:func:`status` says why): a kernel called without its
            ``eligible()`` check, or :func:`reset` between a forward pass and its backward.
    """
    lib = library()
    if lib is None:
        raise RuntimeError(
            f"convolab's C kernels are not loaded ({status()}); run a kernel only where eligible()"
        )
    return lib


def status() -> str:
    """One line: where the kernels were built and with which flags, or why the PyTorch path runs."""
    library()
    return str(_state["status"])


def reset() -> None:
    """Forget the loaded library (tests switch ``CONVOLAB_NATIVE`` and rebuild)."""
    _state.clear()
