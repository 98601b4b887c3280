"""A widget test page: convolab.widgets rendered in a real browser without Jupyter.

``WidgetPage({"name": widget, ...})`` serves, on 127.0.0.1, one HTML page with a ``<div id=NAME>`` per
widget and a stand-in for anywidget's front-end ``model`` (``get``/``set``/``on``/``off``/``send``/
``save_changes``) that holds the Python widget's state (``widget.get_state()``, which includes ``_esm``
and ``_css``). The page imports the widget's ``_esm`` text as a module from a blob URL, as anywidget
does, and calls its ``render({model, el})``. What the front end sends goes back to the Python widget the
way a kernel's comm delivers it: ``save_changes`` -> ``widget.set_state(changes)``, ``send`` ->
``widget._handle_custom_msg(content, [])``; what the widget sends in reply (``widget.send``) arrives as
``msg:custom`` events. So the numbers the browser shows come from the kernel side, as in a notebook.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>convolab widgets</title>
<style>body { margin: 0; padding: 12px; background: #fff; font: 14px system-ui, sans-serif; }</style></head>
<body>__DIVS__
<script type="module">
window.WIDGETS = __NAMES__;
__SCRIPT__</script></body></html>
"""


class WidgetPage:
    """Serve ``widgets`` (name -> anywidget instance) on a free port of 127.0.0.1 (a context manager)."""

    def __init__(self, widgets: dict[str, Any]) -> None:
        self.widgets = widgets
        divs = "".join(f'\n<div id="{name}"></div>' for name in widgets)
        script = (Path(__file__).parent / "widget_page.js").read_text()
        page = PAGE.replace("__DIVS__", divs).replace("__NAMES__", json.dumps(list(widgets)))
        self.html = page.replace("__SCRIPT__", script)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        page = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/":
                    self._answer(200, page.html.encode(), "text/html; charset=utf-8")
                elif self.path.startswith("/state/") and self.path[7:] in page.widgets:
                    state = page.widgets[self.path[7:]].get_state()
                    self._answer(200, json.dumps(state).encode(), "application/json")
                else:
                    self._answer(404, b"{}", "application/json")

            def do_POST(self) -> None:  # noqa: N802
                kind, _, name = self.path[1:].partition("/")
                widget = page.widgets.get(name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if widget is None or kind not in ("set", "msg"):
                    self._answer(404, b"{}", "application/json")
                    return
                replies: list[Any] = []
                if kind == "set":
                    widget.set_state(body)
                else:
                    send = widget.send
                    widget.send = lambda content, buffers=None: replies.append(content)
                    try:
                        widget._handle_custom_msg(body, [])
                    finally:
                        widget.send = send
                self._answer(200, json.dumps(replies).encode(), "application/json")

        return Handler

    def __enter__(self) -> WidgetPage:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
