"""The lab's views as notebook widgets (anywidget: Jupyter, JupyterLab, Colab, VS Code, marimo).

    import convolab.widgets as cw
    cw.Explorer(model)                      # summary table; hover a row, then a pixel: its receptive field
    cw.Activations(model, image)            # every layer's maps; hover a unit: its field; click: its sums
    cw.ConvArithmetic("Conv2D", kernel_size=3, strides=2, padding="same")   # the step animation

The numbers come from the library in the kernel, computed by the same functions as the lab's JSON API
(``lab.api_model.analyze_spec``, ``lab.api_activations.activations_of``, ``lab.api_pixel.pixel_of``,
``lab.api_arith.arith``); the front end is the lab page's own JavaScript (``widgets/bundle.py`` joins it
into one ES module). The widget classes are loaded on first use (PEP 562), so ``import convolab.widgets``
does not import anywidget, and ``import convolab`` never imports this package. Needs
``pip install 'convolab[widgets]'``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["Activations", "ConvArithmetic", "Explorer"]

_WHERE = {"Explorer": "explorer", "Activations": "activations", "ConvArithmetic": "arith"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"convolab.widgets.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'convolab.widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
