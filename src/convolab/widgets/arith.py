"""``ConvArithmetic(layer, grid, kernel, bias, **args)``: the lab's conv-arithmetic animation in a notebook.

The kernel builds the real convolab layer and writes out every step with the lab's own function
(``lab.api_arith.arith``: ``arith_trace.trace``, which refuses to answer unless replaying the steps gives
the layer's output, plus the formulas); the front end is the page's drawing (``arith_draw.js``) with a
player. ``step`` is synced both ways: set it from Python, or step with the buttons and arrow keys.
"""

from __future__ import annotations

from typing import Any

import traitlets

from convolab.widgets.base import LabWidget, lab_call


class ConvArithmetic(LabWidget):
    """One small layer (``Conv2D``, ``Conv2DTranspose``, ``MaxPool2D``, ``AvgPool2D``, ``UpSampling2D``,
    ``BedOfNails2D``, ``MaxUnpool2D``) on ``grid`` (at most 16x16), animated step by step.

    ``kernel`` (the conv's weights, one channel) and ``bias`` default as in the lab; the layer's own
    arguments are keywords, e.g. ``ConvArithmetic("Conv2D", grid, kernel_size=3, strides=2, padding="same")``.
    """

    step = traitlets.Int(0).tag(sync=True)

    def __init__(
        self,
        layer: str = "Conv2D",
        grid: Any = None,
        kernel: Any = None,
        bias: float = 0.0,
        values: Any = None,
        step: int = 0,
        **args: Any,
    ) -> None:
        from convolab.lab.api_arith import arith

        body: dict[str, Any] = {"layer": layer, "args": args, "bias": bias}
        body["grid"] = _matrix(grid, "grid") if grid is not None else _default_grid()
        if kernel is not None:
            body["kernel"] = _matrix(kernel, "kernel")
        if values is not None:
            body["values"] = _matrix(values, "values")
        data = lab_call(arith, body)
        total = len(data["steps"]) + (1 if data.get("crop") else 0)
        if not 0 <= int(step) < total:
            raise ValueError(f"step must be in [0, {total - 1}], got {step}")
        super().__init__(_view="arith", data=data, step=int(step))

    @property
    def total(self) -> int:
        """The number of steps (Conv2DTranspose's crop is one more)."""
        return len(self.data["steps"]) + (1 if self.data.get("crop") else 0)


def _matrix(m: Any, what: str) -> list[list[float]]:
    """A 2-D array (NumPy, torch or nested lists) as nested lists of floats; the lab checks sizes."""
    import numpy as np

    try:
        arr = np.asarray(m.detach().cpu() if hasattr(m, "detach") else m, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a 2-D array of numbers: {exc}") from None
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (rows x cols), got shape {arr.shape}")
    return [[float(v) for v in row] for row in arr]


def _default_grid() -> list[list[float]]:
    """The lab's starting input: 6x6 of small whole numbers (deterministic)."""
    return [[float((7 * r + 3 * c) % 10) for c in range(6)] for r in range(6)]
