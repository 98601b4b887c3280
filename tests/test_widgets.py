"""convolab.widgets, the kernel side: each widget's state (the JSON its front end draws) equals the
library's own numbers: activations = ``Sequential.feature_maps`` in Python, the explorer's fields = the
interval walk of ``convolab.analysis.summary`` (and hand-computed literals), the arithmetic trace = the
layer's output (a literal worked by hand). The front end is tested in Chromium:
tests/e2e/test_widgets_browser.py."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("anywidget")
pytest.importorskip("starlette")

import convolab  # noqa: E402
import convolab.widgets as cw  # noqa: E402
from convolab.analysis.summary import analyze  # noqa: E402
from convolab.widgets import bundle  # noqa: E402

SPEC = {
    "name": "tiny",
    "input_shape": [1, 12, 10],
    "latent": "code",
    "layers": [
        {
            "type": "Conv2D",
            "filters": 3,
            "kernel_size": 3,
            "strides": 2,
            "padding": "same",
            "activation": "tanh",
        },
        {"type": "Conv2D", "filters": 2, "kernel_size": [2, 3], "padding": "valid", "name": "code"},
        {"type": "Flatten"},
        {"type": "Dense", "units": 5, "activation": "relu"},
    ],
}


def floats(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<f4")


def python_maps(model, x):
    with torch.no_grad():
        return [o[0].numpy() for _, o in model.feature_maps(torch.as_tensor(x))]


def seeded(source, seed):
    torch.manual_seed(seed)
    return convolab.build_model(source).eval()


@pytest.fixture(scope="module")
def lecture():
    return seeded("seed-upsampling", 3)


# ---- Activations ---------------------------------------------------------------------------------------


def test_activations_state_equals_the_python_forward_pass():
    model = seeded(SPEC, 5)
    img = np.random.default_rng(1).random((12, 10)).astype(np.float32)
    w = cw.Activations(model, img)
    x = img[None, None]
    np.testing.assert_array_equal(floats(w.data["input"]["data"]), x.ravel())
    maps = python_maps(model, x)
    assert [L["name"] for L in w.data["layers"]] == [layer.name for layer in model]
    for L, want in zip(w.data["layers"], maps, strict=True):
        np.testing.assert_array_equal(floats(L["data"]), want.ravel(), err_msg=L["name"])
        assert (L["min"], L["max"]) == (float(want.min()), float(want.max()))
    assert w.data["latent"] == "code" and [L["latent"] for L in w.data["layers"]] == [
        False,
        True,
        False,
        False,
    ]


def test_activations_uint8_and_channel_last_images_are_the_documented_floats(lecture):
    img = np.random.default_rng(2).integers(0, 256, (28, 28), dtype=np.uint8)
    a = cw.Activations(lecture, img)
    b = cw.Activations(
        lecture, torch.from_numpy(img.astype(np.float32) / 255.0)[None, :, :, None]
    )  # (1, H, W, C)
    np.testing.assert_array_equal(floats(a.data["input"]["data"]), (img.astype(np.float32) / 255.0).ravel())
    assert a.data["layers"][3]["data"] == b.data["layers"][3]["data"]


def test_a_clicked_unit_is_answered_with_its_pre_activation_and_window(lecture):
    img = np.random.default_rng(3).random((28, 28)).astype(np.float32)
    w = cw.Activations(lecture, img)
    sent: list = []
    w.send = sent.append  # what the kernel sends back to the page
    w._on_msg(w, {"type": "pixel", "layer": 2, "channel": 3, "row": 8, "col": 5}, [])
    (msg,) = sent
    d = msg["result"]
    assert msg["type"] == "pixel" and d["name"] == "enc_conv2"
    with torch.no_grad():
        maps = lecture.feature_maps(torch.as_tensor(img[None, None]))
        pre = list(lecture)[2].call(maps[1][1])[0, 3, 8, 5].item()
    assert d["value"] == maps[2][1][0, 3, 8, 5].item() == max(pre, 0.0)
    assert d["pre_activation"] == pytest.approx(pre, abs=0)
    k = d["detail"]  # the sum written out: kernel x window + bias, in NumPy
    np.testing.assert_allclose(
        (np.array(k["kernel"]) * np.array(k["window"])).sum() + k["bias"], pre, atol=1e-5
    )
    assert d["field"] == [[13, 20], [7, 14]]  # docs/lab.md's worked example
    w._on_msg(w, {"type": "pixel", "layer": 99, "channel": 0, "row": 0, "col": 0}, [])
    assert sent[-1] == {"type": "error", "message": "layer must be in [0, 12], got 99"}


def test_refresh_follows_the_models_new_weights(lecture):
    model = seeded(SPEC, 5)
    img = np.full((12, 10), 0.5, np.float32)
    w = cw.Activations(model, img)
    before = w.data["layers"][0]["data"]
    with torch.no_grad():
        list(model)[0].bias.add_(1.0)
    w.refresh()
    assert w.data["layers"][0]["data"] != before
    np.testing.assert_array_equal(
        floats(w.data["layers"][0]["data"]), python_maps(model, img[None, None])[0].ravel()
    )


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            np.zeros((27, 28), np.float32),
            "image has shape (27, 28); the model takes one image (1, 28, 28) or (28, 2",
        ),
        (
            np.zeros((1, 3, 28, 28), np.uint8),
            "image has shape (1, 3, 28, 28); the model takes one image (1, 28, 28)",
        ),
        (np.full((28, 28), 2.0, np.float32), "image must lie in [0, 1] (found 2..2)"),
        (np.zeros((2, 1, 28, 28), np.float32), "image must be one image, got a batch of 2"),
        (np.zeros(28, np.float32), "image must be (C, H, W), (H, W, C) or (H, W), got shape (28,)"),
    ],
)
def test_bad_images_are_one_value_error(lecture, image, message):
    with pytest.raises(ValueError) as err:
        cw.Activations(lecture, image)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_model_that_is_not_a_sequential_is_refused():
    with pytest.raises(ValueError, match="model must be a convolab Sequential .* got Linear"):
        cw.Activations(torch.nn.Linear(2, 2), np.zeros((2, 2)))


# ---- Explorer ------------------------------------------------------------------------------------------


def test_explorer_state_equals_the_analysis_and_its_fields(lecture):
    w = cw.Explorer(lecture)
    a = analyze(lecture.to_spec().to_dict())
    assert w.data == {**w.data, **{k: v for k, v in a.to_dict().items() if k != "layers"}}
    assert w.layer == "enc_conv1"  # the first layer with a spatial output
    for row, info in zip(w.data["layers"], a.layers, strict=True):
        assert (row["name"], row["params"], row["macs"]) == (info.name, info.params, info.macs)
        if row["fields"] is None:
            continue
        _, h, wd = row["output_shape"]
        for u in range(h):
            for v in range(wd):
                (r0, r1), (c0, c1) = info.pixel_field(u, v) or ((-1, -1), (-1, -1))
                got = (row["fields"]["rows"]["lo"][u], row["fields"]["rows"]["hi"][u])
                assert got == ((r0, r1) if r0 >= 0 else (-1, -1)), (row["name"], u)
                assert (row["fields"]["cols"]["lo"][v], row["fields"]["cols"]["hi"][v]) == (
                    (c0, c1) if c0 >= 0 else (-1, -1)
                )
    conv2 = w.data["layers"][2]
    assert (conv2["fields"]["rows"]["lo"][8], conv2["fields"]["rows"]["hi"][8]) == (
        13,
        20,
    )  # by hand (lab.md)
    assert (conv2["fields"]["cols"]["lo"][5], conv2["fields"]["cols"]["hi"][5]) == (7, 14)


def test_explorer_takes_a_zoo_name_and_checks_the_layer():
    assert cw.Explorer("seed-upsampling", layer="enc_pool2").layer == "enc_pool2"
    with pytest.raises(
        ValueError, match="layer 'nope' is not a layer of seed-upsampling; layers: enc_conv1, enc_pool1"
    ):
        cw.Explorer("seed-upsampling", layer="nope")
    with pytest.raises(ValueError, match="model must be a convolab Sequential, a zoo name or a spec"):
        cw.Explorer("no-such-model")


# ---- ConvArithmetic ------------------------------------------------------------------------------------


def test_arith_state_is_the_labs_trace_and_the_layers_output():
    grid = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]
    kernel = np.array([[1, 0, -1]] * 3)
    w = cw.ConvArithmetic("Conv2D", grid, kernel, bias=0.5, kernel_size=3, strides=2, padding="same")
    assert w.data["output"] == [[-5.5, 21.5], [-3.5, 26.5]]  # worked by hand: TF puts the odd pad after
    assert w.data["pad"] == [0, 1, 0, 1] and w.total == 4 and w.step == 0
    assert [s["value"] for s in w.data["steps"]] == [-5.5, 21.5, -3.5, 26.5]
    assert w.data["formulas"]["output"][1]["text"] == "⌈4 / 2⌉ = 2"


def test_arith_transposed_conv_has_its_crop_step_and_bad_arguments_are_one_line():
    w = cw.ConvArithmetic(
        "Conv2DTranspose", [[1, 2], [3, 4]], kernel_size=3, strides=2, padding="same", step=4
    )
    assert w.data["output"] == [[1, 1, 3, 2], [1, 1, 3, 2], [4, 4, 10, 6], [3, 3, 7, 4]] and w.total == 5
    with pytest.raises(ValueError, match=r"^step must be in \[0, 4\], got 5$"):
        cw.ConvArithmetic(
            "Conv2DTranspose", [[1, 2], [3, 4]], kernel_size=3, strides=2, padding="same", step=5
        )
    with pytest.raises(ValueError, match=r"^grid must be at most 16x16, got 1x17$"):
        cw.ConvArithmetic("Conv2D", [[1] * 17])
    with pytest.raises(ValueError, match="grid must be a 2-D array"):
        cw.ConvArithmetic("Conv2D", [1, 2, 3])


# ---- the front end and the imports ---------------------------------------------------------------------


def test_the_bundle_is_the_pages_scripts_in_one_module():
    text = bundle.esm()
    for name in bundle.SCRIPTS:
        assert (bundle.STATIC / name).read_text() in text
    assert text.rstrip().endswith("export default { render: LAB.widgets.render };")
    assert cw.Explorer("seed-upsampling")._esm == text
    node = shutil.which("node")
    if node:  # a syntax check of the module text (the browser test runs it)
        r = subprocess.run(
            [node, "--input-type=module", "--check"], input=text, text=True, capture_output=True
        )
        assert r.returncode == 0, r.stderr


def test_a_module_statement_in_a_page_script_is_refused(tmp_path, monkeypatch):
    for name in bundle.SCRIPTS:
        (tmp_path / name).write_text("LAB.x = 1;\n")
    (tmp_path / "views.js").write_text("export const x = 1;\n")
    monkeypatch.setattr(bundle, "STATIC", tmp_path)
    bundle.esm.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="lab/static/views.js has an export statement"):
            bundle.esm()
    finally:
        bundle.esm.cache_clear()


def test_the_widget_state_is_json():
    w = cw.ConvArithmetic("MaxPool2D", [[1, 2], [3, 4]], pool_size=2)
    json.dumps(w.get_state())


def test_import_convolab_and_convolab_widgets_do_not_import_anywidget():
    code = (
        "import sys, convolab, convolab.widgets\n"
        "prefixes = ('anywidget', 'convolab.widgets.', 'ipywidgets')\n"
        "print(sorted(m for m in sys.modules if m.startswith(prefixes)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
