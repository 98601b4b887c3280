"""The interval walk: vectorised maps == AxisMap.interval, composition == brute force over sets,
plain encoders == the textbook recursion r' = r + (ke - 1) j, j' = j s."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st

from convolab.analysis.receptive_field import compose, global_field, identity_field, map_bounds
from convolab.analysis.summary import analyze
from convolab.layers import (
    AvgPool2D,
    BedOfNails2D,
    Conv2D,
    Conv2DTranspose,
    MaxPool2D,
    MaxUnpool2D,
    UpSampling2D,
)
from convolab.layers.base import AxisMap
from convolab.layers.padding import conv_output_length, padding_amounts
from convolab.model.sequential import Sequential
from convolab.model.walk import walk
from convolab.model.zoo import get_spec

KINDS = ("window", "transpose", "nearest", "nails", "bilinear", "identity", "global")


@st.composite
def axis_maps(draw, in_len=None):
    n = in_len if in_len is not None else draw(st.integers(1, 30))
    kind = draw(st.sampled_from(KINDS))
    k = draw(st.integers(1, 7))
    s = draw(st.integers(1, 4))
    p = draw(st.integers(0, 4))
    d = draw(st.integers(1, 3)) if s == 1 else 1
    return AxisMap(kind, n, kernel=(k - 1) * d + 1, stride=s, pad=p, dilation=d)


@given(m=axis_maps(), n_out=st.integers(1, 40))
def test_map_bounds_equals_scalar_interval(m, n_out):
    a, b = map_bounds(m, n_out)
    for u in range(n_out):
        expected = m.interval(u)
        got = (int(a[u]), int(b[u])) if a[u] <= b[u] else None
        assert got == expected, (m, u)


def brute_force(chain, n0):
    """Sets of model-input coordinates per output coordinate, by scalar intervals and their taps (the
    oracle; ``AxisMap.interval`` gives a dilated window's first and last tap)."""
    sets = [{u} for u in range(n0)]
    for m, n_out in chain:
        new = []
        for u in range(n_out):
            iv = m.interval(u)
            seen = set()
            if iv is not None:  # the taps lo, lo + d, ..., hi of a dilated window; every v otherwise
                step = m.dilation if m.kind in ("window", "transpose") else 1
                for v in range(iv[0], iv[1] + 1, step):
                    seen |= sets[v]
            new.append(seen)
        sets = new
    return sets


@st.composite
def chains(draw):
    n0 = draw(st.integers(1, 24))
    n, chain = n0, []
    for _ in range(draw(st.integers(1, 5))):
        m = draw(axis_maps(in_len=n))
        n_out = draw(st.integers(1, 30))
        chain.append((m, n_out))
        n = n_out
    return n0, chain


@example(case=(2, [(AxisMap("window", 2, kernel=1), 3), (AxisMap("window", 3, kernel=3, dilation=2), 1)]))
@given(case=chains())
def test_compose_equals_brute_force_union(case):
    n0, chain = case
    field = identity_field(n0)
    for m, n_out in chain:
        field = compose(field, m, n_out)
    for u, seen in enumerate(brute_force(chain, n0)):
        expected = (min(seen), max(seen)) if seen else None
        assert field.interval(u) == expected


@st.composite
def encoders(draw):
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        k = draw(st.integers(1, 5))
        d = draw(st.integers(1, 2))
        s = draw(st.integers(1, 3))
        layers.append((k, d, s, draw(st.sampled_from(["same", "valid"]))))
    return layers


@given(layers=encoders())
def test_plain_encoders_follow_the_textbook_recursion(layers):
    # textbook: r' = r + (ke - 1) j, j' = j s, start' = start + ((ke - 1) / 2 - p) j
    r, j, start = 1, 1, 0.0
    for k, d, s, _ in layers:
        ke = (k - 1) * d + 1
        r, j = r + (ke - 1) * j, j * s
    n = 4 * r + 3 * j  # large enough for an interior coordinate with an unclipped field
    field, all_valid = identity_field(n), True
    r, j, start = 1, 1, 0.0
    for k, d, s, pad in layers:
        ke = (k - 1) * d + 1
        before, _ = padding_amounts(len(field), k, s, pad, d)
        n_out = conv_output_length(len(field), k, s, pad, d)
        field = compose(field, AxisMap("window", len(field), kernel=ke, stride=s, pad=before), n_out)
        start += ((ke - 1) / 2 - before) * j
        r, j = r + (ke - 1) * j, j * s
        all_valid &= pad == "valid"
        summary = field.summary()
        assert summary["max"] == r
        assert summary["jump"] == j
        if all_valid:  # no clipping at the border: output 0's field is the textbook one
            assert summary["offset"] == start
            assert field.interval(0) == (0, r - 1)


def test_lecture_encoder_fields_by_hand():
    # seed-transpose's encoder, H axis: conv3 valid, pool2, conv3 valid, pool2, conv3 valid.
    f = identity_field(28)
    for ke, s, n_out in ((3, 1, 26), (2, 2, 13), (3, 1, 11), (2, 2, 5), (3, 1, 3)):
        f = compose(f, AxisMap("window", len(f), kernel=ke, stride=s), n_out)
    # r: 3, 4, 8, 10, 18; j = 4; output 0 sees [0, 17], output 2 sees [8, 25]
    assert f.summary() == {"max": 18, "center": 18, "jump": 4.0, "offset": 8.5}
    assert [f.interval(u) for u in range(3)] == [(0, 17), (4, 21), (8, 25)]


def test_upsampling_jump_is_fractional_and_nails_see_nothing_off_grid():
    f = compose(identity_field(4), AxisMap("window", 4, kernel=2, stride=2), 2)  # pool: j = 2
    up = compose(f, AxisMap("nearest", 2, stride=2), 4)
    assert up.jump == 1.0 and [up.interval(u) for u in range(4)] == [(0, 1), (0, 1), (2, 3), (2, 3)]
    nails = compose(identity_field(3), AxisMap("nails", 3, stride=2), 6)
    assert nails.jump == 0.5
    assert [nails.interval(u) for u in range(6)] == [(0, 0), None, (1, 1), None, (2, 2), None]
    assert nails.summary() == {"max": 1, "center": 0, "jump": 0.5, "offset": 0.0}
    # a 3-tap window over nails sees one or two of them
    w = compose(nails, AxisMap("window", 6, kernel=3, stride=1, pad=1), 6)
    assert [w.interval(u) for u in range(6)] == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 2)]


def test_global_field_covers_everything():
    g = global_field(5, 28)
    assert g.summary() == {"max": 28, "center": 28, "jump": 0.0, "offset": 13.5}


def test_interval_rejects_out_of_range_coordinate():
    with pytest.raises(ValueError, match="coordinate"):
        identity_field(3).interval(3)


def test_full_hd_axis_is_fast():
    t0 = time.perf_counter()
    f = identity_field(1920)
    for _ in range(20):
        f = compose(f, AxisMap("window", len(f), kernel=3, stride=1, pad=1), len(f))
    assert f.summary()["max"] == 41
    assert time.perf_counter() - t0 < 0.5


# --------------------------------------------------------------------------------------------------
# Empirical check: which input pixels get gradient from one output pixel, with positive weights.


def positive_weights(layers, shape, dtype=torch.float64):
    """Build every layer in ``dtype`` with weights in [0.5, 1] / fan-in and zero biases."""
    gen = torch.Generator().manual_seed(0)
    for step in walk(layers, shape).steps:
        layer = step.layer
        layer.build(step.input_shape)
        layer.to(dtype)
        width = getattr(layer, "filters", None) or getattr(layer, "units", None) or 1
        for pname, p in layer.named_parameters():
            with torch.no_grad():
                if pname == "bias":
                    p.zero_()
                else:
                    p.copy_(
                        (0.5 + 0.5 * torch.rand(p.shape, generator=gen, dtype=p.dtype)) * width / p.numel()
                    )


def run_linear(layers, x, *, keep_max=False):
    """Pre-activations only (ReLU is the identity on these positive values anyway). Max pooling is
    replaced by average pooling over the same windows unless ``keep_max``: its field is the whole window
    (the winner is data dependent), and only average pooling sends gradient to every pixel of it."""
    switches = {}
    for layer in layers:
        if isinstance(layer, MaxPool2D):
            size = tuple(x.shape[-2:])
            if keep_max:
                x, s = layer.forward_with_switches(x)
                switches[layer.name] = (s, size)
            else:
                x = AvgPool2D(layer.pool_size, layer.strides, layer.padding).call(x)
        elif isinstance(layer, MaxUnpool2D):
            s, size = switches[layer.pool]
            x = layer.call(x, s, size)
        else:
            x = layer.call(x)
    return x


def empirical_fields(layers, in_shape, pixels, *, keep_max=False, ones=True, dtype=torch.float64):
    """For each output pixel (u, v) of channel 0: per axis the bounding interval of the input rows and
    columns that get a non-zero gradient (None when none do). One sample per pixel, one backward."""
    gen = torch.Generator().manual_seed(1)
    n = len(pixels)
    base = torch.ones if ones else (lambda *s, **kw: 0.1 + torch.rand(*s, generator=gen, **kw))
    x = base(1, *in_shape, dtype=dtype).expand(n, *in_shape).clone().requires_grad_(True)
    y = run_linear(layers, x, keep_max=keep_max)
    idx = torch.arange(n)
    us = torch.tensor([p[0] for p in pixels])
    vs = torch.tensor([p[1] for p in pixels])
    y[idx, 0, us, vs].sum().backward()
    out = []
    for b in range(n):
        g = x.grad[b].abs().sum(0)  # (H, W)
        rows, cols = g.sum(1).nonzero().flatten(), g.sum(0).nonzero().flatten()
        iv = lambda t: (int(t.min()), int(t.max())) if len(t) else None  # noqa: E731
        out.append((iv(rows), iv(cols)))
    return out


def analytic_fields(a, pixels):
    return [a.layers[-1].pixel_field(u, v) or (None, None) for u, v in pixels]


def all_pixels(shape):
    return [(u, v) for u in range(shape[1]) for v in range(shape[2])]


def diagonal_pixels(shape):
    """Pixels covering every row and every column (fields are separable per axis)."""
    _, h, w = shape
    return sorted({(u, u * w // h) for u in range(h)} | {(v * h // w, v) for v in range(w)})


def check_model(layers, in_shape, pixels_of, *, superset=False, dtype=torch.float64):
    a = analyze(layers, in_shape)
    pixels = pixels_of(a.layers[-1].output_shape)
    positive_weights(layers, in_shape, dtype)
    emp = empirical_fields(layers, in_shape, pixels, keep_max=superset, ones=not superset, dtype=dtype)
    ana = analytic_fields(a, pixels)
    for p, e, an in zip(pixels, emp, ana, strict=True):
        if not superset:
            assert e == an, (p, e, an)
        else:  # max unpooling: the analytic field is the whole pool window, the switch picks one pixel
            for ei, ai in zip(e, an, strict=True):
                assert ei is None or (ai is not None and ai[0] <= ei[0] and ei[1] <= ai[1]), (p, e, an)


def encoder_of(spec):
    names = [layer["name"] for layer in spec["layers"]]
    return spec["layers"][: names.index(spec["latent"]) + 1]


@pytest.mark.parametrize("name", ["seed-upsampling", "seed-transpose", "bed-of-nails", "strided-transpose"])
@pytest.mark.parametrize("part", ["encoder", "whole"])
def test_zoo_fields_equal_gradient_fields(name, part):
    spec = get_spec(name)
    if part == "encoder":
        spec = {"input_shape": spec["input_shape"], "layers": encoder_of(spec)}
    model = Sequential.from_spec(spec)  # the real model's layers, with positive weights
    check_model(list(model.layers), model.input_shape, diagonal_pixels)


def test_unpool_analytic_field_contains_gradient_field():
    model = Sequential.from_spec("unpool")
    check_model(list(model.layers), model.input_shape, diagonal_pixels, superset=True)


def test_dense_autoencoder_sees_everything():
    model = Sequential.from_spec("dense")
    check_model(list(model.layers), model.input_shape, diagonal_pixels)


def test_encoder_with_real_max_pooling_sees_a_subset():
    # with max pooling kept, only the winners get gradient: inside the analytic field
    model = Sequential.from_spec("seed-transpose")
    check_model(list(model.layers), model.input_shape, diagonal_pixels, superset=True)


@pytest.mark.parametrize("size", [(3, 3), (5, 5), (3, 5), (7, 2)])
def test_bilinear_odd_factor_in_float32_sees_exactly_its_analytic_field(size):
    """Issue 26: in float32, bilinear upsampling by an odd factor gave the tap a source sits exactly on
    a neighbour weighted 1.5e-8 (TensorFlow: 0), so an input pixel the analysis calls unseen got gradient.
    Every output pixel, alone and after a convolution."""
    check_model([UpSampling2D(size, "bilinear")], (1, 5, 4), all_pixels, dtype=torch.float32)
    layers = [Conv2D(2, 3, padding="same", name="c"), UpSampling2D(size, "bilinear", name="u")]
    check_model(layers, (1, 4, 5), all_pixels, dtype=torch.float32)


@st.composite
def random_stacks(draw):
    layers = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "pool", "avg", "deconv", "up", "bilinear", "nails"]))
        k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        pad = draw(st.sampled_from(["same", "valid"]))
        if kind == "conv":
            d = draw(st.integers(1, 2)) if s == 1 else 1
            layers.append(Conv2D(2, k, s, pad, dilation_rate=d, name=f"l{i}"))
        elif kind in ("pool", "avg"):
            cls = MaxPool2D if kind == "pool" else AvgPool2D
            layers.append(cls(k, s, pad, name=f"l{i}"))
        elif kind == "deconv":
            op = draw(st.one_of(st.none(), st.integers(0, s - 1)))
            layers.append(Conv2DTranspose(2, k, s, pad, output_padding=op, name=f"l{i}"))
        elif kind == "nails":
            layers.append(BedOfNails2D(s, name=f"l{i}"))
        else:
            layers.append(UpSampling2D(s, "nearest" if kind == "up" else "bilinear", name=f"l{i}"))
    h, w = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    return layers, (draw(st.integers(1, 2)), h, w)


@example(case=([BedOfNails2D(2, name="l0"), Conv2D(2, 2, 1, "same", dilation_rate=2, name="l1")], (1, 2, 2)))
@given(case=random_stacks())
def test_random_stacks_every_output_pixel(case):
    layers, in_shape = case
    try:
        out = analyze(layers, in_shape).layers[-1].output_shape
    except ValueError:  # a shape this stack cannot take (kernel larger than its input, ...)
        assume(False)
    assume(out[1] * out[2] <= 400)
    check_model(layers, in_shape, all_pixels)


# --------------------------------------------------------------------------------------------------
# Dilation over holes (issue 12 item 9): a dilated window sees its taps, not the span between them.


def test_dilated_window_over_bed_of_nails_sees_only_its_taps():
    # rows: nails at 0, 2 (input rows 0, 1); row 1's taps are rows 0 and 2: both nails -> (0, 1).
    # columns: column 2's taps are columns 1 and 3, both holes: the pixel is always 0 (bias aside).
    layers = [BedOfNails2D(2), Conv2D(1, 2, padding="same", dilation_rate=2)]
    a = analyze(layers, (1, 2, 2))
    assert a.layers[-1].pixel_field(1, 2) is None
    assert a.layers[-1].pixel_field(1, 1) == ((0, 1), (0, 1))
    check_model(layers, (1, 2, 2), all_pixels)  # every pixel against the gradient oracle


@st.composite
def holes_then_dilation(draw):
    """A layer that makes structural zeros (bed of nails, a transposed conv with stride > kernel, or
    max unpooling after its pool), then dilated convolutions or transposed convolutions (stride 1)."""
    layers, i = [], 0
    hole = draw(st.sampled_from(["nails", "deconv", "unpool"]))
    s = draw(st.integers(2, 3))
    if hole == "nails":
        layers.append(BedOfNails2D((s, draw(st.integers(1, 3))), name="h"))
    elif hole == "deconv":
        pad = draw(st.sampled_from(["same", "valid"]))
        layers.append(Conv2DTranspose(2, draw(st.integers(1, s - 1)), s, pad, name="h"))
    else:
        layers += [MaxPool2D(s, name="p"), MaxUnpool2D("p", name="h")]
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "deconv"]))
        k, d = draw(st.integers(2, 3)), draw(st.integers(2, 4))
        pad = draw(st.sampled_from(["same", "valid"]))
        cls = Conv2D if kind == "conv" else Conv2DTranspose
        layers.append(cls(2, k, 1, pad, dilation_rate=d, name=f"d{i}"))
    h, w = draw(st.integers(2, 7)), draw(st.integers(2, 7))
    return layers, (draw(st.integers(1, 2)), h, w), hole == "unpool"


@example(
    case=([BedOfNails2D(2, name="h"), Conv2D(2, 2, 1, "same", dilation_rate=2, name="d0")], (1, 2, 2), False)
)
@example(case=([Conv2DTranspose(2, 1, 3, name="h"), Conv2DTranspose(2, 3, dilation_rate=3)], (1, 3, 2), 0))
@given(case=holes_then_dilation())
def test_dilation_over_holes_equals_the_gradient_field(case):
    layers, in_shape, superset = case
    try:
        out = analyze(layers, in_shape).layers[-1].output_shape
    except ValueError:  # a shape this stack cannot take (kernel larger than its input, ...)
        assume(False)
    assume(out[1] * out[2] <= 400)
    check_model(layers, in_shape, all_pixels, superset=superset)


def test_field_walk_refuses_an_index_outside_the_model():
    # a real check (not an assert, gone under python -O): no layer -1, nor one past the last
    from convolab.analysis.receptive_field import FieldWalk

    fw = FieldWalk(walk([Conv2D(2, 3, padding="same"), MaxPool2D(2)], (1, 8, 8)))
    assert fw.get(1) == fw.get(1)  # nothing stored yet: recomputed from the input, then the last answer
    for bad in (-1, 2):
        with pytest.raises(IndexError, match=rf"layer index {bad} out of range: the model has 2 layers"):
            fw.get(bad)
