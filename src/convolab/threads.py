"""How many CPU threads convolab's computations use: ``set_threads(n)`` and the default policy.

PyTorch's default (one intra-op thread per core) oversubscribes a machine where other work runs:
every thread spins waiting for the slowest, and throughput falls several times (docs/speed.md, "Threads"
has the measurements). convolab therefore picks a default from the cores that are *idle now*: the
runnable tasks of other processes counted a few times over ~15 ms (Linux's ``procs_running``), not the
1-minute load average, which still counts a job that ended seconds ago and so left an idle core unused.

This module imports torch only inside :func:`set_threads` (the CLI imports it to declare options).
"""

from __future__ import annotations

import math
import os
import statistics
import time

__all__ = ["MAX_THREADS_PER_CORE", "default_threads", "set_threads", "threads_env"]

MAX_THREADS_PER_CORE = 4  # set_threads refuses more than cpu_count() * this
_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def check_threads(n: object) -> int:
    """``n`` as an int in ``[1, cpu_count() * MAX_THREADS_PER_CORE]``, or a one-line ``ValueError``."""
    top = (os.cpu_count() or 1) * MAX_THREADS_PER_CORE
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= top:
        raise ValueError(
            f"threads must be an integer from 1 to {top} ({MAX_THREADS_PER_CORE} x {os.cpu_count()} CPUs), "
            f"got {n!r}"
        )
    return n


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


SAMPLES, SAMPLE_GAP_S = 6, 0.003  # procs_running is an instant: its median over ~15 ms


def _own_running() -> int:
    """Tasks of this process in state R (our own OpenMP threads, if any are spinning)."""
    n = 0
    try:
        for task in os.scandir("/proc/self/task"):
            try:
                with open(f"{task.path}/stat", "rb") as f:
                    n += f.read().rpartition(b")")[2].split()[0] == b"R"
            except (OSError, IndexError):
                continue
    except OSError:
        return 1
    return max(n, 1)


def _procs_running() -> int | None:
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"procs_running "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _busy_elsewhere() -> float | None:
    """Runnable tasks of other processes now (median of a few samples); None where Linux's /proc is not."""
    counts = []
    for i in range(SAMPLES):
        running = _procs_running()
        if running is None:
            return None
        counts.append(max(0, running - _own_running()))
        if i + 1 < SAMPLES:
            time.sleep(SAMPLE_GAP_S)
    return statistics.median(counts)


def default_threads() -> int:
    """The policy when no ``--threads`` is given: the idle cores now, at least 1.

    An explicit ``OMP_NUM_THREADS`` wins (the user chose). Otherwise ``cores - busy``, rounded and
    clamped to ``[1, cores]``, where ``busy`` is the runnable tasks of other processes now
    (:func:`_busy_elsewhere`; the 1-minute load average where /proc is missing): every core on an idle
    machine, even right after another job ended; one on a machine whose cores are all taken, where more
    threads only wait on each other.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    cores = _cpu_count()
    busy = _busy_elsewhere()
    if busy is None:
        busy = _load_average()
    if busy is None:
        return cores
    return max(1, min(cores, math.floor(cores - busy + 0.5)))


def threads_env(n: int) -> dict[str, str]:
    """Environment variables that make child processes (DataLoader workers, torchrun) use ``n``."""
    return dict.fromkeys(_ENV_VARS, str(check_threads(n)))


def set_threads(n: int | None = None) -> int:
    """Use ``n`` intra-op threads (``None``: :func:`default_threads`); return the number set.

    Sets torch's intra-op threads, its inter-op threads once (PyTorch allows that only before the first
    parallel work; later calls keep it), and OMP/MKL/OpenBLAS variables so child processes agree.
    """
    import torch

    n = default_threads() if n is None else check_threads(n)
    os.environ.update(threads_env(n))
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(min(n, 2))
    except RuntimeError:  # already set, or parallel work has started: keep what is there
        pass
    return n
