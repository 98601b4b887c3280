"""Lab API, model designer: zoo endpoints and live analysis with exact per-pixel receptive fields."""

from __future__ import annotations

import pytest
import yaml

from lab_support import lab_client

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient  # noqa: E402

from convolab.lab.http import Limits  # noqa: E402
from convolab.lab.server import create_app  # noqa: E402

SMALL = """
name: small
input_shape: [1, 9, 9]
layers:
  - {type: Conv2D, name: c1, filters: 2, kernel_size: 3, strides: STRIDE, padding: valid}
  - {type: MaxPool2D, name: p1, pool_size: 2}
"""


@pytest.fixture
def client(tmp_path) -> TestClient:
    return lab_client(create_app(tmp_path / "runs"))


def analyze(client: TestClient, text: str):
    return client.post("/api/analyze", json={"spec": text})


def test_zoo_lists_models_and_serves_yaml_that_round_trips(client):
    models = client.get("/api/zoo").json()["models"]
    names = [m["name"] for m in models]
    assert "seed-upsampling" in names and all(m["description"] for m in models)
    answer = client.get("/api/zoo/seed-upsampling").json()
    assert yaml.safe_load(answer["yaml"]) == answer["spec"]
    # the lecture's first autoencoder: 3,369 parameters (Keras model.summary())
    assert analyze(client, answer["yaml"]).json()["total_params"] == 3369


def test_unknown_zoo_model_is_404_with_suggestion(client):
    r = client.get("/api/zoo/seed-upsamplin")
    assert r.status_code == 404
    assert "seed-upsampling" in r.json()["error"]


def test_stride_changes_shapes_and_fields_hand_computed(client):
    # stride 1: conv 9 -> 7 (row u sees input [u, u+2]); pool 7 -> 3 (row v sees conv [2v, 2v+1])
    one = analyze(client, SMALL.replace("STRIDE", "1")).json()
    assert [L["output_shape"] for L in one["layers"]] == [[2, 7, 7], [2, 3, 3]]
    assert one["layers"][1]["fields"]["rows"] == {"lo": [0, 2, 4], "hi": [3, 5, 7]}
    # stride 2: conv 9 -> 4 (row u sees [2u, 2u+2]); pool 4 -> 2 (row v sees conv [2v, 2v+1])
    two = analyze(client, SMALL.replace("STRIDE", "2")).json()
    assert [L["output_shape"] for L in two["layers"]] == [[2, 4, 4], [2, 2, 2]]
    assert two["layers"][0]["fields"]["cols"] == {"lo": [0, 2, 4, 6], "hi": [2, 4, 6, 8]}
    assert two["layers"][1]["fields"]["rows"] == {"lo": [0, 4], "hi": [4, 8]}
    assert two["layers"][0]["params"] == 2 * (3 * 3 * 1 + 1)
    assert two["layers"][0]["macs"] == 4 * 4 * 2 * 9


def test_decoder_fields_include_structural_zeros(client):
    spec = """
input_shape: [1, 4, 4]
layers:
  - {type: BedOfNails2D, name: nails, size: 2}
"""
    layer = analyze(client, spec).json()["layers"][0]
    # bed of nails: only even coordinates carry a value (from input u // 2); odd ones see nothing
    assert layer["fields"]["rows"] == {"lo": [0, -1, 1, -1, 2, -1, 3, -1], "hi": [0, -1, 1, -1, 2, -1, 3, -1]}


def test_dense_layers_have_no_pixel_fields(client):
    r = analyze(client, "input_shape: [1, 4, 4]\nlayers:\n  - {type: Flatten}\n  - {type: Dense, units: 3}\n")
    layers = r.json()["layers"]
    assert [L["fields"] for L in layers] == [None, None]
    assert layers[1]["params"] == 16 * 3 + 3


@pytest.mark.parametrize(
    ("text", "status", "needle"),
    [
        (SMALL.replace("STRIDE", "0"), 400, "strides"),
        (SMALL.replace("STRIDE", "1").replace("Conv2D", "Conv3D"), 400, "Conv3D"),
        ("input_shape: [1, 9, 9]\nlayers: [\n", 400, "line 3"),
        ("a: &x [1]\nb: *x\n", 400, "aliases"),
        ("/etc/passwd", 400, "mapping"),  # a path is never opened: the text must be a mapping
        ("chollet", 400, "mapping"),  # nor is a bare word looked up: the page uses /api/zoo for that
        ("!!python/object/apply:os.system ['true']", 400, "not valid YAML"),
        ("", 400, "non-empty"),
        ("input_shape: [1, 5000, 5000]\nlayers: []\n", 413, "2048"),
    ],
)
def test_invalid_specs_are_4xx_with_a_clear_message(client, text, status, needle):
    r = analyze(client, text)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]
    assert client.get("/api/health").json()["ok"]


def test_spec_size_and_layer_limits(tmp_path):
    client = lab_client(create_app(tmp_path, limits=Limits(max_spec=200, max_layers=3)))
    r = analyze(client, "# " + "x" * 300 + "\ninput_shape: [1, 8, 8]\nlayers: []\n")
    assert r.status_code == 413 and "limit 200" in r.json()["error"]
    many = "input_shape: [1, 8, 8]\nlayers:\n" + "  - {type: ReLU}\n" * 4
    r = analyze(client, many)
    assert r.status_code == 413 and "4 layers" in r.json()["error"]


def test_spec_must_be_text(client):
    r = client.post("/api/analyze", json={"spec": {"input_shape": [1, 8, 8]}})
    assert r.status_code == 400 and "YAML or JSON text" in r.json()["error"]
