"""Lab API, conv-arithmetic panel and designer explanations: traces and formulas against the layers.

For every animated layer type and many random configurations (hypothesis, derandomized): the trace's
output equals the layer's own forward pass, the independent loop oracles of tests/layer_oracles.py, and
the replay of the trace's own steps; every step's written-out arithmetic gives that step's value. The
substituted formulas evaluate to compute_output_shape, count_params and macs for every layer type.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

import layer_oracles as oracle  # noqa: E402
from convolab import limits  # noqa: E402
from convolab.lab.arith_trace import replay  # noqa: E402
from convolab.lab.formulas import layer_formulas  # noqa: E402
from convolab.lab.server import create_app  # noqa: E402
from convolab.layers import (  # noqa: E402
    Activation,
    AvgPool2D,
    BedOfNails2D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Flatten,
    MaxPool2D,
    MaxUnpool2D,
    PoolLink,
    Reshape,
    UpSampling2D,
)
from convolab.layers.padding import keras_refuses_transpose  # noqa: E402
from lab_support import lab_client  # noqa: E402

CLIENT = lab_client(create_app("runs-that-do-not-exist"))
PROPS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def post(body: dict) -> dict:
    r = CLIENT.post("/api/arith", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def refuse(body: dict, pattern: str, path: str = "/api/arith") -> str:
    r = CLIENT.post(path, json=body)
    assert 400 <= r.status_code < 500, r.text
    message = r.json()["error"]
    assert "\n" not in message and re.search(pattern, message), message
    return message


@st.composite
def planes(draw, max_side: int = 7, distinct: bool = False):
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    if distinct:  # pooling: no ties, so the switch is unambiguous
        seed = draw(st.integers(0, 2**16))
        return (np.random.default_rng(seed).permutation(h * w).reshape(h, w) - h * w // 2).astype(float)
    vals = draw(st.lists(st.integers(-9, 9), min_size=h * w, max_size=h * w))
    return np.array(vals, dtype=float).reshape(h, w)


def pair(lo: int, hi: int):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


def layer_out(layer, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return layer(torch.tensor(x, dtype=torch.float32)[None, None])[0, 0].double().numpy()


def check_common(res: dict, expected: np.ndarray, layer, link=None) -> None:
    got = np.array(res["output"])
    shape = tuple(res["input_shape"])
    out = layer.compute_output_shape(shape, link) if link is not None else layer.compute_output_shape(shape)
    assert res["output_shape"] == list(out)
    assert got.shape == tuple(res["output_shape"][1:]) == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(replay(res), expected, rtol=1e-5, atol=1e-4)


# ---- Conv2D ------------------------------------------------------------------------------------------


@PROPS
@given(
    x=planes(),
    k=pair(1, 4),
    s=pair(1, 3),
    d=pair(1, 3),
    padding=st.sampled_from(["same", "valid"]),
    use_bias=st.booleans(),
    seed=st.integers(0, 999),
)
def test_conv2d_trace_equals_layer_and_loop_oracle(x, k, s, d, padding, use_bias, seed):
    if max(s) > 1:
        d = (1, 1)  # Keras refuses strides > 1 with dilation > 1
    h, w = x.shape
    if padding == "valid" and ((k[0] - 1) * d[0] + 1 > h or (k[1] - 1) * d[1] + 1 > w):
        args = {"kernel_size": list(k), "dilation_rate": list(d)}
        refuse({"layer": "Conv2D", "args": args, "grid": x.tolist()}, "larger than the 'valid' input")
        return
    kernel = np.random.default_rng(seed).integers(-3, 4, size=k).astype(float)
    bias = 0.5 if use_bias else 0.0
    args = {
        "kernel_size": list(k),
        "strides": list(s),
        "padding": padding,
        "dilation_rate": list(d),
        "use_bias": use_bias,
    }
    res = post({"layer": "Conv2D", "args": args, "grid": x.tolist(), "kernel": kernel.tolist(), "bias": 0.5})
    layer = Conv2D(1, k, strides=s, padding=padding, dilation_rate=d, use_bias=use_bias)
    layer.build((1, h, w))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(kernel, dtype=torch.float32)[None, None])
        if layer.bias is not None:
            layer.bias.fill_(0.5)
    ref = oracle.conv2d(x[None], kernel[None, None], np.array([bias]), s, padding, d)[0]
    expected = layer_out(layer, x)
    np.testing.assert_allclose(expected, ref, atol=1e-4)
    check_common(res, expected, layer)
    pt, pb = oracle.tf_pads(h, k[0], s[0], padding, d[0])
    pl, pr = oracle.tf_pads(w, k[1], s[1], padding, d[1])
    assert res["pad"] == [pt, pb, pl, pr]
    assert len(res["steps"]) == expected.size
    for step in res["steps"]:
        r, c = step["out"]
        assert len(step["taps"]) == k[0] * k[1]
        total = 0.0
        for i, (row, col, v, wt, prod) in enumerate(step["taps"]):
            a, b = divmod(i, k[1])
            assert (row, col) == (r * s[0] - pt + a * d[0], c * s[1] - pl + b * d[1])
            inside = 0 <= row < h and 0 <= col < w
            assert (v is None) == (not inside)  # padding cells carry no value
            assert wt == kernel[a, b] and prod == (x[row, col] if inside else 0.0) * wt
            total += prod
        assert step["value"] == pytest.approx(total + bias, abs=1e-4)


# ---- pooling -----------------------------------------------------------------------------------------


@PROPS
@given(
    x=planes(distinct=True),
    k=pair(1, 4),
    s=pair(1, 3),
    padding=st.sampled_from(["same", "valid"]),
    mode=st.sampled_from(["max", "avg"]),
)
def test_pooling_trace_equals_layer_and_loop_oracle(x, k, s, padding, mode):
    h, w = x.shape
    kind = "MaxPool2D" if mode == "max" else "AvgPool2D"
    body = {
        "layer": kind,
        "args": {"pool_size": list(k), "strides": list(s), "padding": padding},
        "grid": x.tolist(),
    }
    if padding == "valid" and (k[0] > h or k[1] > w):
        refuse(body, "larger than the 'valid' input")
        return
    res = post(body)
    layer = (MaxPool2D if mode == "max" else AvgPool2D)(k, strides=s, padding=padding)
    ref, switches = oracle.pool2d(x[None], k, s, padding, mode)
    expected = layer_out(layer, x)
    np.testing.assert_allclose(expected, ref[0], atol=1e-5)
    check_common(res, expected, layer)
    for step, sw in zip(res["steps"], switches[0].ravel(), strict=True):
        real = [t for t in step["taps"] if t[2] is not None]
        assert all(t[3] is None for t in step["taps"])  # no weights in a pool
        vals = [t[2] for t in real]
        want = max(vals) if mode == "max" else sum(vals) / len(vals)
        assert step["value"] == pytest.approx(want, abs=1e-5)
        if mode == "max":
            assert step["best"] == [int(sw) // w, int(sw) % w] and x[tuple(step["best"])] == max(vals)


# ---- Conv2DTranspose ---------------------------------------------------------------------------------


@PROPS
@given(
    x=planes(max_side=5),
    k=pair(1, 4),
    s=pair(1, 3),
    d=pair(1, 2),
    padding=st.sampled_from(["same", "valid"]),
    op=st.one_of(st.none(), pair(0, 2)),
    seed=st.integers(0, 999),
)
def test_conv2d_transpose_trace_equals_layer_and_loop_oracle(x, k, s, d, padding, op, seed):
    if max(s) > 1:
        d = (1, 1)
    if op is not None:
        op = (min(op[0], s[0] - 1), min(op[1], s[1] - 1))  # Keras: output_padding < strides
    h, w = x.shape
    kernel = np.random.default_rng(seed).integers(-2, 3, size=k).astype(float)
    args = {
        "kernel_size": list(k),
        "strides": list(s),
        "padding": padding,
        "dilation_rate": list(d),
        "output_padding": None if op is None else list(op),
    }
    body = {
        "layer": "Conv2DTranspose",
        "args": args,
        "grid": x.tolist(),
        "kernel": kernel.tolist(),
        "bias": -1,
    }
    ops = op or (None, None)
    if any(
        keras_refuses_transpose(i, kk, ss, padding, a, dd)
        for i, kk, ss, a, dd in zip((h, w), k, s, ops, d, strict=True)
    ):
        refuse(body, "TensorFlow needs ceil")
        return
    res = post(body)
    layer = Conv2DTranspose(1, k, strides=s, padding=padding, output_padding=op, dilation_rate=d)
    layer.build((1, h, w))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(kernel, dtype=torch.float32)[None, None])
        layer.bias.fill_(-1)
    expected = layer_out(layer, x)
    ref = oracle.conv2d_transpose(x[None], kernel[None, None], np.array([-1.0]), s, padding, op, d)[0]
    np.testing.assert_allclose(expected, ref, atol=1e-4)
    check_common(res, expected, layer)
    full = ((h - 1) * s[0] + (k[0] - 1) * d[0] + 1, (w - 1) * s[1] + (k[1] - 1) * d[1] + 1)
    assert res["canvas"] == list(full) and res["mode"] == "scatter" and res["op"] == "add"
    nh, nw = expected.shape
    assert res["crop"] == [max(full[0] - nh, 0) // 2, max(full[1] - nw, 0) // 2, nh, nw]
    for step in res["steps"]:  # each input pixel stamps value x kernel at stride offsets
        r, c = step["in"]
        assert step["x"] == x[r, c] and len(step["cells"]) == k[0] * k[1]
        for i, (row, col, wt, prod) in enumerate(step["cells"]):
            a, b = divmod(i, k[1])
            assert (row, col, wt, prod) == (
                r * s[0] + a * d[0],
                c * s[1] + b * d[1],
                kernel[a, b],
                x[r, c] * wt,
            )


# ---- the upsampling family ---------------------------------------------------------------------------


@PROPS
@given(x=planes(max_side=6), size=pair(1, 4), kind=st.sampled_from(["nearest", "bilinear", "nails"]))
def test_upsampling_traces_equal_layer_and_oracles(x, size, kind):
    if kind == "nails":
        body = {"layer": "BedOfNails2D", "args": {"size": list(size)}, "grid": x.tolist()}
        layer = BedOfNails2D(size)
        ref = np.zeros((x.shape[0] * size[0], x.shape[1] * size[1]))
        ref[:: size[0], :: size[1]] = x
    else:
        body = {
            "layer": "UpSampling2D",
            "args": {"size": list(size), "interpolation": kind},
            "grid": x.tolist(),
        }
        layer = UpSampling2D(size, interpolation=kind)
        ref = (
            np.repeat(np.repeat(x, size[0], 0), size[1], 1)
            if kind == "nearest"
            else oracle.resize_bilinear_half_pixel(x[None], *size)[0]
        )
    res = post(body)
    expected = layer_out(layer, x)
    np.testing.assert_allclose(expected, ref, atol=1e-5)
    check_common(res, expected, layer)
    if kind == "bilinear":
        assert res["mode"] == "gather"
        for step in res["steps"]:
            assert sum(t[3] for t in step["taps"]) == pytest.approx(1.0)  # interpolation weights
            assert step["value"] == pytest.approx(sum(t[4] for t in step["taps"]), abs=1e-5)
    else:
        cells = size[0] * size[1] if kind == "nearest" else 1
        assert all(len(step["cells"]) == cells for step in res["steps"])


@PROPS
@given(
    x=planes(max_side=8, distinct=True),
    k=pair(1, 3),
    s=pair(1, 3),
    padding=st.sampled_from(["same", "valid"]),
    own_values=st.booleans(),
)
def test_max_unpool_trace_uses_the_switches_of_a_real_pool(x, k, s, padding, own_values):
    h, w = x.shape
    body = {
        "layer": "MaxUnpool2D",
        "args": {"pool_size": list(k), "strides": list(s), "padding": padding},
        "grid": x.tolist(),
    }
    if padding == "valid" and (k[0] > h or k[1] > w):
        refuse(body, "larger than the 'valid' input")
        return
    pooled, switches = oracle.pool2d(x[None], k, s, padding, "max")
    values = pooled[0] * 10 + 1 if own_values else pooled[0]
    if own_values:
        body["values"] = values.tolist()
    res = post(body)
    pool, unpool = MaxPool2D(k, strides=s, padding=padding, name="p"), MaxUnpool2D("p")
    with torch.no_grad():
        _, sw = pool.forward_with_switches(torch.tensor(x, dtype=torch.float32)[None, None])
        v = torch.tensor(values, dtype=torch.float32)[None, None]
        expected = unpool(v, switches=sw, output_size=(h, w))[0, 0].double().numpy()
    np.testing.assert_allclose(expected, oracle.unpool(values[None], switches, (h, w))[0], atol=1e-5)
    check_common(res, expected, unpool, PoolLink(pool, (1, h, w)))
    np.testing.assert_allclose(res["pooled"], pooled[0], atol=1e-6)
    assert res["switches"] == [[int(p) // w, int(p) % w] for p in switches[0].ravel()]
    for step, p in zip(res["steps"], switches[0].ravel(), strict=True):
        assert step["cells"][0][:2] == [int(p) // w, int(p) % w]
        assert step["cells"][0][:2] in step["window"]  # the switch lies in its pooling window


# ---- formulas ----------------------------------------------------------------------------------------


def check_formulas(layer, shape, link=None) -> None:
    f = layer_formulas(layer, shape, link)
    out = layer.compute_output_shape(shape, link) if link is not None else layer.compute_output_shape(shape)
    assert [o["value"] for o in f["output"]] == list(out)
    assert f["params"]["value"] == layer.count_params(shape)
    assert f["macs"]["value"] == layer.macs(shape)
    for part in (*f["output"], f["params"], f["macs"]):
        assert part["text"].endswith(f"{part['value']:,}")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(
        ["Conv2D", "Conv2DTranspose", "MaxPool2D", "AvgPool2D", "UpSampling2D", "BedOfNails2D", "MaxUnpool2D"]
    ),
    c=st.integers(1, 32),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    f=st.integers(1, 64),
    k=pair(1, 7),
    s=pair(1, 4),
    d=pair(1, 3),
    padding=st.sampled_from(["same", "valid"]),
    op=st.one_of(st.none(), pair(0, 3)),
    use_bias=st.booleans(),
)
def test_formulas_evaluate_to_the_layer_arithmetic(kind, c, h, w, f, k, s, d, padding, op, use_bias):
    if max(s) > 1:
        d = (1, 1)
    shape = (c, h, w)
    if kind == "Conv2D":
        layer = Conv2D(f, k, strides=s, padding=padding, dilation_rate=d, use_bias=use_bias)
    elif kind == "Conv2DTranspose":
        op = None if op is None else (min(op[0], s[0] - 1), min(op[1], s[1] - 1))
        layer = Conv2DTranspose(
            f, k, strides=s, padding=padding, output_padding=op, dilation_rate=d, use_bias=use_bias
        )
    elif kind in ("MaxPool2D", "AvgPool2D", "MaxUnpool2D"):
        layer = (AvgPool2D if kind == "AvgPool2D" else MaxPool2D)(k, strides=s, padding=padding, name="p")
    else:
        layer = (UpSampling2D if kind == "UpSampling2D" else BedOfNails2D)(s)
    try:
        layer.compute_output_shape(shape)
    except ValueError:
        return  # a configuration the layer itself refuses (checked elsewhere)
    if kind == "MaxUnpool2D":
        unpool = MaxUnpool2D("p")
        check_formulas(unpool, layer.compute_output_shape(shape), PoolLink(layer, shape))
        return
    check_formulas(layer, shape)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (Dense(32), (784,)),
        (Dense(5, use_bias=False), (4, 2)),
        (Dense(3), (2, 3, 4)),
        (Flatten(), (16, 7, 7)),
        (Reshape((1, 28, -1)), (784,)),
        (Reshape((4, 4, 2)), (32,)),
        (Activation("relu"), (8, 5, 5)),
        (Activation("sigmoid"), (10,)),
    ],
)
def test_formulas_of_the_other_layer_types(layer, shape):
    check_formulas(layer, shape)


def test_formula_literals():
    f = layer_formulas(Conv2D(8, 3, padding="same"), (16, 14, 14))
    assert f["params"]["text"] == "(3·3·16 + 1)·8 = 1,160"  # the example
    assert f["params"]["symbolic"] == "(kh·kw·C + 1)·F"
    assert f["macs"]["text"] == "14·14·8·16·3·3 = 225,792"
    assert f["output"][1]["text"] == "⌈14 / 1⌉ = 14"
    v = layer_formulas(Conv2D(4, (5, 3), strides=2, dilation_rate=1), (1, 28, 28))
    assert v["output"][1]["text"] == "⌊(28 − 5) / 2⌋ + 1 = 12" and v["output"][2]["value"] == 13
    t = layer_formulas(Conv2DTranspose(16, 3, strides=2, padding="same"), (8, 7, 7))
    assert t["output"][1]["text"] == "7·2 = 14" and t["params"]["text"] == "(3·3·8 + 1)·16 = 1,168"
    # the TF 'same' split: k=3, s=2 on 28 pads one pixel in total, all of it after (bottom/right)
    res = post(
        {
            "layer": "Conv2D",
            "args": {"kernel_size": 3, "strides": 2, "padding": "same"},
            "grid": [[1] * 6] * 6,
        }
    )
    split = res["formulas"]["padding"][0]
    assert split["total"]["text"] == "max((⌈6 / 2⌉ − 1)·2 + 3 − 6, 0) = 1"
    assert (split["before"]["value"], split["after"]["value"]) == (0, 1) and res["pad"] == [0, 1, 0, 1]


def test_explain_formulas_equal_the_analysis_for_every_zoo_model():
    from convolab.model.zoo import get_spec, list_models

    for name in list_models():
        text = yaml.safe_dump(get_spec(name), sort_keys=False, default_flow_style=None)
        r = CLIENT.post("/api/explain", json={"spec": text})
        assert r.status_code == 200, (name, r.text)
        a = CLIENT.post("/api/analyze", json={"spec": text}).json()
        for row, ref in zip(r.json()["layers"], a["layers"], strict=True):
            f = row["formulas"]
            assert (row["name"], row["type"]) == (ref["name"], ref["type"])
            assert [o["value"] for o in f["output"]] == ref["output_shape"], (name, row["name"])
            assert f["params"]["value"] == ref["params"] and f["macs"]["value"] == ref["macs"]


# ---- form support: layer arguments and spec edits ----------------------------------------------------


def test_layer_args_schema_follows_the_constructors():
    from convolab.layers import LAYER_REGISTRY

    schema = CLIENT.get("/api/layer-args").json()["layers"]
    assert set(schema) == {cls.__name__ for cls in LAYER_REGISTRY.values()}
    conv = {a["name"]: a for a in schema["Conv2D"]}
    assert list(conv)[:5] == ["filters", "kernel_size", "strides", "padding", "dilation_rate"]
    assert conv["filters"]["required"] and conv["strides"]["default"] == 1
    assert conv["padding"]["choices"] == ["same", "valid"] and conv["use_bias"]["control"] == "bool"
    assert None in conv["activation"]["choices"] and "relu" in conv["activation"]["choices"]
    assert {a["name"]: a["control"] for a in schema["MaxUnpool2D"]}["pool"] == "pool"
    assert "kernel" not in conv  # a fixed kernel is a matrix, edited as text


def test_spec_edit_rewrites_one_argument_and_keeps_the_rest():
    from convolab.model.zoo import get_spec

    spec = get_spec("seed-upsampling")
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)
    r = CLIENT.post("/api/spec/edit", json={"spec": text, "layer": 2, "key": "kernel_size", "value": [5, 3]})
    assert r.status_code == 200, r.text
    new = yaml.safe_load(r.json()["yaml"])
    assert new["layers"][2]["kernel_size"] == [5, 3]
    new["layers"][2]["kernel_size"] = spec["layers"][2]["kernel_size"]
    assert new == spec
    assert "- {type: Conv2D, name: enc_conv2, filters: 8, kernel_size: [5, 3]," in r.json()["yaml"]
    gone = CLIENT.post("/api/spec/edit", json={"spec": text, "layer": 0, "key": "activation", "value": None})
    assert "activation" not in yaml.safe_load(gone.json()["yaml"])["layers"][0]
    refuse({"spec": text, "layer": 99, "key": "filters", "value": 3}, "index of a layer", "/api/spec/edit")
    refuse(
        {"spec": text, "layer": 0, "key": "type", "value": "Dense"}, "layer argument name", "/api/spec/edit"
    )
    refuse({"spec": text, "layer": 0, "key": "filters", "value": {"a": 1}}, "value must be", "/api/spec/edit")


# ---- bad input ---------------------------------------------------------------------------------------


GRID = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ({"layer": "Conv3D", "grid": GRID}, "layer must be one of"),
        ({"layer": "Conv2D", "args": {"filters": 4}, "grid": GRID}, "unknown: filters"),
        ({"layer": "Conv2D", "args": [3], "grid": GRID}, "args must be an object"),
        ({"layer": "Conv2D", "args": {"strides": 0}, "grid": GRID}, "strides must be >= 1"),
        ({"layer": "Conv2D", "args": {"padding": "full"}, "grid": GRID}, "'same' or 'valid'"),
        ({"layer": "Conv2D", "args": {"kernel_size": 8}, "grid": GRID}, "over the limit of 7"),
        (
            {"layer": "Conv2D", "args": {"kernel_size": 2}, "grid": GRID, "kernel": [[1, 2, 3]]},
            "kernel must be 2x2",
        ),
        ({"layer": "Conv2D", "grid": [[1] * 17]}, "at most 16x16"),
        ({"layer": "Conv2D", "grid": [[1, 2], [3]]}, "rows must all have"),
        ({"layer": "Conv2D", "grid": [[1e7]]}, r"\|v\| <= 1e6"),
        ({"layer": "Conv2D", "grid": GRID, "bias": "x"}, "bias must be a number"),
        ({"layer": "Conv2D", "args": {"strides": 2, "dilation_rate": 2}, "grid": GRID}, "not supported"),
        ({"layer": "UpSampling2D", "args": {"size": 5}, "grid": GRID}, "over the limit of 4"),
        (
            {"layer": "UpSampling2D", "args": {"interpolation": "cubic"}, "grid": GRID},
            "nearest' or 'bilinear",
        ),
        (
            {"layer": "Conv2DTranspose", "args": {"strides": 2, "output_padding": 2}, "grid": GRID},
            "must be <",
        ),
        ({"layer": "MaxUnpool2D", "grid": [[1, 2], [3, 4]], "values": [[1, 2]]}, "pooled shape"),
        ({"layer": "MaxPool2D", "args": {"pool_size": 4}, "grid": GRID}, "larger than the 'valid' input"),
    ],
)
def test_bad_input_is_a_short_json_error(body, pattern):
    refuse(body, pattern)


def test_limits_bound_every_size():
    # the largest full transposed output allowed by the argument limits fits the output bound
    biggest = (limits.ARITH_MAX_GRID - 1) * limits.ARITH_MAX_STRIDE + limits.ARITH_MAX_KERNEL
    assert biggest <= limits.ARITH_MAX_OUTPUT_SIDE
    taps = limits.ARITH_MAX_GRID**2 * limits.ARITH_MAX_KERNEL**2
    assert taps <= limits.ARITH_MAX_TAPS
    res = post(
        {"layer": "Conv2DTranspose", "args": {"kernel_size": 7, "strides": 4}, "grid": [[1] * 16] * 16}
    )
    assert res["canvas"] == [biggest, biggest] and math.isclose(res["output"][30][30], 4.0)
