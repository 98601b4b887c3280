"""Conv arithmetic with several input channels (issue 24, item 10): each channel's window x kernel slice
gives a partial sum; the output is their sum plus the bias. Checked against NumPy loops, not the layer.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("starlette")

from convolab.lab.arith_trace import replay, trace  # noqa: E402
from lab_support import lab_client  # noqa: E402


def numpy_partials(xs, ks, stride, dilation, padding):
    """(C, H, W) with (C, kh, kw) kernels, TF padding -> per-channel partial sums (C, H', W')."""
    c, h, w = xs.shape
    _, kh, kw = ks.shape
    keh, kew = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
        ph, pw = max((oh - 1) * stride + keh - h, 0), max((ow - 1) * stride + kew - w, 0)
    else:
        oh, ow = (h - keh) // stride + 1, (w - kew) // stride + 1
        ph = pw = 0
    pad = np.zeros((c, h + ph, w + pw))
    pad[:, ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w] = xs
    out = np.zeros((c, oh, ow))
    for ch in range(c):
        for r in range(oh):
            for q in range(ow):
                for i in range(kh):
                    for j in range(kw):
                        v = pad[ch, r * stride + i * dilation, q * stride + j * dilation]
                        out[ch, r, q] += v * ks[ch, i, j]
    return out


CASES = [  # channels, H, W, kernel, stride, dilation, padding
    (2, 6, 6, 3, 2, 1, "same"),
    (3, 5, 7, 3, 1, 1, "same"),
    (3, 7, 6, 2, 2, 1, "valid"),
    (4, 8, 8, 3, 1, 2, "same"),
    (2, 4, 4, 1, 1, 1, "valid"),
]


@pytest.mark.parametrize("case", CASES)
def test_partial_sums_per_channel_equal_numpy(case):
    c, h, w, k, s, d, padding = case
    rng = np.random.default_rng(sum(case[:6]))
    xs = rng.integers(-4, 10, size=(c, h, w)).astype(float)
    ks = rng.integers(-2, 3, size=(c, k, k)).astype(float)
    args = {"kernel_size": k, "strides": s, "dilation_rate": d, "padding": padding}
    res = trace("Conv2D", args, xs.tolist(), kernel=ks.tolist(), bias=-1.5)
    parts = numpy_partials(xs, ks, s, d, padding)
    want = parts.sum(0) - 1.5
    assert res["channels"] == c and res["input_shape"] == [c, h, w]
    assert res["input"] == xs.tolist() and res["kernel"] == ks.tolist()
    np.testing.assert_allclose(np.array(res["output"]), want, atol=1e-4)
    np.testing.assert_allclose(replay(res), want, atol=1e-4)
    assert len(res["steps"]) == want.size
    for st in res["steps"]:
        r, q = st["out"]
        np.testing.assert_allclose(st["partials"], parts[:, r, q], atol=1e-4)
        assert abs(st["value"] - want[r, q]) < 1e-4
        assert len(st["taps"]) == c * k * k  # channel 0's window, then channel 1's, ...
        for ch in range(c):
            mine = st["taps"][ch * k * k : (ch + 1) * k * k]
            assert abs(sum(t[4] for t in mine) - parts[ch, r, q]) < 1e-6
            for row, col, v, wt, _ in mine:
                assert v is None or v == xs[ch, row, col]
                assert wt in ks[ch]


def test_one_channel_stays_as_it_was():
    res = trace("Conv2D", {"kernel_size": 3}, [[1, 2, 3], [4, 5, 6], [7, 8, 9]], kernel=[[1] * 3] * 3)
    assert res["channels"] == 1 and res["input"] == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert res["steps"][0]["partials"] == [45.0] and res["output"] == [[45.0]]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"layer": "Conv2D", "grid": [[[1, 2], [3, 4]]] * 5}, "channels"),
        ({"layer": "Conv2D", "grid": [[[1, 2], [3, 4]]] * 2, "kernel": [[1]]}, "kernel"),
        ({"layer": "Conv2D", "grid": [[[1, 2], [3, 4]], [[1, 2]]]}, "grid"),
        ({"layer": "MaxPool2D", "grid": [[[1, 2], [3, 4]]] * 2}, "one channel"),
    ],
)
def test_bad_channels_are_one_line_400s(body, words, tmp_path):
    from convolab.lab.server import create_app

    client = lab_client(create_app(tmp_path))
    r = client.post("/api/arith", json=body)
    assert r.status_code == 400, r.text
    msg = r.json()["error"]
    assert words in msg and "\n" not in msg


def test_the_api_answers_several_channels(tmp_path):
    from convolab.lab.server import create_app

    client = lab_client(create_app(tmp_path))
    grid = [[[1, 2], [3, 4]], [[0, 1], [1, 0]]]
    kernel = [[[1, 1], [1, 1]], [[2, 0], [0, -1]]]
    r = client.post(
        "/api/arith",
        json={"layer": "Conv2D", "args": {"kernel_size": 2}, "grid": grid, "kernel": kernel, "bias": 1},
    )
    assert r.status_code == 200, r.text
    res = r.json()
    # channel 0: 1+2+3+4 = 10; channel 1: 0*2 + 1*0 + 1*0 + 0*(-1) = 0; + bias 1 = 11 (by hand)
    assert res["steps"][0]["partials"] == [10.0, 0.0] and res["output"] == [[11.0]]
    assert res["formulas"]["params"]["value"] == 2 * 2 * 2 + 1
