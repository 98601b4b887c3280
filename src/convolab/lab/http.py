"""Request plumbing shared by the API modules: JSON errors, bounded bodies, typed field access.

Every user mistake becomes ``ApiError`` and then ``{"error": message}`` with a 4xx status; nothing a
client sends is ever evaluated as code (specs are parsed with ``yaml.safe_load`` by ``load_spec``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from convolab import limits


class ApiError(Exception):
    """A client mistake: answered as ``{"error": message}`` with ``status`` (400 unless told)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Limits:
    """Limits that keep one request from exhausting the server (defaults: ``convolab.limits``, lab section).

    Attributes:
        max_body: bytes of any request body (uploads arrive base64 inside JSON, ~4/3 of the file).
        max_spec: characters of a spec text.
        max_image_side: pixels of either side of an uploaded or processed image.
        max_layers: layers in a spec.
        max_grid: cells per side of the upsampling panel's input grid.
        workers: worker processes doing the CPU work (0: inline, for tests of the API's logic).
        task_seconds: time limit of one request's CPU work (its worker is killed past it).
        worker_bytes: address space a worker may add to what it has after its imports.
        max_queued: requests waiting for a worker before the lab answers 503.
    """

    max_body: int = limits.LAB_MAX_BODY_BYTES
    max_spec: int = limits.LAB_MAX_SPEC_CHARS
    max_image_side: int = limits.LAB_MAX_IMAGE_SIDE
    max_layers: int = limits.LAB_MAX_LAYERS
    max_grid: int = limits.LAB_MAX_GRID
    workers: int = limits.LAB_WORKERS
    task_seconds: float = limits.LAB_TASK_SECONDS
    worker_bytes: int = limits.LAB_WORKER_BYTES
    max_queued: int = limits.LAB_MAX_QUEUED


MAX_MESSAGE = 400  # characters of an error message (whatever was sent, the answer stays short)


def error_response(message: str, status: int) -> JSONResponse:
    """``{"error": message}``: one line, at most ``MAX_MESSAGE`` characters."""
    line = " ".join(str(message).split())
    if len(line) > MAX_MESSAGE:
        line = line[: MAX_MESSAGE - 3] + "..."
    return JSONResponse({"error": line}, status_code=status)


async def read_json(request: Request, limits: Limits) -> dict[str, Any]:
    """The request body as a JSON object, refusing bodies over ``limits.max_body`` before reading them."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body:
        raise ApiError(f"request body too large: {int(declared)} bytes, limit {limits.max_body}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():  # a lying or absent content-length is caught here
        size += len(chunk)
        if size > limits.max_body:
            raise ApiError(f"request body too large: over {limits.max_body} bytes", 413)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError("request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(f"request body must be a JSON object, got {type(body).__name__}")
    return body


def shown(value: Any, n: int = 60) -> str:
    """``repr(value)`` cut to ``n`` characters (error messages stay short whatever was sent)."""
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def get_int(body: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    """``body[key]`` as an int in ``[lo, hi]`` (``default`` when absent; ``null`` or ``""`` refused)."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ApiError(f"{key} must be an integer in [{lo}, {hi}], got {shown(value)}")
    return value


def get_float(body: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ApiError(f"{key} must be a number in [{lo}, {hi}], got {shown(value)}")
    return float(value)


def get_choice(body: dict[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or value not in choices:
        raise ApiError(f"{key} must be one of {', '.join(choices)}, got {shown(value)}")
    return value


def get_matrix(body: dict[str, Any], key: str, max_side: int) -> list[list[float]]:
    """``body[key]`` as a non-empty rectangular list of lists of finite numbers, at most ``max_side``."""
    value = body.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise ApiError(f"{key} must be a non-empty list of rows, got {type(value).__name__}")
    width = len(value[0])
    if not 1 <= width <= max_side or len(value) > max_side:
        raise ApiError(f"{key} must be at most {max_side}x{max_side}, got {len(value)}x{width}")
    for row in value:
        if len(row) != width:
            raise ApiError(f"{key} rows must all have {width} values, got a row of {len(row)}")
        for v in row:
            if isinstance(v, bool) or not isinstance(v, int | float) or v != v or abs(v) > 1e6:
                raise ApiError(f"{key} must hold finite numbers (|v| <= 1e6), got {shown(v)}")
    return [[float(v) for v in row] for row in value]
