"""The interval walk: vectorised maps == AxisMap.interval, composition == brute force over sets,
plain encoders == the textbook recursion r' = r + (ke - 1) j, j' = j s."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convolab.layers.base import AxisMap
from convolab.layers.padding import conv_output_length, padding_amounts
from convolab.receptive_field import compose, global_field, identity_field, map_bounds

KINDS = ("window", "transpose", "nearest", "nails", "bilinear", "identity", "global")


@st.composite
def axis_maps(draw, in_len=None):
    n = in_len if in_len is not None else draw(st.integers(1, 30))
    kind = draw(st.sampled_from(KINDS))
    k = draw(st.integers(1, 7))
    s = draw(st.integers(1, 4))
    p = draw(st.integers(0, 4))
    return AxisMap(kind, n, kernel=k, stride=s, pad=p)


@settings(max_examples=300, deadline=None)
@given(m=axis_maps(), n_out=st.integers(1, 40))
def test_map_bounds_equals_scalar_interval(m, n_out):
    a, b = map_bounds(m, n_out)
    for u in range(n_out):
        expected = m.interval(u)
        got = (int(a[u]), int(b[u])) if a[u] <= b[u] else None
        assert got == expected, (m, u)


def brute_force(chain, n0):
    """Sets of model-input coordinates per output coordinate, by scalar intervals (the oracle)."""
    sets = [{u} for u in range(n0)]
    for m, n_out in chain:
        new = []
        for u in range(n_out):
            iv = m.interval(u)
            seen = set()
            if iv is not None:
                for v in range(iv[0], iv[1] + 1):
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


@settings(max_examples=300, deadline=None)
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


@settings(max_examples=200, deadline=None)
@given(layers=encoders())
def test_plain_encoders_follow_the_textbook_recursion(layers):
    # textbook: r' = r + (ke - 1) j, j' = j s, start' = start + ((ke - 1) / 2 - p) j
    r, j, start = 1, 1, 0.0
    for k, d, s, pad in layers:
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
