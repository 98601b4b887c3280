"""Showing things in a notebook (Jupyter, JupyterLab, VS Code, Colab): detected lazily, never imported.

``import convolab`` loads no IPython: a Jupyter kernel is recognised by the shell that IPython already
runs (``sys.modules["IPython"].get_ipython()`` is a ``ZMQInteractiveShell``, or a subclass such as
Colab's), and ``IPython.display`` is imported only inside these functions, when a kernel runs them.

- ``in_kernel()``: True inside a Jupyter kernel (where ``display`` reaches the notebook).
- ``show_now(obj, bundle)``: display ``bundle`` at once, where the cell has got to, and remember that
  ``obj`` was shown in this cell; ``obj._ipython_display_`` calls ``show_at_cell_end(obj, bundle)``,
  which then shows nothing, so ``model.summary()`` as a cell's last expression appears once.
- ``LiveOutput``: one output of the running cell, updated in place (``display_data`` then
  ``update_display_data``): the training progress.
- ``show_images(paths)``: PNG files inline.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_SHOWN_IN = "_convolab_shown_in"  # attribute on an object shown mid-cell: that cell's execution count


def kernel_shell() -> Any | None:
    """The running Jupyter kernel's IPython shell, or None (a terminal IPython or plain Python)."""
    ipython = sys.modules.get("IPython")  # never imported here: a kernel has it loaded already
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    if shell is None or not any(c.__name__ == "ZMQInteractiveShell" for c in type(shell).__mro__):
        return None
    return shell


def in_kernel() -> bool:
    """True inside a Jupyter kernel (Jupyter, JupyterLab, VS Code, Colab)."""
    return kernel_shell() is not None


def _display(bundle: dict[str, str], **kwargs: Any) -> Any:
    from IPython.display import display

    return display(bundle, raw=True, **kwargs)


def show_now(obj: object, bundle: dict[str, str]) -> bool:
    """Display ``bundle`` now in the running cell (False, nothing done, outside a kernel); ``obj``
    remembers the cell, so that ``show_at_cell_end`` does not show it a second time."""
    shell = kernel_shell()
    if shell is None:
        return False
    object.__setattr__(obj, _SHOWN_IN, shell.execution_count)  # also on frozen dataclasses
    _display(bundle)
    return True


def show_at_cell_end(obj: object, bundle: dict[str, str]) -> None:
    """What ``obj._ipython_display_`` does: display ``bundle``, unless ``show_now`` showed ``obj`` in
    this same cell and this is the cell's result (once is enough). A later cell shows it again."""
    shell = kernel_shell()
    if shell is not None and getattr(obj, _SHOWN_IN, None) == shell.execution_count:
        # ipykernel's display hook holds its message while it formats the cell's result; an explicit
        # display(obj) in the same cell is not the hook, and shows it
        if getattr(shell.displayhook, "msg", True) is not None:
            return
    _display(bundle)


class LiveOutput:
    """One output area of the running cell, replaced at each ``show`` (a display with an id)."""

    def __init__(self) -> None:
        self._handle: Any = None

    def show(self, bundle: dict[str, str]) -> None:
        if self._handle is None:
            self._handle = _display(bundle, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


def show_images(paths: Iterable[Path | str]) -> bool:
    """Show PNG files inline in the running cell; False (nothing done) outside a kernel."""
    if not in_kernel():
        return False
    from IPython.display import Image, display

    for path in paths:
        display(Image(filename=str(path)))
    return True
