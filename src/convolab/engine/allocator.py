"""glibc heap tuning for training on CPU: ``configure_allocator``.

Process-wide, so it is not a side effect of moving a model (``device.prepare``): a training run calls it
when a run starts on CPU; a process that only loads models (the lab's workers, ``reconstruct``)
keeps glibc's defaults. docs/speed.md has the measurements.
"""

from __future__ import annotations

import torch

__all__ = ["HEAP_MAX_BLOCK", "configure_allocator"]

HEAP_MAX_BLOCK = 64 << 20  # glibc mmap threshold set by configure_allocator (see there)

_CONFIGURED = False


def configure_allocator(device: torch.device | str | None = None) -> bool:
    """Keep large CPU buffers in the process heap (glibc ``mallopt``); True if it took effect.

    glibc serves allocations above its mmap threshold with fresh ``mmap`` pages and returns freed heap
    tops to the OS, so every training step page-faults (and the kernel zeroes) its biggest activations
    again: the 12.8 MB first-layer tensor of the lecture's model at batch 256. Raising the mmap and trim
    thresholds keeps those pages: measured ~1.3x per step (its pool-gradient fill 7.4 -> 1.5 ms, first
    convolution 6.1 -> 2.5 ms; BENCHMARKS.md). Process-wide and idempotent; memory freed by torch stays
    with the process for reuse. A no-op (False) where the C library is not glibc.

    The mmap threshold is ``HEAP_MAX_BLOCK`` (64 MiB), not more: with 1 GiB the heap fragmented, and a
    streamed run's peak memory grew with the number of evaluation chunks (docs/scaling.md, 21-145 MB
    more for 8x the images in tests/test_memory_scaling.py; 3 MB with 64 MiB). Blocks above it (large
    images at large batches) come from mmap again: bounded memory before speed.

    Args:
        device: the device the caller trains on: a non-CPU device leaves the heap alone (False), as
            its buffers are not the process's; ``None`` tunes it unconditionally.
    """
    global _CONFIGURED
    if device is not None and torch.device(device).type != "cpu":
        return False
    if _CONFIGURED:
        return True
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # pragma: no cover - unusual Linux without glibc's soname
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    ok = libc.mallopt(m_mmap_threshold, HEAP_MAX_BLOCK) == 1
    ok = ok and libc.mallopt(m_trim_threshold, 2**31 - 1) == 1
    _CONFIGURED = ok
    return ok
