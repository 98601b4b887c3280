"""The output-size, parameter and MAC formulas of a layer, with its numbers substituted.

Each formula is a template over named quantities, e.g. params of a Conv2D ``(kh*kw*C + 1)*F``; the
quantities are bound from the layer's own arguments and input shape, the template is rendered twice
(symbols: ``(kh·kw·C + 1)·F``; numbers: ``(3·3·16 + 1)·8``) and *evaluated* exactly (integers and
fractions only, no floats, no ``eval``). The value is what the formula says, not what the layer says:
tests check that it equals ``compute_output_shape``, ``count_params`` and ``macs`` for every layer type.

Example:
    >>> from convolab.layers import Conv2D
    >>> f = layer_formulas(Conv2D(8, 3, padding="same"), (16, 14, 14))
    >>> f["params"]["text"], f["params"]["value"]
    ('(3·3·16 + 1)·8 = 1,160', 1160)
"""

from __future__ import annotations

import ast
import math
from fractions import Fraction
from typing import Any

from convolab.layers.base import Layer
from convolab.layers.upsampling import PoolLink

_NAMES = {"Ho": "H′", "Wo": "W′", "keh": "ke_h", "kew": "ke_w"}
_OPS = {ast.Add: " + ", ast.Sub: " − ", ast.Mult: "·", ast.Div: " / "}
_PREC = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2}


def evaluate(node: ast.AST, env: dict[str, int]) -> Fraction:
    """Exact value of a template expression (ints, names, + - * /, ceil, floor, max, prod)."""
    if isinstance(node, ast.Expression):
        return evaluate(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return Fraction(node.value)
    if isinstance(node, ast.Name):
        return Fraction(env[node.id])
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = evaluate(node.left, env), evaluate(node.right, env)
        op = type(node.op)
        return a + b if op is ast.Add else a - b if op is ast.Sub else a * b if op is ast.Mult else a / b
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [evaluate(a, env) for a in node.args]
        fn = node.func.id
        if fn == "ceil":
            return Fraction(math.ceil(args[0]))
        if fn == "floor":
            return Fraction(math.floor(args[0]))
        if fn == "max":
            return max(args)
        if fn == "prod":
            return math.prod(args, start=Fraction(1))
    raise ValueError(f"formula: unsupported expression {ast.dump(node)}")


def render(node: ast.AST, env: dict[str, int] | None, parent: int = 0) -> str:
    """Text of a template expression: symbols (``env`` None) or the bound numbers."""
    if isinstance(node, ast.Expression):
        return render(node.body, env)
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.Name):
        return _NAMES.get(node.id, node.id) if env is None else f"{env[node.id]:,}"
    if isinstance(node, ast.BinOp):
        op = type(node.op)
        prec = _PREC[op]
        right_prec = prec + 1 if op in (ast.Sub, ast.Div) else prec
        text = render(node.left, env, prec) + _OPS[op] + render(node.right, env, right_prec)
        return f"({text})" if prec < parent else text
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        inner = [render(a, env) for a in node.args]
        fn = node.func.id
        if fn == "ceil":
            return f"⌈{inner[0]}⌉"
        if fn == "floor":
            return f"⌊{inner[0]}⌋"
        if fn == "prod":
            return "·".join(inner)
        return f"{fn}({', '.join(inner)})"
    raise ValueError(f"formula: unsupported expression {ast.dump(node)}")


def formula(template: str, env: dict[str, int]) -> dict[str, Any]:
    """``{"symbolic", "numbers", "value", "text"}`` of ``template`` with ``env`` substituted."""
    tree = ast.parse(template, mode="eval")
    value = evaluate(tree, env)
    if value.denominator != 1:  # pragma: no cover - every template is an integer
        raise ValueError(f"formula {template!r} is not an integer for {env}")
    numbers = render(tree, env)
    text = numbers if numbers == f"{int(value):,}" else f"{numbers} = {int(value):,}"
    return {"symbolic": render(tree, None), "numbers": numbers, "value": int(value), "text": text}


def _const(value: int, why: str) -> dict[str, Any]:
    return {"symbolic": why, "numbers": f"{value:,}", "value": value, "text": f"{value:,}"}


# ---- per layer family --------------------------------------------------------------------------------


def _conv_axis(layer: Any, axis: int, env: dict[str, int]) -> str:
    """Template of one output side of Conv2D / pooling (TF 'same' or 'valid')."""
    h, k, s, d = ("H", "kh", "sh", "dh") if axis == 0 else ("W", "kw", "sw", "dw")
    if layer.padding == "same":
        return f"ceil({h} / {s})"
    if env.get(d, 1) == 1:
        return f"floor(({h} - {k}) / {s}) + 1"
    return f"floor(({h} - (({k} - 1)*{d} + 1)) / {s}) + 1"


def _transpose_axis(layer: Any, axis: int, env: dict[str, int]) -> str:
    """Template of one output side of Conv2DTranspose (Keras ``deconv_output_length``)."""
    h, k, s, d = ("H", "kh", "sh", "dh") if axis == 0 else ("W", "kw", "sw", "dw")
    ke = k if env[d] == 1 else f"(({k} - 1)*{d} + 1)"
    ops = layer.output_padding
    if ops is None:
        return f"{h}*{s}" if layer.padding == "same" else f"({h} - 1)*{s} + max({ke}, {s})"
    env["ah" if axis == 0 else "aw"] = ops[axis]
    a = "ah" if axis == 0 else "aw"
    if layer.padding == "valid":
        return f"({h} - 1)*{s} + {ke} + {a}"
    # 'same' with output_padding: (i - 1) s + ke - 2 (ke // 2) + a, and ke - 2 (ke // 2) = ke mod 2
    env["keh" if axis == 0 else "kew"] = (env[k] - 1) * env[d] + 1
    kes = "keh" if axis == 0 else "kew"
    return f"({h} - 1)*{s} + {kes} - 2*floor({kes} / 2) + {a}"


def _image_env(layer: Any, shape: tuple[int, ...]) -> dict[str, int]:
    c, h, w = shape
    env = {"C": c, "H": h, "W": w}
    ks = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if ks is not None:
        env.update(kh=ks[0], kw=ks[1], sh=layer.strides[0], sw=layer.strides[1])
        dil = getattr(layer, "dilation_rate", (1, 1))
        env.update(dh=dil[0], dw=dil[1])
    if hasattr(layer, "filters"):
        env["F"] = layer.filters
    return env


def _conv_like(layer: Any, shape: tuple[int, ...], transpose: bool) -> dict[str, Any]:
    env = _image_env(layer, shape)
    axis = _transpose_axis if transpose else _conv_axis
    out_h, out_w = formula(axis(layer, 0, env), env), formula(axis(layer, 1, env), env)
    env.update(Ho=out_h["value"], Wo=out_w["value"])
    params = "(kh*kw*C + 1)*F" if layer.use_bias else "kh*kw*C*F"
    macs = "H*W*C*F*kh*kw" if transpose else "Ho*Wo*F*C*kh*kw"
    return {
        "output": [formula("F", env), out_h, out_w],
        "params": formula(params, env),
        "macs": formula(macs, env),
    }


def _pool(layer: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    env = _image_env(layer, shape)
    return {
        "output": [
            formula("C", env),
            formula(_conv_axis(layer, 0, env), env),
            formula(_conv_axis(layer, 1, env), env),
        ],
        "params": _const(0, "no weights"),
        "macs": _const(0, "comparisons/additions, not counted as MACs"),
    }


def _upsample(layer: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    c, h, w = shape
    env = {"C": c, "H": h, "W": w, "sh": layer.size[0], "sw": layer.size[1]}
    return {
        "output": [formula("C", env), formula("H*sh", env), formula("W*sw", env)],
        "params": _const(0, "no weights"),
        "macs": _const(0, "moves values, no multiply-accumulates"),
    }


def _unpool(layer: Any, shape: tuple[int, ...], link: Any) -> dict[str, Any]:
    c, ph, pw = layer.compute_output_shape(shape, link)  # the paired pool's input size
    env = {"C": c, "H": ph, "W": pw}
    sides = [formula(a, env) for a in ("H", "W")]
    for side, axis in zip(sides, "HW", strict=True):  # the size comes back from the pool, not a formula
        side["symbolic"] = f"{axis} of the input of {layer.pool!r}"
    return {
        "output": [formula("C", env), *sides],
        "params": _const(0, "no weights"),
        "macs": _const(0, "moves values, no multiply-accumulates"),
    }


def _dense(layer: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    env = {"n_in": shape[-1], "units": layer.units, **{f"d{i}": v for i, v in enumerate(shape[:-1])}}
    rows = "prod(" + ", ".join(f"d{i}" for i in range(len(shape) - 1)) + ")" if len(shape) > 1 else "1"
    params = "(n_in + 1)*units" if layer.use_bias else "n_in*units"
    lead = [formula(f"d{i}", env) for i in range(len(shape) - 1)]
    return {
        "output": [*lead, formula("units", env)],
        "params": formula(params, env),
        "macs": formula(f"{rows}*n_in*units" if len(shape) > 1 else "n_in*units", env),
    }


def _reshape_like(layer: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    env = {f"d{i}": v for i, v in enumerate(shape)}
    total = "prod(" + ", ".join(env) + ")" if len(shape) > 1 else "d0"
    kind = type(layer).__name__
    if kind == "Flatten":
        out = [formula(total, env)]
    elif kind == "Reshape":
        out = []
        known = [v for v in layer.target_shape if v != -1]
        for v in layer.target_shape:
            if v == -1:
                env.update({f"t{i}": k for i, k in enumerate(known)})
                div = "prod(" + ", ".join(f"t{i}" for i in range(len(known))) + ")" if known else "1"
                out.append(formula(f"{total} / {div}", env))
            else:
                out.append(_const(v, "target_shape"))
    else:  # Activation and other shape-preserving layers
        out = [formula(name, env) for name in env]
    return {"output": out, "params": _const(0, "no weights"), "macs": _const(0, "no multiply-accumulates")}


def layer_formulas(
    layer: Layer, input_shape: tuple[int, ...], link: PoolLink | None = None
) -> dict[str, Any]:
    """``{"output": [one formula per output dimension], "params": ..., "macs": ...}`` (module docstring).

    A MaxUnpool2D needs ``link``, its pairing with its pool (``PoolLink``, as the model's walk makes it).
    """
    kind = type(layer).__name__
    shape = tuple(int(v) for v in input_shape)
    if kind in ("Conv2D", "Conv2DTranspose"):
        return _conv_like(layer, shape, kind == "Conv2DTranspose")
    if kind in ("MaxPool2D", "AvgPool2D"):
        return _pool(layer, shape)
    if kind in ("UpSampling2D", "BedOfNails2D"):
        return _upsample(layer, shape)
    if kind == "MaxUnpool2D":
        return _unpool(layer, shape, link)
    if kind == "Dense":
        return _dense(layer, shape)
    return _reshape_like(layer, shape)


def same_padding_formula(i: int, k: int, s: int, d: int, axis: str) -> dict[str, Any]:
    """TF's 'same' split of one axis: ``P = max((ceil(i/s) - 1)·s + ke - i, 0)``, P // 2 before."""
    env = {"i": i, "k": k, "s": s, "d": d}
    ke = "k" if d == 1 else "((k - 1)*d + 1)"
    total = formula(f"max((ceil(i / s) - 1)*s + {ke} - i, 0)", env)
    env["P"] = total["value"]
    return {
        "axis": axis,
        "total": total,
        "before": formula("floor(P / 2)", env),
        "after": formula("P - floor(P / 2)", env),
    }
