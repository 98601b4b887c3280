"""``convolab lab``: a local, offline web page that shows layers, filters, upsampling and autoencoders.

The server (:mod:`convolab.lab.server`) is a small Starlette app with a JSON API, one module per panel
(``api_model``, ``api_filters``, ``api_upsampling``, ``api_autoencoder``); the page itself is plain HTML,
CSS and JavaScript under ``static/`` (no build step, nothing fetched from the internet).

Starlette and uvicorn are an optional extra: ``pip install 'convolab[lab]'``.
"""

from __future__ import annotations

__all__ = ["Limits", "create_app"]


def __getattr__(name: str):  # lazy: importing convolab.lab must not require starlette
    if name in __all__:
        from convolab.lab import server

        return getattr(server, name)
    raise AttributeError(f"module 'convolab.lab' has no attribute {name!r}")
