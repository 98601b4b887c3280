"""Activations API: every layer's output equals a Python forward pass of the same model (1e-5), and a
pixel's detail (kernel slice, window, bias) reproduces its pre-activation."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from lab_support import lab_client, make_tiny_run, png_base64
from real_data import MISSING, fashion_t10k, have_fashion

pytest.importorskip("starlette")

from convolab.lab.server import Limits, create_app  # noqa: E402

SPEC = """input_shape: [1, 12, 10]
latent: code
layers:
- {type: Conv2D, filters: 3, kernel_size: 3, strides: 2, padding: same, activation: tanh}
- {type: Conv2D, filters: 2, kernel_size: [2, 3], dilation_rate: 1, padding: valid, name: code}
- {type: Flatten}
- {type: Dense, units: 5, activation: relu}
"""


def floats(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<f4")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    if have_fashion():
        make_tiny_run(runs, fashion_t10k())
    return lab_client(create_app(runs, data_dir=fashion_t10k(), limits=Limits(workers=1))), runs


def feature_maps(model, x):
    with torch.no_grad():
        return [o[0].numpy() for _, o in model.feature_maps(torch.as_tensor(x))]


def test_a_typed_spec_equals_its_python_forward_pass(client):
    from convolab.model.spec import parse_text
    from convolab.train.run_model import build_seeded_model

    c, _ = client
    pixels = np.random.default_rng(1).random((12, 10)).round(3)
    r = c.post(
        "/api/activations", json={"model": {"spec": SPEC, "seed": 5}, "input": {"pixels": pixels.tolist()}}
    )
    assert r.status_code == 200, r.text[:300]
    got = r.json()
    model = build_seeded_model(parse_text(SPEC), 5).eval()
    x = pixels.astype(np.float32)[None, None]
    np.testing.assert_array_equal(floats(got["input"]["data"]), x.ravel())
    for L, want in zip(got["layers"], feature_maps(model, x), strict=True):
        np.testing.assert_allclose(floats(L["data"]), want.ravel(), atol=1e-5, err_msg=L["name"])
        assert L["min"] == pytest.approx(float(want.min())) and L["signed"] == bool(want.min() < 0)
    assert [L["latent"] for L in got["layers"]] == [False, True, False, False]
    assert got["layers"][0]["fields"]["rows"]["lo"][:3] == [0, 2, 4]  # stride 2, "same", 12 rows: pad 0/1
    pixel = c.post(
        "/api/activations/pixel",
        json={
            "model": {"spec": SPEC, "seed": 5},
            "input": {"pixels": pixels.tolist()},
            "layer": 0,
            "channel": 2,
            "row": 5,
            "col": 4,
        },
    )
    d = pixel.json()
    k = d["detail"]
    pre = float(np.sum(np.array(k["kernel"]) * np.array(k["window"])) + k["bias"])
    assert d["pre_activation"] == pytest.approx(pre, abs=1e-5)
    assert d["value"] == pytest.approx(np.tanh(pre), abs=1e-5)
    assert k["rows"] == [10, 11, 12] and k["window"][0][2] == [0.0, 0.0, 0.0]  # row 12 is padding
    assert d["field"] == [[10, 11], [8, 9]]  # the padding row and column see nothing
    dense = c.post(
        "/api/activations/pixel",
        json={"model": {"spec": SPEC, "seed": 5}, "input": {"pixels": pixels.tolist()}, "layer": 3, "col": 4},
    ).json()
    kd = dense["detail"]
    assert dense["pre_activation"] == pytest.approx(
        float(np.dot(kd["kernel"], kd["window"]) + kd["bias"]), abs=1e-5
    )


@pytest.mark.skipif(not have_fashion(), reason=MISSING)
def test_a_trained_run_on_a_dataset_image_and_on_an_upload(client):
    from convolab.data import load_dataset
    from convolab.train.run import load_run

    c, runs = client
    model = load_run(runs / "tiny", "best", device="cpu").model
    r = c.post(
        "/api/activations", json={"model": {"run": "tiny"}, "input": {"dataset": "fashion-mnist", "index": 3}}
    )
    assert r.status_code == 200, r.text[:300]
    x = (
        load_dataset("fashion-mnist", "test", data_dir=fashion_t10k(), limit=4).images[3:4].float().numpy()
        / 255.0
    )
    for L, want in zip(r.json()["layers"], feature_maps(model, x), strict=True):
        np.testing.assert_allclose(floats(L["data"]), want.ravel(), atol=1e-5, err_msg=L["name"])
    # an upload of another size is resized (bilinear) to the model's 28x28
    grey = png_base64(np.full((56, 40), 200, np.uint8))
    up = c.post("/api/activations", json={"model": {"run": "tiny"}, "input": {"upload": grey}})
    assert up.status_code == 200 and up.json()["input"]["shape"] == [1, 28, 28]
    np.testing.assert_allclose(floats(up.json()["input"]["data"]), 200 / 255, atol=1e-6)
