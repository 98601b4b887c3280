"""Activations pixel detail (issue 24, item 10): the unit's field on the maps of the layer before
(hand-computed intervals) and the whole channel before its activation (the layer's own ``call``)."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from lab_support import lab_client

pytest.importorskip("starlette")

from convolab.lab.server import Limits, create_app  # noqa: E402

SPEC = """input_shape: [1, 12, 10]
layers:
- {type: Conv2D, filters: 3, kernel_size: 3, strides: 2, padding: same, activation: tanh, name: c1}
- {type: MaxPool2D, pool_size: 2, name: p1}
- {type: Conv2D, filters: 2, kernel_size: [2, 2], padding: valid, name: c2}
- {type: UpSampling2D, size: 3, name: up}
- {type: Flatten}
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return lab_client(create_app(tmp_path_factory.mktemp("runs"), limits=Limits(workers=1)))


def ask(client, pixels, layer, row, col, channel=0):
    body = {
        "model": {"spec": SPEC, "seed": 2},
        "input": {"pixels": pixels.tolist()},
        "layer": layer,
        "channel": channel,
        "row": row,
        "col": col,
    }
    r = client.post("/api/activations/pixel", json=body)
    assert r.status_code == 200, r.text
    return r.json()


# layer, unit -> rows r0..r1, cols c0..c1 of the layer's own input, by hand (c1 is 6x5, p1 3x2, c2 2x1):
CASES = [
    (0, (2, 3), None),  # the first layer: its input is the image (shown as "field")
    (1, (1, 1), [2, 3, 2, 3]),  # 2x2 pool, stride 2
    (1, (2, 0), [4, 5, 0, 1]),
    (2, (1, 0), [1, 2, 0, 1]),  # 2x2 'valid' conv, stride 1
    (3, (4, 2), [1, 1, 0, 0]),  # nearest x3: unit (4, 2) copies (1, 0) of c2
]


@pytest.mark.parametrize(("layer", "unit", "want"), CASES)
def test_field_on_the_layer_before(client, layer, unit, want):
    d = ask(client, np.random.default_rng(layer).random((12, 10)), layer, *unit)
    assert d["prev_field"] == want


def test_pre_activation_map_is_the_layers_call(client):
    import yaml

    from convolab.model.spec import load_spec
    from convolab.train.run_model import build_seeded_model

    pixels = np.random.default_rng(7).random((12, 10))
    d = ask(client, pixels, 0, 1, 1, channel=2)
    model = build_seeded_model(load_spec(yaml.safe_load(SPEC)), 2).eval()
    with torch.no_grad():
        want = list(model)[0].call(torch.as_tensor(pixels, dtype=torch.float32)[None, None])[0, 2].numpy()
    got = np.frombuffer(base64.b64decode(d["pre_map"]), dtype="<f4").reshape(6, 5)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.allclose(np.tanh(got[1, 1]), d["value"], atol=1e-5)
    assert ask(client, pixels, 1, 0, 0)["pre_map"] is None  # no activation, nothing before it
