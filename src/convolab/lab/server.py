"""The lab's web app: one static page and a JSON API, one module per panel.

``create_app(runs_dir)`` builds a Starlette app; ``serve(app, host, port)`` runs it with uvicorn.
Errors are always JSON: ``{"error": message}`` with a 4xx status for client mistakes (``ApiError``,
``ValueError`` from the library, unknown routes) and 500 for bugs; the server keeps serving either way.

Safety (docs/lab.md, "Safety"): ``guard.Guard`` refuses foreign Host/Origin headers and non-JSON
POSTs before any route runs; every computation runs in a ``worker.WorkerPool`` process with a time
limit and a memory bound, never on the event loop; runs are read only inside the runs folder
(``runs``) and datasets only from the configured folders (``datasets``).

Example:
    >>> from starlette.testclient import TestClient
    >>> app = create_app("runs", port=8765)
    >>> client = TestClient(app, base_url="http://127.0.0.1:8765")
    >>> client.get("/api/health").json()["ok"]
    True
    >>> client.get("/api/health", headers={"Host": "evil.example"}).status_code
    421
    >>> app.state.pool.close()
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from convolab.lab import (
    api_activations,
    api_arith,
    api_autoencoder,
    api_explain,
    api_filters,
    api_model,
    api_upsampling,
)
from convolab.lab.guard import Address, Guard
from convolab.lab.http import ApiError, Limits, error_response
from convolab.lab.worker import WorkerConfig, WorkerPool

__all__ = ["Limits", "create_app", "serve", "set_address"]
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger("convolab.lab")


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})


async def health(request: Request) -> JSONResponse:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("convolab")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        ver = "unknown"
    return JSONResponse({"ok": True, "version": ver})


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(str(exc), getattr(exc, "status", 400))  # registered for ApiError


async def _value_error(request: Request, exc: Exception) -> JSONResponse:
    # the library's validation errors name the layer, field and value: they are the user's message
    return error_response(str(exc) or type(exc).__name__, 400)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 400)  # registered for HTTPException (404, 405, ...)
    message = f"not found: {request.url.path}" if status == 404 else str(getattr(exc, "detail", exc))
    return error_response(message, status)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("lab: internal error on %s", request.url.path)
    return error_response(f"internal error: {type(exc).__name__}: {exc}", 500)


def _data_dirs(data_dir: str | Path | Sequence[str | Path] | None) -> list[str]:
    if data_dir is None:
        return []
    items = [data_dir] if isinstance(data_dir, str | Path) else list(data_dir)
    return [str(Path(d).expanduser().resolve()) for d in items]


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    app.state.pool.close()


def create_app(
    runs_dir: str | Path = "runs",
    *,
    limits: Limits | None = None,
    data_dir: str | Path | Sequence[str | Path] | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> Starlette:
    """The lab app.

    Args:
        runs_dir: folder of training runs; only runs inside it are ever read (it may not exist yet).
        limits: request and work limits (defaults: ``convolab.limits``, lab section).
        data_dir: folder(s) where datasets are looked up first (then the usual places); a run's own
            data folder is read only when it is one of these or a usual place.
        host, port: the address the app is served on; other ``Host``/``Origin`` headers are refused.
    """
    routes = [
        Route("/", index),
        Route("/api/health", health),
        *api_model.routes(),
        *api_filters.routes(),
        *api_upsampling.routes(),
        *api_autoencoder.routes(),
        *api_arith.routes(),
        *api_explain.routes(),
        *api_activations.routes(),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard)],
        lifespan=_lifespan,
        exception_handlers={
            ApiError: _api_error,
            ValueError: _value_error,
            TypeError: _value_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.runs_root = Path(runs_dir).expanduser().resolve()
    app.state.limits = lim = limits or Limits()
    app.state.data_dirs = _data_dirs(data_dir)
    app.state.cache = {}
    set_address(app, host, port)
    config = WorkerConfig(str(app.state.runs_root), app.state.data_dirs, lim.worker_bytes)
    app.state.pool = WorkerPool(config, size=lim.workers, seconds=lim.task_seconds, max_queued=lim.max_queued)
    return app


def set_address(app: Starlette, host: str, port: int) -> None:
    """Serve ``app`` at ``host:port`` from now on (the ``Host``/``Origin`` values it accepts)."""
    app.state.address = Address(host, port)


def serve(app: Starlette, host: str, port: int) -> None:
    """Run ``app`` with uvicorn until interrupted (quiet logs: warnings and errors only).

    The workers start in the background at once, so the first request does not wait for torch.
    """
    import uvicorn

    set_address(app, host, port)
    if app.state.pool.size:
        threading.Thread(target=app.state.pool.start, daemon=True).start()
    try:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
    finally:
        app.state.pool.close()
