"""One small layer at work, written out step by step: the data behind the lab's animated conv arithmetic.

``trace(kind, args, grid, kernel=..., bias=..., values=...)`` builds the real convolab layer (one filter;
one input channel, or up to ``ARITH_MAX_CHANNELS`` for Conv2D), runs it on the grid, and records what
each step of the computation touched:

- *gather* layers (Conv2D, MaxPool2D, AvgPool2D, bilinear UpSampling2D) get one step per output pixel:
  the window's cells in input coordinates (cells outside the input are padding; their value is
  ``None``), the weight of each cell, the products and their sum (or the max, or the mean over the real
  cells), and the layer's own output value at that pixel; a Conv2D step lists channel 0's window, then
  channel 1's, ..., with each channel's partial sum (``partials``): the value is their sum plus the bias;
- *scatter* layers (Conv2DTranspose, nearest UpSampling2D, BedOfNails2D, MaxUnpool2D) get one step per
  input pixel: the cells of the output plane it writes (for a transposed convolution the full,
  uncropped plane, ``(i - 1) s + ke`` long, followed by Keras's crop), its weight and product.

Window positions and padding come from ``convolab.layers.padding`` and the layer's own ``crops``; the
output shape from ``compute_output_shape`` and the output numbers from the layer's forward pass. Before
answering, the trace is replayed (``replay``) and must reproduce the layer's output, so the animation
can never disagree with the library (a mismatch is a bug and raises ``AssertionError``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from convolab import limits
from convolab.lab.arith_replay import replay

GATHER = ("Conv2D", "MaxPool2D", "AvgPool2D")
SCATTER = ("Conv2DTranspose", "BedOfNails2D", "MaxUnpool2D")
KINDS = ("Conv2D", "MaxPool2D", "AvgPool2D", "Conv2DTranspose", "UpSampling2D", "BedOfNails2D", "MaxUnpool2D")

#: the layer arguments the animation takes, per kind (filters is always 1; only Conv2D takes several channels)
ARGS: dict[str, tuple[str, ...]] = {
    "Conv2D": ("kernel_size", "strides", "padding", "dilation_rate", "use_bias"),
    "Conv2DTranspose": ("kernel_size", "strides", "padding", "output_padding", "dilation_rate", "use_bias"),
    "MaxPool2D": ("pool_size", "strides", "padding"),
    "AvgPool2D": ("pool_size", "strides", "padding"),
    "UpSampling2D": ("size", "interpolation"),
    "BedOfNails2D": ("size",),
    "MaxUnpool2D": ("pool_size", "strides", "padding"),  # of the MaxPool2D whose switches it uses
}

#: the bound of each pair-valued argument
_PAIR_LIMITS = {
    "kernel_size": limits.ARITH_MAX_KERNEL,
    "pool_size": limits.ARITH_MAX_KERNEL,
    "strides": limits.ARITH_MAX_STRIDE,
    "dilation_rate": limits.ARITH_MAX_DILATION,
    "output_padding": limits.ARITH_MAX_STRIDE,
    "size": limits.ARITH_MAX_FACTOR,
}


def _check_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"layer must be one of {', '.join(KINDS)}, got {kind!r}")
    unknown = sorted(set(args) - set(ARGS[kind]))
    if unknown:
        raise ValueError(f"{kind} takes {', '.join(ARGS[kind])} here; unknown: {', '.join(unknown)}")
    for key, value in args.items():
        bound = _PAIR_LIMITS.get(key)
        pair = value if isinstance(value, list | tuple) else [value]
        if bound is not None and all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
            limits.check_count(f"{kind} {key}", max(pair, default=0), bound)
    return dict(args)


def make_layer(kind: str, args: dict[str, Any]) -> Any:
    """The real convolab layer for ``kind`` (one filter where it has filters); its own errors pass through."""
    from convolab.layers.base import get_layer_class

    args = _check_args(kind, args)
    if kind == "MaxUnpool2D":
        return get_layer_class("MaxPool2D")(**args, name="pool")
    cls: Any = get_layer_class(kind)
    if kind in ("Conv2D", "Conv2DTranspose"):
        return cls(1, **{"kernel_size": 3, **args})
    return cls(**args)


def _check_planes(what: str, m: Any, kind: str) -> np.ndarray:
    """A grid as ``(C, H, W)``: one matrix (C = 1) or a list of same-sized matrices, one per channel."""
    arr = np.asarray(m, dtype=object if not isinstance(m, np.ndarray) else None)
    if arr.ndim == 2:
        return _check_matrix(what, m, limits.ARITH_MAX_GRID)[None]
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ValueError(f"{what} must be one matrix or a list of same-sized matrices, got shape {arr.shape}")
    if arr.shape[0] > 1 and kind != "Conv2D":
        raise ValueError(f"{kind} takes one channel here; several input channels are for Conv2D")
    limits.check_count(f"{what} channels", arr.shape[0], limits.ARITH_MAX_CHANNELS)
    return np.stack([_check_matrix(what, p.tolist(), limits.ARITH_MAX_GRID) for p in arr])


def _plain(a: np.ndarray) -> list[Any]:
    """One channel as a matrix (the one-channel answer stays as it was), several as a list of them."""
    return a[0].tolist() if a.shape[0] == 1 else a.tolist()


def _plane(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32)).view(1, 1, *a.shape)  # (1, 1, H, W)


def _check_matrix(what: str, m: np.ndarray, max_side: int) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"{what} must be a non-empty 2-D grid, got shape {m.shape}")
    limits.check_count(f"{what} side", max(m.shape), max_side)
    if not np.isfinite(m).all() or np.abs(m).max() > limits.ARITH_MAX_VALUE:
        raise ValueError(f"{what} must hold finite numbers with |v| <= {limits.ARITH_MAX_VALUE:g}")
    return m


def _out(layer: Any, shape: tuple[int, ...]) -> tuple[int, int]:
    _, oh, ow = layer.compute_output_shape(shape)
    limits.check_count("output side", max(oh, ow), limits.ARITH_MAX_OUTPUT_SIDE)
    return int(oh), int(ow)


def _f(v: float) -> float:
    return float(round(float(v), 6))


# ---- gather: one step per output pixel ---------------------------------------------------------------


def _window_steps(layer: Any, x: np.ndarray, kernel: np.ndarray | None, bias: float) -> tuple:
    """Conv2D / pooling: the cells under the window at every output position (TF's padding split);
    ``x`` is ``(C, H, W)``, ``kernel`` ``(C, kh, kw)``: the taps run over channel 0's window, then 1's..."""
    from convolab.layers.padding import padding_amounts

    chans, h, w = x.shape
    pool = not hasattr(layer, "filters")
    kh, kw = layer.pool_size if pool else layer.kernel_size
    sh, sw = layer.strides
    dh, dw = (1, 1) if pool else layer.dilation_rate
    top, bottom = padding_amounts(h, kh, sh, layer.padding, dh)
    left, right = padding_amounts(w, kw, sw, layer.padding, dw)
    oh, ow = _out(layer, (1, h, w))
    limits.check_count("trace cells", oh * ow * kh * kw * chans, limits.ARITH_MAX_TAPS)
    steps = []
    for r in range(oh):
        for c in range(ow):
            taps = []
            for ch, i, j in np.ndindex(chans, kh, kw):
                row, col = r * sh - top + i * dh, c * sw - left + j * dw
                inside = 0 <= row < h and 0 <= col < w
                v = float(x[ch, row, col]) if inside else None
                wt = None if kernel is None else float(kernel[ch, i, j])
                prod = None if wt is None else (0.0 if v is None else v * wt)
                taps.append([row, col, v, wt, prod])
            step: dict[str, Any] = {"out": [r, c], "taps": taps}
            if kernel is not None:
                n = kh * kw
                step["partials"] = [_f(sum(t[4] for t in taps[k * n : (k + 1) * n])) for k in range(chans)]
            steps.append(step)
    return steps, [top, bottom, left, right]


def _bilinear_steps(layer: Any, x: np.ndarray) -> list[dict[str, Any]]:
    """Half-pixel bilinear upsampling as the layer (and TensorFlow) computes it: up to 4 cells per output,
    with weights (a source on a sample takes it alone: its neighbour's weight is exactly 0)."""

    def axis(n: int, s: int) -> list[list[tuple[int, float]]]:
        taps = []
        for u in range(n * s):
            src = max((u + 0.5) / s - 0.5, 0.0)
            lo = int(np.floor(src))
            hi, t = min(lo + 1, n - 1), src - lo
            taps.append([(lo, 1.0 - t), (hi, t)] if hi != lo else [(lo, 1.0)])
        return taps

    h, w = x.shape
    sh, sw = layer.size
    _out(layer, (1, h, w))
    rows, cols = axis(h, sh), axis(w, sw)
    steps = []
    for r, rt in enumerate(rows):
        for c, ct in enumerate(cols):
            taps = [
                [i, j, float(x[i, j]), a * b, float(x[i, j]) * a * b] for i, a in rt for j, b in ct if a * b
            ]
            steps.append({"out": [r, c], "taps": taps})
    return steps


# ---- scatter: one step per input pixel ---------------------------------------------------------------


def _stamp_steps(layer: Any, x: np.ndarray, kernel: np.ndarray) -> tuple:
    """Conv2DTranspose: each input value stamps value x kernel into the full plane; Keras then crops."""
    h, w = x.shape
    kh, kw = layer.kernel_size
    sh, sw = layer.strides
    dh, dw = layer.dilation_rate
    full = ((h - 1) * sh + (kh - 1) * dh + 1, (w - 1) * sw + (kw - 1) * dw + 1)
    limits.check_count("full transposed output side", max(full), limits.ARITH_MAX_OUTPUT_SIDE)
    _out(layer, (1, h, w))
    (top, nh), (left, nw) = layer.crops((1, h, w))
    limits.check_count("trace cells", h * w * kh * kw, limits.ARITH_MAX_TAPS)
    steps = []
    for r in range(h):
        for c in range(w):
            v = float(x[r, c])
            cells = [
                [r * sh + i * dh, c * sw + j * dw, float(kernel[i, j]), v * float(kernel[i, j])]
                for i in range(kh)
                for j in range(kw)
            ]
            steps.append({"in": [r, c], "x": v, "cells": cells})
    return steps, list(full), [top, left, nh, nw]


def _block_steps(x: np.ndarray, size: tuple[int, int], nails: bool) -> list[dict[str, Any]]:
    h, w = x.shape
    sh, sw = size
    steps = []
    for r in range(h):
        for c in range(w):
            v = float(x[r, c])
            block = [(0, 0)] if nails else [(i, j) for i in range(sh) for j in range(sw)]
            steps.append(
                {"in": [r, c], "x": v, "cells": [[r * sh + i, c * sw + j, 1.0, v] for i, j in block]}
            )
    return steps


# ---- the entry point ---------------------------------------------------------------------------------


def trace(
    kind: str,
    args: dict[str, Any],
    grid: Any,
    *,
    kernel: Any = None,
    bias: float = 0.0,
    values: Any = None,
) -> dict[str, Any]:
    """The layer ``kind`` with ``args`` on ``grid`` (one channel), step by step (module docstring).

    Args:
        kind: one of ``KINDS``.
        args: the layer's arguments (``ARGS[kind]``); unknown ones are refused.
        grid: the input plane, ``H x W`` numbers (for MaxUnpool2D: the encoder map that is max-pooled).
        kernel: ``kh x kw`` weights of a (transposed) convolution (all ones when omitted).
        bias: its bias (ignored with ``use_bias: false``).
        values: MaxUnpool2D only: the decoder values to unpool (default: the pooled values).

    Raises:
        ValueError: a bad argument or grid (the layer's own message), or a size over ``limits.ARITH_*``.
    """
    layer = make_layer(kind, args)
    xs = _check_planes("grid", grid, kind)
    shape = tuple(xs.shape)
    result: dict[str, Any] = {"layer": kind, "input": _plain(xs), "input_shape": list(shape)}
    result.update(kernel=None, bias=None, pad=None, canvas=None, crop=None, channels=shape[0])
    layer.compute_output_shape(shape)  # the layer's own message for a window larger than the input
    if kind in ("Conv2D", "Conv2DTranspose"):
        kernel, bias = _fixed_weights(layer, shape, kernel, float(bias))
        result.update(kernel=_plain(kernel), bias=bias)
    with torch.no_grad():
        if kind == "MaxUnpool2D":
            return _unpool_trace(layer, xs[0], values, result)
        y = layer(torch.as_tensor(xs, dtype=torch.float32)[None])[0, 0].double().numpy()
    result["output_shape"] = list(layer.compute_output_shape(shape))
    result["config"] = layer.spec_config()  # as a spec writes it
    steps = _steps(layer, xs, y, kernel, bias, result)
    for st in steps:
        if "out" in st:
            st["value"] = _f(y[st["out"][0], st["out"][1]])
    return _finish(result, steps, y)


def _steps(
    layer: Any, xs: np.ndarray, y: np.ndarray, kernel: Any, bias: float, result: dict[str, Any]
) -> list[dict[str, Any]]:
    """The steps of every kind but MaxUnpool2D; sets ``mode``, ``op`` and the geometry in ``result``."""
    kind, x = result["layer"], xs[0]
    if kind in GATHER or getattr(layer, "interpolation", "") == "bilinear":
        if kind in GATHER:
            steps, result["pad"] = _window_steps(layer, xs, kernel, bias)
        else:
            steps = _bilinear_steps(layer, x)
        result.update(mode="gather", op={"MaxPool2D": "max", "AvgPool2D": "mean"}.get(kind, "dot"))
        if kind == "MaxPool2D":
            with torch.no_grad():
                _, switches = layer.forward_with_switches(_plane(x))
            wd = x.shape[1]
            for st, s in zip(steps, switches.view(-1).tolist(), strict=True):
                st["best"] = [s // wd, s % wd]
    elif kind == "Conv2DTranspose":
        steps, result["canvas"], result["crop"] = _stamp_steps(layer, x, kernel[0])
        result.update(mode="scatter", op="add")
    else:
        steps = _block_steps(x, layer.size, kind == "BedOfNails2D")
        result.update(mode="scatter", op="set", canvas=list(y.shape))
    return steps


def _fixed_weights(layer: Any, shape: tuple[int, ...], kernel: Any, bias: float) -> tuple[np.ndarray, float]:
    kh, kw = layer.kernel_size
    chans = shape[0]
    k = np.ones((chans, kh, kw)) if kernel is None else np.asarray(kernel, dtype=np.float64)
    k = k[None] if k.ndim == 2 else k
    if k.shape != (chans, kh, kw):
        got = "x".join(str(v) for v in k.shape[-2:]) + (f" in {k.shape[0]} channels" if k.ndim == 3 else "")
        raise ValueError(
            f"kernel must be {kh}x{kw} (kernel_size) for each of the {chans} input channel(s), got {got}"
        )
    k = np.stack([_check_matrix("kernel", p, limits.ARITH_MAX_KERNEL) for p in k])
    if not np.isfinite(bias) or abs(bias) > limits.ARITH_MAX_VALUE:
        raise ValueError(f"bias must be a finite number with |v| <= {limits.ARITH_MAX_VALUE:g}")
    bias = bias if layer.use_bias else 0.0
    layer.build(shape)
    with torch.no_grad():  # Conv2D weight (1, C, kh, kw); Conv2DTranspose (c_in=1, filters=1, kh, kw)
        layer.weight.copy_(torch.as_tensor(k, dtype=torch.float32).view(*layer.weight.shape))
        if layer.bias is not None:
            layer.bias.fill_(bias)
    return k, bias


def _unpool_trace(pool: Any, source: np.ndarray, values: Any, result: dict[str, Any]) -> dict[str, Any]:
    """MaxUnpool2D: pool the encoder map for real, then put each decoder value at its switch."""
    from convolab.layers.upsampling import MaxUnpool2D, PoolLink

    h, w = source.shape
    pooled, switches = pool.forward_with_switches(_plane(source))
    p = pooled[0, 0].double().numpy()
    v = p if values is None else _check_matrix("values", values, limits.ARITH_MAX_GRID)
    if v.shape != p.shape:
        raise ValueError(f"values must have the pooled shape {p.shape[0]}x{p.shape[1]}, got {v.shape}")
    unpool = MaxUnpool2D("pool", name="unpool")
    y = unpool(_plane(v), switches=switches, output_size=(h, w))[0, 0].double().numpy()
    window, _ = _window_steps(pool, source[None], None, 0.0)
    sw = switches[0, 0].tolist()
    steps = []
    for st in window:
        r, c = st["out"]
        s = sw[r][c]
        cell = [s // w, s % w, 1.0, float(v[r, c])]
        steps.append(
            {"in": [r, c], "x": float(v[r, c]), "window": [t[:2] for t in st["taps"]], "cells": [cell]}
        )
    result.update(
        source=source.tolist(),
        pooled=p.tolist(),
        switches=[[s // w, s % w] for row in sw for s in row],
        input=v.tolist(),
        input_shape=[1, *v.shape],
        output_shape=list(unpool.compute_output_shape((1, *v.shape), PoolLink(pool, (1, h, w)))),
        config={"pool": pool.spec_config(), "unpool": unpool.spec_config()},
        mode="scatter",
        op="set",
        canvas=[h, w],
    )
    return _finish(result, steps, y)


def _finish(result: dict[str, Any], steps: list[dict[str, Any]], y: np.ndarray) -> dict[str, Any]:
    result["steps"] = steps
    result["output"] = [[_f(v) for v in row] for row in y]
    got = replay(result)
    mag = 1.0 + abs(result["bias"] or 0.0)
    for st in steps:  # float32 rounding grows with the magnitudes summed at one position
        parts = st.get("taps") or st["cells"]
        mag = max(mag, sum(abs(t[-1] if t[-1] is not None else (t[2] or 0.0)) for t in parts))
    if got.shape != y.shape or not np.allclose(got, y, rtol=1e-5, atol=1e-6 * mag):
        raise AssertionError(f"arith trace disagrees with the {result['layer']} layer (a bug)")
    return result
