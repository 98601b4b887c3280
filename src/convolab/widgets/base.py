"""What the three widgets share: the anywidget class with the lab's front end, and the checks of what
a notebook user passes (one ``ValueError`` naming the argument, as everywhere in convolab's Python API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anywidget
import traitlets

from convolab.widgets.bundle import css, esm

T = TypeVar("T")


class LabWidget(anywidget.AnyWidget):
    """One of the lab's views in a notebook: ``_view`` names it, ``data`` is the lab API's answer (JSON)."""

    _esm = esm()
    _css = css()
    _view = traitlets.Unicode("").tag(sync=True)
    data = traitlets.Dict().tag(sync=True)


def lab_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call one of the lab's API functions; its ``ApiError`` (a user mistake) becomes a ``ValueError``."""
    from convolab.lab.http import ApiError

    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        raise ValueError(exc.message) from None


def check_model(model: Any, what: str = "model") -> Any:
    """``model`` as a convolab ``Sequential`` on the CPU (the views run its forward pass there)."""
    from convolab.model.sequential import Sequential

    if not isinstance(model, Sequential):
        raise ValueError(
            f"{what} must be a convolab Sequential (convolab.build_model, load_run(...).model), "
            f"got {type(model).__name__}"
        )
    devices = {p.device.type for p in model.parameters()}
    if devices - {"cpu"}:
        raise ValueError(
            f"{what} is on {', '.join(sorted(devices))}; the widgets run it on the CPU: pass model.cpu()"
        )
    return model
