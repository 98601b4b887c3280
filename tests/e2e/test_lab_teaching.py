"""Issue 24, items 6-10: the lab's loose ends and its teaching depth, in a real Chromium.

Served on Debian's Fashion-MNIST with a one-epoch run made here (``lab_support.make_tiny_run``); each
test failed on the code before its fix. Screenshots of the new views:
``CONVOLAB_LAB_SHOTS=1 pytest tests/e2e -k teaching``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from shots import shot

from conftest import CHROMIUM, LAUNCH_ARGS
from lab_support import LiveServer, make_tiny_run, offline_page
from real_data import FASHION_SYSTEM as FASHION
from real_data import MISSING, have_fashion

pytestmark = pytest.mark.timeout(240)
SIZES = {"phone": (390, 844), "desktop": (1440, 900)}
RUN = "fashion1"
PANELS = ("designer", "activations", "filters", "upsampling", "arith", "autoencoder")


@pytest.fixture(scope="module")
def fashion_lab(tmp_path_factory) -> Iterator[LiveServer]:
    if not have_fashion():
        pytest.skip(MISSING)
    from convolab.lab.server import create_app

    runs = tmp_path_factory.mktemp("fashion-runs")
    make_tiny_run(runs, FASHION, RUN, limit=256, epochs=1)  # an undertrained run
    with LiveServer(create_app(runs, data_dir=FASHION)) as server:
        server.runs = runs  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def fpage(browser, fashion_lab):
    with offline_page(browser, fashion_lab.url, SIZES["desktop"], bypass_csp=True) as p:
        yield p


assert CHROMIUM and LAUNCH_ARGS  # the browser fixture of conftest.py launches Debian's Chromium


def set_size(page, size: str) -> None:
    w, h = SIZES[size]
    page.set_viewport_size({"width": w, "height": h})


def fashion_image(index: int) -> np.ndarray:
    from convolab.data import load_dataset

    ds = load_dataset("fashion-mnist", "test", data_dir=FASHION, limit=index + 1)
    return ds.images[index].numpy().astype(np.float32) / 255.0


def lecture_model():
    from convolab.model.zoo import get_spec
    from convolab.train.run_model import build_seeded_model

    return build_seeded_model(get_spec("seed-upsampling"), 0).eval()


CANVAS_RGB = """([sel, x0, y0, x1, y1]) => {
  const c = document.querySelector(sel), ctx = c.getContext('2d');
  const x = Math.max(0, x0), y = Math.max(0, y0);
  const d = ctx.getImageData(x, y, Math.min(c.width, x1) - x, Math.min(c.height, y1) - y).data;
  const out = [];
  for (let i = 0; i < d.length; i += 4) out.push([d[i], d[i + 1], d[i + 2]]);
  return {px: out, width: c.width, height: c.height};
}"""


def light_and_dark(pixels: list[list[int]]) -> tuple[bool, bool]:
    return any(min(p) >= 200 for p in pixels), any(max(p) <= 60 for p in pixels)


# ---- item 6: the marker, and the arrow keys on the map ------------------------------------------------


def open_dark_unit(page, fashion_lab) -> None:
    """enc_conv1 channel 0 at (0, 0): the black background of the boot (relu 0 = the map's minimum)."""
    page.goto(f"{fashion_lab.url}/#activations?zoo=seed-upsampling&dataset=fashion-mnist&index=0&sel=0,0,0,0")
    page.wait_for_selector("#act-big-figure:not([hidden])")
    got = page.evaluate("LAB.panels.activations.values()")
    L = got["layers"][0]
    assert L["name"] == "enc_conv1"
    assert L["values"][0] == L["values"][1] == L["values"][28] == L["values"][29] == 0.0 == min(L["values"])


@pytest.mark.parametrize("size", SIZES)
def test_selected_unit_marker_shows_on_a_dark_map_and_arrows_move_it_on_the_map(fpage, fashion_lab, size):
    set_size(fpage, size)
    open_dark_unit(fpage, fashion_lab)
    fpage.focus("#act-big")
    fpage.keyboard.press("ArrowRight")
    fpage.wait_for_function("document.getElementById('act-pixel').textContent.includes('(0, 1)')")
    cell = int(fpage.get_attribute("#act-big", "data-cell"))
    big = fpage.evaluate(CANVAS_RGB, ["#act-big", cell - 2, 0, 2 * cell + 2, cell + 2])["px"]  # unit (0, 1)
    assert light_and_dark(big) == (True, True), "a two-tone marker: seen on black and on white"
    # the enlarged channel's small tile marks the same unit
    tile = "#act-layers section[data-layer=enc_conv1] canvas.tile"
    got = fpage.evaluate(CANVAS_RGB, [tile, 0, 0, 10**4, 10**4])
    scale = got["width"] // 28
    assert scale >= 2
    region = fpage.evaluate(CANVAS_RGB, [tile, scale - 1, 0, 2 * scale + 1, scale + 1])["px"]
    assert light_and_dark(region)[0], "the tile shows the chosen unit"
    # the arrow keys on the tile move the chosen unit too (and its field on the input follows)
    fpage.focus(tile)
    fpage.keyboard.press("ArrowDown")
    fpage.wait_for_function("document.getElementById('act-pixel').textContent.includes('(1, 1)')")
    assert fpage.get_attribute("#act-input", "data-highlight") == "0,2,0,2"


# ---- item 10: before/after the activation, the previous layer's maps, guided explanations ------------


def test_feature_map_before_and_after_its_activation_side_by_side(fpage, fashion_lab):
    fpage.goto(
        f"{fashion_lab.url}/#activations?zoo=seed-upsampling&dataset=fashion-mnist&index=0&sel=0,5,9,9"
    )
    fpage.wait_for_selector("#act-pre-figure:not([hidden])")
    fpage.wait_for_function(
        "LAB.panels.activations.values().pre && LAB.panels.activations.values().pre.channel === 5"
    )
    pre = fpage.evaluate("LAB.panels.activations.values().pre")
    model = lecture_model()
    x = torch.as_tensor(fashion_image(0))[None]
    with torch.no_grad():
        want = list(model)[0].call(x)[0, 5].numpy()
    assert pre["layer"] == 0 and want.min() < 0  # relu has work to do here
    np.testing.assert_allclose(np.array(pre["values"]).reshape(28, 28), want, atol=1e-5)
    assert "before relu" in fpage.text_content("#act-pre-caption")
    assert "after relu" in fpage.text_content("#act-big-caption")
    a, b = fpage.locator("#act-pre").bounding_box(), fpage.locator("#act-big").bounding_box()
    assert abs(a["y"] - b["y"]) < 4 and a["x"] < b["x"], "side by side"
    shot(fpage, "activations_prepost_desktop", "#act-view > .row")


@pytest.mark.parametrize("size", SIZES)
def test_a_unit_shows_its_field_on_every_map_of_the_layer_before(fpage, fashion_lab, size):
    set_size(fpage, size)
    fpage.goto(f"{fashion_lab.url}/#activations?zoo=seed-upsampling&dataset=fashion-mnist&index=0")
    fpage.wait_for_selector("#act-view[data-ready]")
    tile = fpage.locator("#act-layers section[data-layer=enc_conv2] canvas.tile >> nth=3")
    tile.scroll_into_view_if_needed()
    tile.click(position={"x": 25, "y": 25})  # 56 px for 14 cells: pixel (6, 6)
    fpage.wait_for_function("document.getElementById('act-pixel').textContent.includes('(6, 6)')")
    # enc_conv2 is a 3x3 'same' conv on enc_pool1 (14x14): unit (6, 6) sees its rows 5-7, cols 5-7
    prev = fpage.locator("#act-layers section[data-layer=enc_pool1] canvas.tile")
    fpage.wait_for_function(
        "[...document.querySelectorAll('#act-layers section[data-layer=enc_pool1] canvas.tile')]"
        ".every(c => c.dataset.field === '5,7,5,7')"
    )
    assert prev.count() == 16
    other = fpage.locator("#act-layers section[data-layer=enc_conv1] canvas.tile >> nth=0")
    assert other.get_attribute("data-field") is None  # only the layer right before
    got = fpage.evaluate(
        CANVAS_RGB, ["#act-layers section[data-layer=enc_pool1] canvas.tile", 0, 0, 10**4, 10**4]
    )
    scale = got["width"] // 14
    inside = fpage.evaluate(
        CANVAS_RGB,
        [
            "#act-layers section[data-layer=enc_pool1] canvas.tile",
            6 * scale,
            6 * scale,
            6 * scale + 1,
            6 * scale + 1,
        ],
    )["px"][0]
    assert inside[0] - inside[2] > 60, f"the field is tinted on the previous layer's map: {inside}"
    assert "enc_pool1 rows 5-7, cols 5-7" in fpage.text_content("#act-pixel")
    fpage.evaluate("document.querySelector('#act-layers section[data-layer=enc_pool1]').scrollIntoView()")
    shot(fpage, f"activations_prev_{size}")  # the fields on enc_pool1, the chosen unit on enc_conv2 below


@pytest.mark.parametrize("panel", PANELS)
def test_each_view_has_a_short_guided_explanation(fpage, fashion_lab, panel):
    fpage.goto(f"{fashion_lab.url}/#{panel}")
    guide = fpage.locator(f"#{panel} .guide")
    guide.wait_for(state="visible")
    text = " ".join(guide.text_content().split())
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    assert 2 <= len(sentences) <= 4, sentences
    assert fpage.locator(f"#{panel} .guide").count() == 1


# ---- item 7: the autoencoder panel of an undertrained Fashion-MNIST run ------------------------------


def test_autoencoder_baseline_one_epoch_curves_class_names_and_caption(fpage, fashion_lab):
    summary = json.loads((fashion_lab.runs / RUN / "summary.json").read_text())
    fpage.goto(f"{fashion_lab.url}/#autoencoder?run={RUN}")
    fpage.wait_for_selector("#ae-samples figure >> nth=7")
    fpage.wait_for_function("document.getElementById('ae-score').textContent.includes('dB')")
    score = fpage.text_content("#ae-score")
    assert f"{summary['metrics']['psnr']:.2f} dB" in score
    assert f"{summary['baseline']['psnr']:.2f} dB" in score and "mean image" in score
    assert f"{summary['baseline']['bce']:.4f}" in score
    # one epoch: each curve is one point, drawn large enough to see, and said to be one epoch
    radii = fpage.eval_on_selector_all("#ae-curves circle", "cs => cs.map(c => Number(c.getAttribute('r')))")
    assert radii and min(radii) >= 4
    assert "1 epoch" in fpage.text_content("#ae-curves")
    # class names from the dataset registry, not "label 9"
    first = fpage.text_content("#ae-samples figure >> nth=0")
    assert "Ankle boot" in first and "label 9" not in first
    caption = fpage.text_content("#autoencoder .caption") + fpage.get_attribute("#ae-draw", "aria-label")
    assert "digit" not in caption and "clothing" in caption
    shot(fpage, "autoencoder_fashion_desktop")


# ---- item 8: on a phone, the control next to what it changes ------------------------------------------


def in_view(page, selector: str) -> bool:
    return page.evaluate(
        f"""(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();
        return r.top >= -1 && r.bottom <= innerHeight + 1 && r.height > 0; }})()"""
    )


def test_phone_arith_step_buttons_stay_with_the_stage(fpage, fashion_lab):
    set_size(fpage, "phone")
    fpage.goto(f"{fashion_lab.url}/#arith?layer=Conv2D&rows=10&cols=10")
    fpage.wait_for_function("document.getElementById('ar-stage').dataset.total === '25'")
    fpage.evaluate("document.getElementById('ar-equation').scrollIntoView({block: 'end'})")
    fpage.wait_for_timeout(200)
    assert in_view(fpage, "#ar-next") and in_view(fpage, "#ar-equation")
    fpage.click("#ar-next")
    assert fpage.get_attribute("#ar-stage", "data-step") == "1"


def test_phone_activations_input_stays_in_view_while_hovering_a_lower_tile(fpage, fashion_lab):
    set_size(fpage, "phone")
    fpage.goto(f"{fashion_lab.url}/#activations?zoo=seed-upsampling&dataset=fashion-mnist&index=0")
    fpage.wait_for_selector("#act-view[data-ready]")
    tile = fpage.locator("#act-layers section >> nth=-2").locator("canvas.tile >> nth=0")
    tile.scroll_into_view_if_needed()
    tile.hover(position={"x": 28, "y": 28})
    fpage.wait_for_function("document.getElementById('act-input').dataset.highlight")
    assert in_view(fpage, "#act-input")
    assert fpage.evaluate("scrollY") > 800  # the tile is far below the input's own place
    shot(fpage, "activations_sticky_phone")


def test_phone_autoencoder_reconstruction_beside_the_drawing(fpage, fashion_lab):
    set_size(fpage, "phone")
    fpage.goto(f"{fashion_lab.url}/#autoencoder?run={RUN}")
    fpage.wait_for_selector("#ae-samples figure >> nth=7")
    a, b = fpage.locator("#ae-draw").bounding_box(), fpage.locator("#ae-recon").bounding_box()
    assert abs(a["y"] - b["y"]) < 4 and b["x"] >= a["x"] + a["width"], (a, b)
    assert b["x"] + b["width"] <= 390
    assert a["width"] >= 150  # still large enough to draw on
    shot(fpage, "autoencoder_fashion_phone")


def test_phone_designer_shapes_on_one_line_and_a_scroll_hint(fpage, fashion_lab):
    set_size(fpage, "phone")
    fpage.goto(f"{fashion_lab.url}/#designer?zoo=seed-upsampling")
    fpage.wait_for_selector("#summary-table tbody tr >> nth=12")
    lines = fpage.eval_on_selector_all(
        "#summary-table tbody td:nth-child(3)",
        "tds => tds.map(td => { const r = document.createRange(); r.selectNodeContents(td);"
        " return new Set([...r.getClientRects()].map(q => Math.round(q.top))).size; })",
    )
    assert lines and max(lines) == 1, lines
    scroller = "document.querySelector('#designer .table-scroll')"
    overflow = fpage.evaluate(f"{scroller}.scrollWidth > {scroller}.clientWidth")
    assert overflow  # six columns on one line each are wider than a phone: the ones out of view are announced
    hint = fpage.locator("#summary-hint")
    assert hint.is_visible() and "scroll" in hint.text_content()
    fpage.evaluate("document.getElementById('summary-hint').scrollIntoView()")
    shot(fpage, "designer_table_phone")
    fpage.evaluate(f"{scroller}.scrollLeft = {scroller}.scrollWidth")
    fpage.wait_for_function("document.getElementById('summary-hint').hidden")


# ---- item 9: help lists all panels (tests/test_cli_lab.py); the strides placeholder fits -------------

PLACEHOLDER_FITS = """(sel) => {
  const el = document.querySelector(sel), cs = getComputedStyle(el);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  const text = ctx.measureText(el.placeholder).width;
  const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 16;  // spin button
  return {text, room, placeholder: el.placeholder};
}"""


@pytest.mark.parametrize("size", SIZES)
def test_maxunpool_strides_placeholder_is_not_cut(fpage, fashion_lab, size):
    set_size(fpage, size)
    fpage.goto(f"{fashion_lab.url}/#arith?layer=MaxUnpool2D")
    fpage.wait_for_function("document.getElementById('ar-stage').dataset.layer === 'MaxUnpool2D'")
    for sel in ("#ar-strides-0", "#ar-strides-1"):
        got = fpage.evaluate(PLACEHOLDER_FITS, sel)
        assert got["placeholder"] and got["text"] <= got["room"], got
    width = fpage.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1]


# ---- item 10: several input channels, partial sums per channel ----------------------------------------


def read_matrix(page, table: str) -> np.ndarray:
    rows = page.eval_on_selector_all(
        f"#{table} tr", "trs => trs.map(tr => [...tr.querySelectorAll('input')].map(i => Number(i.value)))"
    )
    return np.array(rows, dtype=float)


def same_conv_partials(xs: np.ndarray, ks: np.ndarray, stride: int) -> np.ndarray:
    """(C, H, W) * (C, k, k), TF 'same' padding -> per-channel partial sums (C, H', W') (NumPy loops)."""
    c, h, w = xs.shape
    k = ks.shape[1]
    oh, ow = -(-h // stride), -(-w // stride)
    ph, pw = max((oh - 1) * stride + k - h, 0), max((ow - 1) * stride + k - w, 0)
    pad = np.zeros((c, h + ph, w + pw))
    pad[:, ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w] = xs
    out = np.zeros((c, oh, ow))
    for ch in range(c):
        for r in range(oh):
            for q in range(ow):
                out[ch, r, q] = (
                    pad[ch, r * stride : r * stride + k, q * stride : q * stride + k] * ks[ch]
                ).sum()
    return out


@pytest.mark.parametrize("size", SIZES)
def test_arith_several_input_channels_with_partial_sums(fpage, fashion_lab, size):
    set_size(fpage, size)
    fpage.goto(f"{fashion_lab.url}/#arith?layer=Conv2D&channels=3&bias=0.5")
    fpage.wait_for_function("document.getElementById('ar-stage').dataset.channels === '3'")
    xs = np.stack([read_matrix(fpage, "ar-grid" + ("" if c == 0 else f"-{c}")) for c in range(3)])
    ks = np.stack([read_matrix(fpage, "ar-kernel" + ("" if c == 0 else f"-{c}")) for c in range(3)])
    assert xs.shape == (3, 6, 6) and ks.shape == (3, 3, 3)
    assert not np.array_equal(xs[0], xs[1])  # each channel has its own values
    parts = same_conv_partials(xs, ks, 2)
    fpage.focus("#ar-stage")
    fpage.keyboard.press("End")
    fpage.wait_for_function("document.getElementById('ar-stage').dataset.step === '8'")
    out = np.array(json.loads(fpage.get_attribute("#ar-output", "data-values")), dtype=float)
    np.testing.assert_allclose(out, parts.sum(0) + 0.5)
    text = fpage.text_content("#ar-equation")
    p = parts[:, 2, 2]
    for c in range(3):
        assert re.search(rf"channel {c}: .* = {p[c]:g}\b", text), (c, text)
    assert f"out[2, 2] = {p[0]:g} + {p[1]:g} + {p[2]:g} + 0.5 (bias) = {p.sum() + 0.5:g}" in text, text
    for c in range(3):  # one input plane per channel, each with the window drawn
        assert fpage.locator(f"#ar-input{'' if c == 0 else f'-{c}'} rect.win").count() >= 4
    assert fpage.evaluate("[document.documentElement.scrollWidth, innerWidth]")[0] <= SIZES[size][0]
    shot(fpage, f"arith_channels_{size}")
    fpage.fill("#ar-grid-2 tr:nth-child(6) td:nth-child(5) input", "100")  # x[2][5, 4]: in the last window
    fpage.wait_for_function("document.getElementById('ar-stage').dataset.step === '0'")  # the new answer
    fpage.focus("#ar-stage")
    fpage.keyboard.press("End")
    fpage.wait_for_function("document.getElementById('ar-stage').dataset.step === '8'")
    new = p.sum() + 0.5 + (100 - xs[2, 5, 4]) * ks[2, 1, 0]  # weight (1, 0) of channel 2's slice
    assert f"= {new:g}" in fpage.text_content("#ar-equation")
    text = fpage.text_content("#ar-equation")
    fpage.reload()  # the URL keeps every channel's values and kernel slice, and the step
    fpage.wait_for_function("document.getElementById('ar-stage').dataset.channels === '3'")
    fpage.wait_for_function("document.getElementById('ar-stage').dataset.step === '8'")
    assert fpage.text_content("#ar-equation") == text
