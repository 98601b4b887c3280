"""What made one output pixel of a layer (``POST /api/activations/pixel``; the activations widget's click):
its value, its pre-activation (``layer.call``), its receptive field in the input and in the layer's own
input, and for a Conv2D/Dense the kernel slice, the input window it multiplies and the bias. The model and
input are read as the activations view reads them (:mod:`convolab.lab.api_activations`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convolab.lab.api_activations import encode, fit_input, forward, image_of, load_model
from convolab.lab.http import ApiError


def _window(layer: Any, x_in: Any, k: int, u: int, v: int) -> dict[str, Any] | None:
    """Kernel slice, input window (zeros in the padding) and bias of Conv2D output ``(k, u, v)``."""
    from convolab.layers import Conv2D, Dense
    from convolab.layers.padding import padding_amounts

    if isinstance(layer, Dense):
        if x_in.dim() != 2 or layer.weight is None:
            return None
        w = layer.weight.detach()[k]  # (units, in): row k makes unit k
        bias = 0.0 if layer.bias is None else float(layer.bias.detach()[k])
        vec = x_in[0]
        return {"kind": "dense", "kernel": w.tolist(), "window": vec.tolist(), "bias": bias}
    if not isinstance(layer, Conv2D) or layer.weight is None:
        return None
    _, h, w_ = x_in.shape[1:]
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    top, _ = padding_amounts(int(h), kh, sh, layer.padding, dh)
    left, _ = padding_amounts(int(w_), kw, sw, layer.padding, dw)
    rows = [u * sh - top + a * dh for a in range(kh)]
    cols = [v * sw - left + b * dw for b in range(kw)]
    xin = x_in[0].numpy()
    window = np.zeros((xin.shape[0], kh, kw), dtype=np.float32)
    for a, r in enumerate(rows):
        for b, c in enumerate(cols):
            if 0 <= r < h and 0 <= c < w_:
                window[:, a, b] = xin[:, r, c]
    bias = 0.0 if layer.bias is None else float(layer.bias.detach()[k])
    return {
        "kind": "conv",
        "kernel": layer.weight[k].detach().tolist(),
        "window": window.tolist(),
        "bias": bias,
        "rows": rows,
        "cols": cols,
    }


def pixel(
    model: dict[str, Any], input: dict[str, Any], layer: int, channel: int, row: int, col: int
) -> dict[str, Any]:  # noqa: A002
    """The worker task behind ``POST /api/activations/pixel``."""
    net, _ = load_model(model)
    return pixel_of(net, fit_input(image_of(input), tuple(net.input_shape)), layer, channel, row, col)


def pixel_of(net: Any, x: np.ndarray, layer: int, channel: int, row: int, col: int) -> dict[str, Any]:
    """What made one output pixel, for a built model and its input (the lab's task and the widget)."""
    import torch

    from convolab.layers import MaxUnpool2D

    maps, analysis = forward(net, x)
    if not 0 <= layer < len(maps):
        raise ApiError(f"layer must be in [0, {len(maps) - 1}], got {layer}")
    name, out = maps[layer]
    shape = tuple(out.shape[1:])
    index = _unit_index(name, shape, channel, row, col)
    lay = list(net)[layer]
    x_in = torch.as_tensor(x) if layer == 0 else maps[layer - 1][1]
    value, pre_map = float(out[index]), None
    pre = value
    if lay.activation not in (None, "linear") and not isinstance(lay, MaxUnpool2D):
        with torch.no_grad():
            pre_t = lay.call(x_in)
        pre = float(pre_t[index])
        pre_map = encode(pre_t[0, channel].numpy()) if len(shape) == 3 else None
    info = analysis.layers[layer]
    field = info.pixel_field(row, col) if info.fields is not None and len(shape) == 3 else None
    detail = (
        _window(lay, x_in, channel, row, col) if len(shape) == 3 else _window(lay, x_in, int(index[-1]), 0, 0)
    )
    return {
        "layer": layer,
        "name": name,
        "type": type(lay).__name__,
        "activation": lay.activation,
        "channel": channel,
        "row": row,
        "col": col,
        "value": value,
        "pre_activation": pre,
        "field": None if field is None else [list(field[0]), list(field[1])],
        "detail": detail,
        "pre_map": pre_map,
        "prev_field": _prev_field(net, layer, tuple(x_in.shape[1:]), row, col),
    }


def _unit_index(name: str, shape: tuple[int, ...], channel: int, row: int, col: int) -> tuple[int, ...]:
    """The tensor index of one unit of a layer's output: ``(0, channel, row, col)`` of a feature map, or
    ``col`` as the flat index of any other output; out of range: an ``ApiError`` naming the layer."""
    if len(shape) == 3:
        c, h, w = shape
        if not (0 <= channel < c and 0 <= row < h and 0 <= col < w):
            raise ApiError(
                f"pixel (channel, row, col) must lie in ({c}, {h}, {w}) of {name}, got "
                f"({channel}, {row}, {col})"
            )
        return (0, channel, row, col)
    if not 0 <= col < int(np.prod(shape)):
        raise ApiError(f"index must lie in [0, {int(np.prod(shape)) - 1}] of {name}, got {col}")
    return (0, col) if len(shape) == 1 else (0, *(int(v) for v in np.unravel_index(col, shape)))


def _prev_field(net: Any, layer: int, in_shape: tuple[int, ...], row: int, col: int) -> list[int] | None:
    """Rows and columns ``[r0, r1, c0, c1]`` of the layer's own input (the maps of the layer before) that
    unit ``(row, col)`` sees: the same interval walk as the input's field, for this one layer alone."""
    from convolab.analysis.summary import analyze

    if layer == 0 or len(in_shape) != 3:
        return None
    doc = net.to_spec().to_dict()
    try:
        info = analyze({"input_shape": list(in_shape), "layers": [doc["layers"][layer]]}).layers[0]
        field = info.pixel_field(row, col) if info.fields is not None else None
    except (ValueError, KeyError, TypeError):  # a layer that needs another one (MaxUnpool2D's pool)
        return None
    return None if field is None else [*field[0], *field[1]]
