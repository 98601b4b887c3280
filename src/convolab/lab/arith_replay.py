"""The output an arithmetic trace describes, recomputed from its steps alone (no layer involved).

:func:`convolab.lab.arith_trace.trace` replays each trace before answering and compares the result with
the layer's own output, so the lab's animation can never disagree with the library.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def replay(result: dict[str, Any]) -> np.ndarray:
    """The output the trace describes (float64), computed from its steps only."""
    oh, ow = result["output_shape"][1:]
    op = result["op"]
    if result["mode"] == "gather":
        out = np.zeros((oh, ow))
        for st in result["steps"]:
            real = [t for t in st["taps"] if t[2] is not None]
            if op == "dot":
                val = sum(t[4] for t in st["taps"]) + (result["bias"] or 0.0)
            elif op == "max":
                val = max(t[2] for t in real)
            else:
                val = sum(t[2] for t in real) / len(real)
            out[st["out"][0], st["out"][1]] = val
        return out
    plane = np.zeros(result["canvas"])
    for st in result["steps"]:
        for row, col, _, prod in st["cells"]:
            if op == "add":
                plane[row, col] += prod
            else:
                plane[row, col] = prod
    if result["crop"] is None:
        return plane
    top, left, nh, nw = result["crop"]
    out = np.zeros((nh, nw))
    part = plane[top : top + nh, left : left + nw]
    out[: part.shape[0], : part.shape[1]] = part  # Keras's missing tail (output longer than full) is 0
    return out + (result["bias"] or 0.0)
