"""Property tests: random configurations and input sizes, static analysis == forward pass == NumPy,
and refusals (ValueError, never a crash) exactly where Keras refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convolab.layers import (
    AvgPool2D,
    BedOfNails2D,
    Conv2D,
    Conv2DTranspose,
    MaxPool2D,
    MaxUnpool2D,
    PoolLink,
    UpSampling2D,
)
from layer_oracles import conv2d as np_conv2d
from layer_oracles import conv2d_transpose as np_deconv
from layer_oracles import keras_deconv_length, pool2d, unpool

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pairs = st.tuples  # (H axis, W axis)
padding = st.sampled_from(["same", "valid"])


def _static_or_error(layer, shape):
    try:
        return layer.compute_output_shape(shape), None
    except ValueError as exc:
        return None, exc


@SETTINGS
@given(
    k=pairs(st.integers(1, 5), st.integers(1, 5)),
    s=pairs(st.integers(1, 3), st.integers(1, 3)),
    d=pairs(st.integers(1, 3), st.integers(1, 3)),
    pad=padding,
    hw=pairs(st.integers(1, 9), st.integers(1, 9)),
    cin=st.integers(1, 2),
)
def test_conv2d_property(k, s, d, pad, hw, cin) -> None:
    if max(s) > 1 and max(d) > 1:  # Keras refuses strides > 1 with dilation > 1
        with pytest.raises(ValueError, match="strides > 1 together with dilation_rate > 1"):
            Conv2D(2, k, strides=s, padding=pad, dilation_rate=d)
        return
    layer = Conv2D(2, k, strides=s, padding=pad, dilation_rate=d)
    shape = (cin, *hw)
    out, err = _static_or_error(layer, shape)
    keras_refuses = pad == "valid" and any((kk - 1) * dd + 1 > i for kk, dd, i in zip(k, d, hw, strict=True))
    assert (err is not None) == keras_refuses
    x = np.random.default_rng(0).standard_normal(shape)
    if err is not None:
        with pytest.raises(ValueError, match="is larger than the 'valid' input"):
            layer(torch.as_tensor(x)[None])
        return
    layer.build(shape)
    layer.double()
    y = layer(torch.as_tensor(x)[None])[0]
    assert tuple(y.shape) == out
    want = np_conv2d(x, layer.weight.detach().numpy(), layer.bias.detach().numpy(), s, pad, d)
    np.testing.assert_allclose(y.detach().numpy(), want, atol=1e-10)


@SETTINGS
@given(
    k=pairs(st.integers(1, 4), st.integers(1, 4)),
    s=pairs(st.integers(1, 3), st.integers(1, 3)),
    d=pairs(st.integers(1, 2), st.integers(1, 2)),
    pad=padding,
    op=st.one_of(st.none(), pairs(st.integers(0, 2), st.integers(0, 2))),
    hw=pairs(st.integers(1, 5), st.integers(1, 5)),
)
def test_conv2d_transpose_property(k, s, d, pad, op, hw) -> None:
    init_refuses = (op is not None and any(a >= ss for a, ss in zip(op, s, strict=True))) or (
        max(s) > 1 and max(d) > 1
    )
    if init_refuses:
        with pytest.raises(ValueError, match="output_padding must be < strides|strides > 1 together"):
            Conv2DTranspose(2, k, strides=s, padding=pad, output_padding=op, dilation_rate=d)
        return
    layer = Conv2DTranspose(2, k, strides=s, padding=pad, output_padding=op, dilation_rate=d)
    shape = (1, *hw)
    out, err = _static_or_error(layer, shape)
    lengths = [
        keras_deconv_length(i, kk, ss, pad, None if op is None else a, dd)
        for i, kk, ss, dd, a in zip(hw, k, s, d, op or (0, 0), strict=True)
    ]
    # the Keras 'same' + explicit output_padding quirk: TF needs ceil(n / s) == i on each axis
    quirk = (
        pad == "same"
        and op is not None
        and any(math.ceil(n / ss) != i for n, ss, i in zip(lengths, s, hw, strict=True))
    )
    assert (err is not None) == (quirk or min(lengths) < 1)
    x = np.random.default_rng(0).standard_normal(shape)
    if err is not None:
        with pytest.raises(ValueError):
            layer(torch.as_tensor(x)[None])
        return
    layer.build(shape)
    layer.double()
    with torch.no_grad():
        layer.bias.uniform_(-1, 1)
    y = layer(torch.as_tensor(x)[None])[0]
    assert tuple(y.shape) == out == (2, *lengths)
    want = np_deconv(x, layer.weight.detach().numpy(), layer.bias.detach().numpy(), s, pad, op, d)
    np.testing.assert_allclose(y.detach().numpy(), want, atol=1e-10)


@SETTINGS
@given(
    k=pairs(st.integers(1, 4), st.integers(1, 4)),
    s=st.one_of(st.none(), pairs(st.integers(1, 3), st.integers(1, 3))),
    pad=padding,
    hw=pairs(st.integers(1, 8), st.integers(1, 8)),
    kind=st.sampled_from(["max", "avg"]),
)
def test_pooling_property(k, s, pad, hw, kind) -> None:
    layer = (MaxPool2D if kind == "max" else AvgPool2D)(k, strides=s, padding=pad)
    shape = (2, *hw)
    out, err = _static_or_error(layer, shape)
    assert (err is not None) == (pad == "valid" and any(kk > i for kk, i in zip(k, hw, strict=True)))
    x = np.random.default_rng(0).standard_normal(shape)
    if err is not None:
        with pytest.raises(ValueError, match="pool size"):
            layer(torch.as_tensor(x)[None])
        return
    y = layer(torch.as_tensor(x)[None])[0]
    assert tuple(y.shape) == out
    np.testing.assert_allclose(y.numpy(), pool2d(x, k, s or k, pad, kind)[0], rtol=1e-12)


@SETTINGS
@given(
    k=pairs(st.integers(1, 3), st.integers(1, 3)),
    s=pairs(st.integers(1, 3), st.integers(1, 3)),
    pad=padding,
    hw=pairs(st.integers(1, 7), st.integers(1, 7)),
    size=pairs(st.integers(1, 3), st.integers(1, 3)),
    kind=st.sampled_from(["nearest", "bilinear", "nails", "unpool"]),
)
def test_upsampling_and_unpool_property(k, s, pad, hw, size, kind) -> None:
    shape = (2, *hw)
    x = np.random.default_rng(0).integers(0, 3, shape).astype(float)
    if kind != "unpool":
        layer = BedOfNails2D(size) if kind == "nails" else UpSampling2D(size, interpolation=kind)
        y = layer(torch.as_tensor(x)[None])[0]
        assert tuple(y.shape) == layer.compute_output_shape(shape) == (2, hw[0] * size[0], hw[1] * size[1])
        if kind == "nails":
            assert y.sum().item() == x.sum() and np.array_equal(y[:, :: size[0], :: size[1]].numpy(), x)
        return
    pool, un = MaxPool2D(k, strides=s, padding=pad, name="p"), MaxUnpool2D("p")
    pooled_shape, err = _static_or_error(pool, shape)
    if err is not None:
        with pytest.raises(ValueError):
            un.compute_output_shape(shape, PoolLink(pool, shape))
        return
    link = PoolLink(pool, shape)
    pooled, switches = pool.forward_with_switches(torch.as_tensor(x)[None])
    y = un(pooled, switches=switches, output_size=hw)[0]
    assert tuple(y.shape) == un.compute_output_shape(pooled_shape, link) == shape
    np.testing.assert_array_equal(y.numpy(), unpool(pooled[0].numpy(), switches[0].numpy(), hw))
