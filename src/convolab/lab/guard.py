"""The lab's front door: only its own page may talk to it (Host, Origin, content type), safe headers.

A local server is reachable from every web page the user visits: a page can send it requests (its
answers are hidden from the page by the same-origin policy, but the work is done), and a DNS-rebinding
page can even read the answers, since its own name then points at 127.0.0.1. This ASGI middleware
refuses, before any route runs:

- a ``Host`` header that is not the served address (``127.0.0.1:PORT``, ``localhost:PORT``, or, when
  listening on all interfaces, an IP literal with the port): **421**, which stops DNS rebinding;
- an ``Origin`` header (sent by browsers on cross-origin requests and on every POST) that is not
  ``http://`` + an allowed host, and ``Sec-Fetch-Site: cross-site``: **403**;
- a POST whose ``Content-Type`` is not ``application/json``: **415**. A cross-origin page can only send
  JSON after a CORS preflight, which the lab never grants (no CORS headers are ever sent), so the
  text/plain and form-encoded "simple requests" a page may send without asking are the ones refused.

Every answer carries ``X-Content-Type-Options: nosniff``, ``Cache-Control: no-store`` (API),
a Content-Security-Policy that allows nothing from elsewhere, and ``frame-ancestors 'none'``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` header values a browser sends for the server at ``host:port``."""
    names = {host, "localhost", "127.0.0.1", "[::1]"} if host in ("127.0.0.1", "localhost", "::1") else {host}
    out = set()
    for name in names:
        shown = f"[{name}]" if ":" in name and not name.startswith("[") else name
        out.add(f"{shown}:{port}")
        if port == 80:
            out.add(shown)
    return frozenset(out)


def _is_ip_literal(host_header: str, port: int) -> bool:
    name, sep, tail = host_header.rpartition(":")
    if not sep or tail != str(port):
        return False
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class Address:
    """The served address and the ``Host`` values it answers to (``app.state.address``)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.hosts = allowed_hosts(host, port)

    def host_ok(self, value: str) -> bool:
        value = value.lower()
        if value in self.hosts:
            return True
        return self.host in WILDCARD_HOSTS and (
            _is_ip_literal(value, self.port) or value == f"localhost:{self.port}"
        )


class Guard:
    """ASGI middleware; reads the served address from ``app.state.address`` on every request."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    @staticmethod
    def refusal(scope: Scope) -> tuple[int, str] | None:
        address: Address = scope["app"].state.address
        headers = _headers(scope["headers"])
        host = headers.get("host", "")
        if not address.host_ok(host):
            return 421, f"this lab serves {min(address.hosts)} only; Host {host[:60]!r} is refused"
        origin = headers.get("origin")
        if origin is not None and not (origin.startswith("http://") and address.host_ok(origin[7:])):
            return 403, f"cross-origin requests are refused (Origin {origin[:60]!r})"
        if headers.get("sec-fetch-site") == "cross-site":
            return 403, "cross-site requests are refused"
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                shown = ctype[:40] or "none"
                return 415, f"POST bodies must be JSON (Content-Type: application/json), got {shown}"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is not None:
            status, message = refused
            await _send_json(send, status, {"error": message})
            return
        api = scope.get("path", "").startswith("/api/")

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if api:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in raw:
        out.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return out


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
