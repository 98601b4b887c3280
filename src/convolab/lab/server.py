"""The lab's web app: one static page and a JSON API, one module per panel.

``create_app(runs_dir)`` builds a Starlette app; ``serve(app, host, port)`` runs it with uvicorn.
Errors are always JSON: ``{"error": message}`` with a 4xx status for client mistakes (``ApiError``,
``ValueError`` from the library, unknown routes) and 500 for bugs; the server keeps serving either way.

Example:
    >>> from starlette.testclient import TestClient
    >>> client = TestClient(create_app("runs"))
    >>> client.get("/api/health").json()["ok"]
    True
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from convolab.lab import api_arith, api_autoencoder, api_explain, api_filters, api_model, api_upsampling
from convolab.lab.http import ApiError, Limits, error_response

__all__ = ["Limits", "create_app", "serve"]

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


def create_app(
    runs_dir: str | Path = "runs", *, limits: Limits | None = None, data_dir: str | Path | None = None
) -> Starlette:
    """The lab app.

    Args:
        runs_dir: folder of training runs; only runs inside it are ever read (it may not exist yet).
        limits: request size limits (defaults: 4 MiB bodies, 64 KiB specs, 1024-pixel images).
        data_dir: where datasets are looked up (``None``: the usual resolution order).
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
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            ValueError: _value_error,
            TypeError: _value_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.runs_root = Path(runs_dir).expanduser().resolve()
    app.state.limits = limits or Limits()
    app.state.data_dir = None if data_dir is None else Path(data_dir)
    app.state.cache = {}
    return app


def serve(app: Starlette, host: str, port: int) -> None:
    """Run ``app`` with uvicorn until interrupted (quiet logs: warnings and errors only)."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
