"""convolab: Keras-exact layers on PyTorch, static analysis, classic filters and autoencoders.

Every public name is importable from ``convolab`` (``from convolab import Conv2D``). The names are
declared once, in ``__init__.pyi`` next to this file: type checkers and IDEs read its imports, and
``lazy_loader.attach_stub`` reads the same file to import each name's module on first use (PEP 562),
so ``import convolab`` and ``convolab --version`` do not pay for torch, numpy or matplotlib.
"""

from __future__ import annotations

import lazy_loader

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
