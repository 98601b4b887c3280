"""CPU work off the event loop: a small pool of worker processes with a time limit and a memory bound.

Every request that computes (analysis, filters, upsampling, forward passes, dataset reads) is sent to a
worker process as ``(task name, keyword arguments)``; only names registered in
:data:`convolab.lab.tasks.TASKS` run there. The event loop never computes, so ``/api/health`` and the
page stay responsive while the largest allowed request runs.

Why processes and not threads: a thread cannot be stopped, and it shares the server's memory. A worker
process

- is **killed and replaced** when its task runs past ``seconds`` (the client gets a 408);
- has an **address-space bound** (``RLIMIT_AS``): what it had after its imports plus ``memory_bytes``,
  so an allocation past it fails in the worker (``MemoryError`` / torch's allocator error, a 413) and the
  server itself never runs out of memory;
- dies with the server (``PR_SET_PDEATHSIG`` and end-of-file on its pipe).

Workers are forked from a ``forkserver`` that has already imported torch, so replacing one is cheap;
the first request of a server (or ``WorkerPool.start``) pays for that import once.

Requests wait for a free worker (at most ``max_queued`` of them, then 503), in a thread of the server's
thread pool, never on the event loop.
"""

from __future__ import annotations

import atexit
import json
import logging
import multiprocessing as mp
import os
import queue
import threading
import weakref
from multiprocessing.connection import Connection
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from convolab.lab.http import ApiError
from convolab.lab.tasks import WorkerConfig

log = logging.getLogger("convolab.lab")
_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_TASK_MODULES = [
    f"convolab.lab.{m}"
    for m in ("api_model", "api_filters", "api_upsampling", "api_autoencoder", "api_activations", "api_pixel")
]
_INLINE_LOCK = threading.Lock()


_INFO = "__worker_info__"  # answered by the worker loop itself (not a registered task: no endpoint sends it)


def _vm_size() -> int:
    """This process's current address-space size in bytes (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _die_with_parent() -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _bound_memory(extra: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    base = _vm_size()
    if base and extra > 0:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]  # under `ulimit -v` the bound cannot go above it
        limit = base + extra if hard == resource.RLIM_INFINITY else min(base + extra, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _answer(task: str, kwargs: dict[str, Any]) -> tuple[str, Any, int]:
    """Run one task in the worker: ``("ok", JSON bytes, 200)`` or ``("error", message, status)``.

    The answer is serialised to JSON here, in the worker: a large answer (the designer's fields of a
    2048-pixel input are ~9 MB) would otherwise hold the server's GIL while it is encoded.
    """
    from convolab.lab import tasks
    from convolab.limits import LimitError

    try:
        result = tasks.task(task)(**kwargs)
        return "ok", json.dumps(result, allow_nan=False, separators=(",", ":")).encode(), 200
    except ApiError as exc:
        return "error", exc.message, exc.status
    except LimitError as exc:
        return "error", str(exc), 413
    except MemoryError:
        return "error", "the request needs more memory than a lab worker may use; make it smaller", 413
    except RecursionError:
        return "error", "the request is nested too deeply", 400
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        return "error", str(exc) or type(exc).__name__, 400
    except RuntimeError as exc:
        if "allocate" in str(exc) or "out of memory" in str(exc).lower():
            return "error", "the request needs more memory than a lab worker may use; make it smaller", 413
        return "error", f"internal error: RuntimeError: {exc}", 500
    except Exception as exc:  # noqa: BLE001 - a bug: reported as a 500, the worker keeps serving
        return "error", f"internal error: {type(exc).__name__}: {exc}", 500


def worker_main(conn: Connection, config: WorkerConfig) -> None:
    """The loop of one worker process: receive a task, answer it, until the pipe closes."""
    _die_with_parent()
    import torch

    from convolab.lab import tasks
    from convolab.threads import set_threads

    set_threads(config.threads)
    tasks.configure(config)
    tasks.preload()
    _bound_memory(config.memory_bytes)
    while True:
        try:
            task, kwargs = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if task == _INFO:
            info = {"pid": os.getpid(), "threads": torch.get_num_threads()}
            reply: tuple[str, Any, int] = ("ok", json.dumps(info).encode(), 200)
        else:
            reply = _answer(task, kwargs)
        try:
            conn.send(reply)
        except (OSError, ValueError) as exc:  # e.g. an answer that cannot be pickled
            conn.send(("error", f"internal error: cannot send the answer: {exc}", 500))


class _Worker:
    def __init__(self, ctx: Any, config: WorkerConfig) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=worker_main, args=(child, config), daemon=True, name="convolab-lab-worker"
        )
        self.proc.start()
        child.close()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


def _context() -> Any:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["torch", "numpy", "convolab.lab.tasks", *_TASK_MODULES])
        return ctx
    return mp.get_context("spawn")  # pragma: no cover - not POSIX


class WorkerPool:
    """``size`` worker processes; ``await pool.run(task, **kwargs)`` answers or raises ``ApiError``.

    Args:
        config: what the workers may read (runs folder, dataset folders) and their memory bound.
        size: worker processes (started on first use, or by ``start()``); 0 runs tasks inline in the
            calling thread, without time or memory bound (for tests of the API's logic only).
        seconds: time limit of one task; past it its worker is killed and replaced.
        max_queued: requests that may wait for a worker; one more is answered 503.
    """

    def __init__(
        self, config: WorkerConfig, *, size: int = 2, seconds: float = 30.0, max_queued: int = 8
    ) -> None:
        if size < 0:
            raise ValueError(f"a worker pool needs 0 (inline, for tests) or more workers, got {size}")
        self.config, self.size, self.seconds, self.max_queued = config, size, seconds, max_queued
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()  # a warm worker is reused first
        for _ in range(size):
            self._idle.put(None)  # None: a slot whose worker is started when first needed
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._waiting = 0
        self._closed = False
        _POOLS.add(self)

    def _spawn(self) -> _Worker:
        w = _Worker(_context(), self.config)
        with self._lock:
            self._all.add(w)
        return w

    def _retire(self, w: _Worker) -> None:
        with self._lock:
            self._all.discard(w)
        w.stop()

    def start(self) -> None:
        """Start every worker now (the server does this in the background so the first request is fast)."""
        taken = [self._idle.get() for _ in range(self.size)]
        try:
            taken = [w if w is not None and w.proc.is_alive() else self._spawn() for w in taken]
        finally:
            for w in taken:
                self._idle.put(w)

    def _take(self) -> _Worker | None:
        with self._lock:
            if self._closed:
                raise ApiError("the lab is shutting down", 503)
            if self._waiting >= self.max_queued:
                raise ApiError(f"the lab is busy ({self._waiting} requests waiting); try again", 503)
            self._waiting += 1
        try:
            return self._idle.get(timeout=self.seconds * 2)
        except queue.Empty:
            raise ApiError("the lab is busy (no worker became free); try again", 503) from None
        finally:
            with self._lock:
                self._waiting -= 1

    def run_blocking(self, task: str, kwargs: dict[str, Any]) -> Any:
        """Run ``task`` in a worker, waiting in this (non-event-loop) thread."""
        if self.size == 0:  # inline (tests of the API's logic): same answers, no time or memory bound
            from convolab.lab import tasks

            with _INLINE_LOCK:
                tasks.configure(self.config)
                status, value, code = _answer(task, kwargs)
            return self._result(task, status, value, code)
        w = self._take()
        try:
            if w is None or not w.proc.is_alive():
                if w is not None:
                    self._retire(w)
                w = None
                w = self._spawn()
            w.conn.send((task, kwargs))
            if not w.conn.poll(self.seconds):
                self._retire(w)
                w = None
                raise ApiError(
                    f"the request's work ran past the lab's {self.seconds:g} s limit and was stopped; "
                    "make it smaller",
                    408,
                )
            try:
                status, value, code = w.conn.recv()
            except (EOFError, OSError):
                code = w.proc.exitcode
                self._retire(w)
                w = None
                raise ApiError(f"the lab's worker died (exit code {code}) on this request", 503) from None
        finally:
            self._idle.put(w)
        return self._result(task, status, value, code)

    @staticmethod
    def _result(task: str, status: str, value: Any, code: int) -> Any:
        if status == "ok":
            return value
        if code >= 500:
            log.error("lab worker: %s failed: %s", task, value)
        raise ApiError(value, code)

    async def run(self, task: str, **kwargs: Any) -> Any:
        """The answer of ``task`` as a JSON response (the bytes the worker encoded)."""
        body = await run_in_threadpool(self.run_blocking, task, kwargs)
        return Response(body, media_type="application/json")

    async def run_value(self, task: str, **kwargs: Any) -> Any:
        """The answer of ``task`` decoded (for small answers the server keeps, e.g. in a cache)."""
        return json.loads(await run_in_threadpool(self.run_blocking, task, kwargs))

    def info(self) -> dict[str, int]:
        """What a worker of this pool reports about itself: ``pid`` and torch's ``threads``."""
        if self.size == 0:  # inline: this process
            import torch

            return {"pid": os.getpid(), "threads": torch.get_num_threads()}
        return json.loads(self.run_blocking(_INFO, {}))

    def pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._all if w.proc.pid is not None]

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        for w in workers:
            w.stop()


@atexit.register
def _close_all() -> None:  # pragma: no cover - interpreter exit
    for pool in list(_POOLS):
        pool.close()


def worker_count_default() -> int:
    from convolab.limits import LAB_WORKERS

    return max(1, min(LAB_WORKERS, os.cpu_count() or 1))
