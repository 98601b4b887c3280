"""Lab API, filters panel: kernels, uploads and dataset images; results against SciPy; bad uploads."""

from __future__ import annotations

import base64
import gzip

import numpy as np
import pytest

from lab_support import decode_data_url, lab_client, png_base64

pytest.importorskip("starlette")
pytest.importorskip("httpx2")
ndimage = pytest.importorskip("scipy.ndimage")

from starlette.testclient import TestClient  # noqa: E402

from convolab.lab.http import Limits  # noqa: E402
from convolab.lab.server import create_app  # noqa: E402

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 256, size=(13, 17)).astype(np.uint8)


@pytest.fixture
def client(tmp_path) -> TestClient:
    return lab_client(create_app(tmp_path / "runs"))


def expected_png(ref: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip(np.rint((ref - lo) / (hi - lo) * 255.0), 0, 255)


def test_kernels_listing(client):
    answer = client.get("/api/kernels").json()
    kernels = {k["name"]: k for k in answer["kernels"]}
    assert kernels["gaussian"]["params"] == ["sigma", "size"] and kernels["sobel_x"]["signed"]
    assert answer["borders"] == ["zeros", "reflect", "replicate"]
    assert {d["name"] for d in answer["datasets"]} >= {"mnist", "fashion-mnist"}


@pytest.mark.parametrize(
    ("border", "mode"), [("zeros", "constant"), ("reflect", "mirror"), ("replicate", "nearest")]
)
def test_upload_sobel_matches_scipy_correlate(client, border, mode):
    r = client.post("/api/filter", json={"upload": png_base64(IMAGE), "kernel": "sobel_x", "border": border})
    assert r.status_code == 200, r.text
    got = r.json()
    x = IMAGE.astype(np.float64) / 255.0
    k = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    ref = ndimage.correlate(x, k, mode=mode)  # cross-correlation, as Keras Conv2D
    assert got["output_shape"] == [13, 17] and got["input_shape"] == [13, 17]
    np.testing.assert_allclose(got["range"], [ref.min(), ref.max()], atol=1e-4)
    m = max(abs(ref.min()), abs(ref.max()))  # signed kernels: 0 is mid-grey
    np.testing.assert_allclose(decode_data_url(got["output"]), expected_png(ref, -m, m), atol=1)
    np.testing.assert_array_equal(decode_data_url(got["input"]), IMAGE)


def test_stride_and_valid_padding_sizes(client):
    up = png_base64(IMAGE)
    same = client.post("/api/filter", json={"upload": up, "kernel": "box", "size": 3, "stride": 2}).json()
    assert same["output_shape"] == [7, 9]  # ceil(13/2), ceil(17/2)
    valid = client.post("/api/filter", json={"upload": up, "kernel": "box", "size": 5, "padding": "valid"})
    assert valid.json()["output_shape"] == [9, 13]  # 13-5+1, 17-5+1
    # a box filter sums to 1: shown on the image's own [0, 1] scale
    ref = ndimage.uniform_filter(IMAGE / 255.0, size=5)[2:-2, 2:-2]
    np.testing.assert_allclose(decode_data_url(valid.json()["output"]), expected_png(ref, 0, 1), atol=1)


def test_reflect_border_wider_than_the_image(client):
    # a 9x9 box on a 3-row image: the mirror reflects more than once (SciPy 'mirror' does the same)
    r = client.post(
        "/api/filter", json={"upload": png_base64(IMAGE[:3]), "kernel": "box", "size": 9, "border": "reflect"}
    )
    assert r.status_code == 200, r.text
    ref = ndimage.uniform_filter(IMAGE[:3] / 255.0, size=9, mode="mirror")
    np.testing.assert_allclose(decode_data_url(r.json()["output"]), expected_png(ref, 0, 1), atol=1)


def test_gaussian_sigma_and_jpeg_upload(client):
    r = client.post(
        "/api/filter", json={"upload": png_base64(IMAGE, "JPEG"), "kernel": "gaussian", "sigma": 2}
    )
    assert r.status_code == 200
    values = np.array(r.json()["kernel_values"])
    assert values.shape == (17, 17) and abs(values.sum() - 1) < 1e-3  # radius 4 sigma, normalised


def test_dataset_image_by_index(tmp_path, fashion_t10k_dir):
    client = lab_client(create_app(tmp_path, data_dir=fashion_t10k_dir))
    r = client.post("/api/filter", json={"dataset": "fashion-mnist", "index": 0, "kernel": "identity"})
    assert r.status_code == 200, r.text
    img = decode_data_url(r.json()["input"])
    # oracle: the first test image read from the IDX bytes by hand (16-byte header, then 28x28 bytes)
    raw = gzip.decompress((fashion_t10k_dir / "t10k-images-idx3-ubyte.gz").read_bytes())
    np.testing.assert_array_equal(img, np.frombuffer(raw, np.uint8, count=784, offset=16).reshape(28, 28))
    r = client.post("/api/filter", json={"dataset": "fashion-mnist", "index": 10000})
    assert r.status_code == 400 and "[0, 9999]" in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"upload": "%%%not base64"}, 400, "base64"),
        ({"upload": base64.b64encode(b"GIF89a....").decode()}, 400, "PNG or JPEG"),
        ({"upload": png_base64(np.zeros((1100, 20)))}, 413, "1024"),
        ({"upload": 5}, 400, "base64"),
        ({"dataset": "folder:/etc", "index": 0}, 400, "dataset must be one of"),
        ({"dataset": "../../etc", "index": 0}, 400, "dataset must be one of"),
        ({"upload": png_base64(IMAGE), "kernel": "sobel_q"}, 400, "sobel"),
        ({"upload": png_base64(IMAGE), "kernel": "gaussian", "sigma": 9}, 400, "31x31"),
        ({"upload": png_base64(IMAGE), "stride": 0}, 400, "stride"),
        ({"upload": png_base64(IMAGE), "padding": "full"}, 400, "padding"),
        ({"upload": png_base64(IMAGE), "border": "wrap"}, 400, "border"),
        ({"upload": png_base64(IMAGE), "kernel": "box", "size": 21, "padding": "valid"}, 400, "does not fit"),
    ],
)
def test_bad_filter_requests(client, body, status, needle):
    r = client.post("/api/filter", json=body)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]
    assert client.get("/api/health").status_code == 200


def test_oversized_upload_body_is_refused_before_reading(tmp_path):
    client = lab_client(create_app(tmp_path, limits=Limits(max_body=1000)))
    r = client.post("/api/filter", json={"upload": "A" * 2000})
    assert r.status_code == 413 and "too large" in r.json()["error"]
    # a body that lies about its length (chunked, no Content-Length) is cut off while streaming
    r = client.post(
        "/api/filter",
        content=iter([b'{"upload": "' + b"A" * 600, b"A" * 600 + b'"}']),
        headers={"content-type": "application/json"},  # the lab refuses non-JSON posts (415) first
    )
    assert r.status_code == 413
    assert client.get("/api/health").status_code == 200
