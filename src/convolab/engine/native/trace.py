"""Which C kernels ran: ``recording()`` collects the name of every kernel call made inside it.

Each kernel's entry point calls ``record(name)`` before it runs; outside ``recording()`` that is one
context-variable read. ``convolab.engine.explain`` uses it to say, per layer of a plan, what ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["mark", "record", "recording"]

_LOG: ContextVar[list[str | int] | None] = ContextVar("convolab_native_trace", default=None)


def record(kernel: str) -> None:
    """Note that ``kernel`` (one of ``convolab.engine.native.NAMES``) runs now, if someone is recording."""
    log = _LOG.get()
    if log is not None:
        log.append(kernel)


def mark(entry: int) -> None:
    """Note that entry ``entry`` of a plan starts now (``run_plan`` calls it), if someone is recording."""
    log = _LOG.get()
    if log is not None:
        log.append(entry)


@contextmanager
def recording() -> Iterator[list[str | int]]:
    """Collect, in call order, the kernels called inside the block (names) and the plan entries
    started (their indices, from ``mark``); nested blocks collect their own."""
    log: list[str | int] = []
    token = _LOG.set(log)
    try:
        yield log
    finally:
        _LOG.reset(token)
