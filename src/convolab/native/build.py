"""Build the C kernels once per machine, cache the library, load it with ctypes; or say why not.

The kernels (``*.c`` beside this file) are plain C11 with GCC/Clang vector extensions and OpenMP: no
torch headers, so a build takes well under a second. The first call of :func:`library` compiles them
with the system C compiler (``$CC``, else ``cc``) into ``$XDG_CACHE_HOME/convolab/native/`` (default
``~/.cache/convolab/native``; ``$CONVOLAB_NATIVE_DIR`` wins), named by a hash of the sources, the flags,
the compiler's version and the CPU's flags: a changed source, compiler or machine builds afresh, an
unchanged one loads in microseconds. The build goes to a temporary file renamed into place, so
concurrent first runs (DDP ranks, DataLoader workers) never load a half-written library.

Flags: ``-O3 -march=native -ffp-contract=fast -fopenmp`` first (the CPU's vector width; ``a * b + c``
as one fused multiply-add where the CPU has one, which ``-std=c11`` alone turns off; OpenMP that
links the ``libgomp.so.1`` torch has already loaded, so the kernels share torch's threads and
``torch.set_num_threads`` applies); then without ``-march=native``; then without OpenMP (one thread).
Each with ``-Werror=implicit-function-declaration``: a source calling what it does not declare (older
compilers only warn) fails to build instead of failing to load.

Nothing here is required: without a compiler, on another OS, or with ``CONVOLAB_NATIVE=0`` in the
environment, :func:`library` returns None and every caller runs its PyTorch path, which computes the
same function (bit for bit for the kernels that only move values, to rounding for the two that
convolve: tests/test_native*.py). :func:`status` says which one runs.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from convolab.paths import user_cache_root

SOURCES = ("pool_relu.c", "conv_pool_relu.c", "conv_pool_relu_grad.c", "pixel_shuffle.c", "subpixel_conv.c")
HEADERS = ("conv_pool_relu.h",)  # included by sources: part of the library's hash
_STRICT = "-Werror=implicit-function-declaration"  # a call to an undeclared function fails the build
FLAG_SETS = (
    ("-O3", "-march=native", "-ffp-contract=fast", "-fopenmp", _STRICT),
    ("-O3", "-ffp-contract=fast", "-fopenmp", _STRICT),
    ("-O3", "-ffp-contract=fast", _STRICT),
)
BUILD_TIMEOUT_S = 120  # a compiler that hangs longer than this is treated as absent
ENV_SWITCH = "CONVOLAB_NATIVE"  # "0" turns the kernels off (the PyTorch path runs)
ENV_DIR = "CONVOLAB_NATIVE_DIR"

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
# C signatures: name -> argument types (every function returns void)
SIGNATURES = {
    "pool_relu_forward": [_PTR, _PTR, _PTR] + [_I64] * 8,
    "pool_relu_backward": [_PTR, _PTR, _PTR] + [_I64] * 8,
    "conv_pool_relu_forward": [_PTR] * 7,  # the last one: the 16 int64 dimensions (geom in the C file)
    "conv_pool_relu_backward": [_PTR] * 8,
    "pixel_shuffle_forward": [_PTR, _PTR] + [_I64] * 8,
    "pixel_shuffle_backward": [_PTR, _PTR, _PTR] + [_I64] * 7,
    "subpixel_forward": [_PTR] * 5,  # the last one: the int64 dimensions (geom in the C file)
    "subpixel_backward": [_PTR] * 10,
}

_state: dict[str, object] = {}  # "lib": CDLL | None, "status": str


def cache_dir() -> Path:
    """Where built libraries are kept (``$CONVOLAB_NATIVE_DIR``, else the user cache)."""
    env = os.environ.get(ENV_DIR)
    return Path(env).expanduser() if env else user_cache_root() / "native"


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
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.splitlines()[0] if out.stdout else "?"


def _digest(cc: str, flags: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        h.update((Path(__file__).parent / name).read_bytes())
    for part in (*flags, _compiler_version(cc), platform.machine(), _cpu_flags()):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def _compile(cc: str, flags: tuple[str, ...], target: Path) -> str | None:
    """Build into ``target`` atomically; None on success, else the compiler's first error line."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    sources = [str(Path(__file__).parent / name) for name in SOURCES]
    cmd = [cc, *flags, "-std=c11", "-shared", "-fPIC", "-o", tmp, *sources]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        Path(tmp).unlink(missing_ok=True)
        return f"{cc}: {exc}"
    if out.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        lines = [ln for ln in out.stderr.splitlines() if "error" in ln] or out.stderr.splitlines() or ["?"]
        return lines[0].strip()
    os.replace(tmp, target)
    return None


def _load(path: Path) -> ctypes.CDLL:
    import torch  # noqa: F401  (first: its libgomp.so.1 is the one the kernels' OpenMP then binds to)

    lib = ctypes.CDLL(str(path))
    for name, argtypes in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, None
    return lib


def _build() -> tuple[ctypes.CDLL | None, str]:
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return None, f"off ({ENV_SWITCH}=0): the PyTorch path runs"
    if platform.system() != "Linux":
        return None, f"not built on {platform.system()} (Linux only): the PyTorch path runs"
    cc = _compiler()
    if cc is None:
        return None, "no C compiler (cc or $CC) found: the PyTorch path runs"
    errors = []
    for flags in FLAG_SETS:
        try:  # a missing source (a broken install), an unwritable cache, a library that does not load
            target = cache_dir() / f"convolab-native-{_digest(cc, flags)}.so"
            for attempt in range(2):  # a cached file that does not load is built again, once
                if attempt or not target.is_file():
                    err = _compile(cc, flags, target)
                    if err is not None:
                        raise OSError(err)
                try:
                    return _load(target), f"built with {cc} {' '.join(flags)}: {target}"
                except (OSError, AttributeError) as exc:
                    if attempt:
                        raise OSError(f"{target} does not load: {exc}") from exc
        except OSError as exc:
            errors.append(f"{' '.join(flags)}: {exc}")
    return None, "build failed (" + "; ".join(errors) + "): the PyTorch path runs"


def library() -> ctypes.CDLL | None:
    """The loaded kernel library, built on first use; None where it cannot be (see :func:`status`)."""
    if "lib" not in _state:
        _state["lib"], _state["status"] = _build()
    return _state["lib"]  # type: ignore[return-value]


def status() -> str:
    """One line: where the kernels were built and with which flags, or why the PyTorch path runs."""
    library()
    return str(_state["status"])


def reset() -> None:
    """Forget the loaded library (tests switch ``CONVOLAB_NATIVE`` and rebuild)."""
    _state.clear()
