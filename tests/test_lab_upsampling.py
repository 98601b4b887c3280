"""Lab API, upsampling panel: the four upsamplers on a small grid against hand-written answers."""

from __future__ import annotations

import numpy as np
import pytest

from lab_support import lab_client

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient  # noqa: E402

from convolab.lab.server import create_app  # noqa: E402

GRID = [[1, 2], [3, 4]]


@pytest.fixture
def client(tmp_path) -> TestClient:
    return lab_client(create_app(tmp_path))


def transpose_oracle(x: np.ndarray, k: np.ndarray, s: int) -> np.ndarray:
    """Full transposed convolution by loops: each input value stamps ``value * k`` at ``(i*s, j*s)``."""
    h, w = x.shape
    kh, kw = k.shape
    out = np.zeros(((h - 1) * s + kh, (w - 1) * s + kw))
    for i in range(h):
        for j in range(w):
            out[i * s : i * s + kh, j * s : j * s + kw] += x[i, j] * k
    return out


def test_nearest_nails_and_unpool_literals(client):
    source = [[0, 9, 0, 0], [0, 0, 0, 8], [7, 0, 0, 0], [0, 0, 0, 6]]
    r = client.post("/api/upsample", json={"grid": GRID, "factor": 2, "source": source})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["nearest"] == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert got["nails"] == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    # the maxima of the 2x2 windows of `source` sit at (0,1), (1,3), (2,0), (3,3)
    assert got["pooled"] == [[9, 8], [7, 6]]
    assert got["switches"] == [[0, 1], [1, 3], [2, 0], [3, 3]]
    assert got["unpool"] == [[0, 1, 0, 0], [0, 0, 0, 2], [3, 0, 0, 0], [0, 0, 0, 4]]


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_transposed_conv_against_loops(client, padding):
    kernel = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    r = client.post("/api/upsample", json={"grid": GRID, "factor": 2, "kernel": kernel, "padding": padding})
    got = np.array(r.json()["transpose"])
    full = transpose_oracle(np.array(GRID, float), np.array(kernel, float), 2)  # 5 x 5
    if padding == "valid":
        np.testing.assert_allclose(got, full)  # Keras 'valid': (i-1)s + k = 5
    else:
        # Keras 'same': n = i*s = 4; P = 5 - 4 = 1, the crop keeps [floor(P/2), +n) = [0, 4)
        np.testing.assert_allclose(got, full[:4, :4])


def test_factor_three_and_random_switches_are_reproducible(client):
    a = client.post("/api/upsample", json={"grid": GRID, "factor": 3, "seed": 5}).json()
    b = client.post("/api/upsample", json={"grid": GRID, "factor": 3, "seed": 5}).json()
    assert a == b and np.array(a["nearest"]).shape == (6, 6)
    # every switch lies inside its own 3x3 window and holds that window's maximum
    src = np.array(a["source"])
    for (r, c), (i, j) in zip(a["switches"], [(0, 0), (0, 1), (1, 0), (1, 1)], strict=True):
        assert r // 3 == i and c // 3 == j
        assert src[r, c] == src[3 * i : 3 * i + 3, 3 * j : 3 * j + 3].max()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"grid": []}, "grid"),
        ({"grid": [[1, 2], [3]]}, "rows must all have"),
        ({"grid": [[1, "x"]]}, "finite numbers"),
        ({"grid": [[1e9]]}, "finite numbers"),
        ({"grid": [[0] * 17] * 17}, "at most 16x16"),
        ({"grid": GRID, "factor": 5}, "factor"),
        ({"grid": GRID, "source": [[1]]}, "source must be 4x4"),
        ({"grid": GRID, "kernel": [[1] * 8] * 8}, "at most 7x7"),
        ({"grid": GRID, "padding": "full"}, "padding"),
    ],
)
def test_bad_upsample_requests(client, body, needle):
    r = client.post("/api/upsample", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]
