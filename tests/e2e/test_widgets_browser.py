"""convolab.widgets in Chromium: each widget renders from its ``_esm`` (the lab page's own scripts in one
module) on a widget test page (tests/e2e/widget_page.py: a stand-in for anywidget's model, talking to
the Python widget as a kernel's comm would), and what the page shows equals the library's numbers in
Python: the explorer's table and fields = ``convolab.analysis.summary``, the activation maps and a clicked
unit's pre-activation = the model's layers run in Python, the animation's output = a hand-worked conv.

``CONVOLAB_LAB_SHOTS=1`` also writes docs/images/lab_widget_*.png (after the checks passed).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

pytest.importorskip("anywidget")

from shots import shot  # noqa: E402
from widget_page import WidgetPage  # noqa: E402

import convolab  # noqa: E402
import convolab.widgets as cw  # noqa: E402
from convolab.analysis.summary import analyze  # noqa: E402
from lab_support import offline_page  # noqa: E402

GRID = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]
KERNEL = [[1, 0, -1], [1, 0, -1], [1, 0, -1]]


@pytest.fixture(scope="module")
def lecture():
    torch.manual_seed(3)
    return convolab.build_model("seed-upsampling").eval()


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(7).random((28, 28)).astype(np.float32)


@pytest.fixture
def widgets(lecture, image):
    return {
        "explorer": cw.Explorer(lecture),
        "activations": cw.Activations(lecture, image),
        "arith": cw.ConvArithmetic(
            "Conv2D", GRID, KERNEL, bias=0.5, kernel_size=3, strides=2, padding="same"
        ),
    }


def open_page(browser, widgets, width=1000, height=900):
    """The widget test page in an offline browser context; returns (page, close)."""
    stack = contextlib.ExitStack()
    server = stack.enter_context(WidgetPage(widgets))
    page = stack.enter_context(offline_page(browser, server.url, (width, height), "the widgets"))
    page.goto(server.url + "/")
    page.wait_for_function("document.body.dataset.ready === '1' || document.body.dataset.error")
    assert page.evaluate("document.body.dataset.error || ''") == ""
    return page, stack.close


@pytest.fixture
def page(browser, widgets):
    p, close = open_page(browser, widgets)
    yield p
    close()


def settle(page):
    page.evaluate("window.settled()")


def hover_cell(page, selector, row, col, cell=1, click=False):
    """Move the pointer to the middle of cell (row, col) of a canvas whose cells are ``cell`` pixels."""
    box = page.locator(selector)
    size = box.evaluate("c => [c.clientWidth / c.width, c.clientHeight / c.height]")
    where = {"x": (col + 0.5) * cell * size[0], "y": (row + 0.5) * cell * size[1]}
    if click:
        box.click(position=where)
    else:
        box.hover(position=where)


def test_explorer_renders_the_summary_and_exact_fields(page, widgets, lecture):
    a = analyze(lecture.to_spec().to_dict())
    rows = page.locator("#explorer tbody tr")
    assert rows.count() == len(a.layers)
    for i, info in enumerate(a.layers):
        cells = rows.nth(i).locator("td").all_inner_texts()
        rf = info.receptive_field
        want_rf = f"{rf['h']['max']}x{rf['w']['max']}" if rf else "-"
        assert cells == [
            info.name,
            info.type,
            "(" + ", ".join(map(str, info.output_shape)) + ")",
            f"{info.params:,}",
            f"{info.macs:,}",
            want_rf,
        ]
    assert page.locator("#explorer tfoot td").nth(3).inner_text() == f"{a.total_params:,}"
    page.hover("#explorer tr[data-layer=enc_conv2]")  # hover a row: that layer's grid, synced to Python
    page.wait_for_selector("#explorer tr[data-layer=enc_conv2].selected")
    settle(page)
    assert widgets["explorer"].layer == "enc_conv2"
    cell = int(page.get_attribute("#explorer .cw-rf-output", "data-cell"))
    hover_cell(page, "#explorer .cw-rf-output", 8, 5, cell)
    (r0, r1), (c0, c1) = a.layers[2].pixel_field(8, 5)
    assert (r0, r1, c0, c1) == (13, 20, 7, 14)  # by hand, docs/lab.md
    assert page.get_attribute("#explorer .cw-rf-input", "data-highlight") == f"{r0},{r1},{c0},{c1}"
    assert "enc_conv2 (8, 5) sees input rows 13-20, cols 7-14 (8x8 pixels)" in page.inner_text(
        "#explorer .cw-info"
    )
    shot(page, "widget_explorer", "#explorer")
    page.focus("#explorer .cw-rf-output")  # the keyboard steps the pixel
    page.keyboard.press("ArrowRight")
    (r0, r1), (c0, c1) = a.layers[2].pixel_field(8, 6)
    assert page.get_attribute("#explorer .cw-rf-input", "data-highlight") == f"{r0},{r1},{c0},{c1}"
    info = page.inner_text("#explorer .cw-info")
    assert f"enc_conv2 (8, 6) sees input rows {r0}-{r1}, cols {c0}-{c1}" in info


def test_activations_render_the_python_forward_pass(page, lecture, image):
    with torch.no_grad():
        maps = [o[0].numpy() for _, o in lecture.feature_maps(torch.as_tensor(image[None, None]))]
    shown = page.evaluate("document.querySelector('#activations .convolab-widget').convolab.values()")
    np.testing.assert_array_equal(np.asarray(shown["input"], np.float32), image.ravel())
    for got, want in zip(shown["layers"], maps, strict=True):
        np.testing.assert_array_equal(
            np.asarray(got["values"], np.float32), want.ravel(), err_msg=got["name"]
        )
    sections = page.locator("#activations section.act-layer")
    assert sections.count() == len(maps)
    for i, want in enumerate(maps):
        lo, hi = sections.nth(i).get_attribute("data-min"), sections.nth(i).get_attribute("data-max")
        assert (float(lo), float(hi)) == (float(want.min()), float(want.max()))
    assert page.locator("#activations canvas.tile").count() == sum(m.shape[0] for m in maps)
    tile = "#activations canvas.tile[data-layer='2'][data-channel='3']"
    hover_cell(page, tile, 8, 5)
    readout = page.locator("#activations .cw-readout")
    assert float(readout.get_attribute("data-value")) == float(maps[2][3, 8, 5])
    assert page.get_attribute("#activations .cw-act-input", "data-highlight") == "13,20,7,14"
    hover_cell(page, tile, 8, 5, click=True)  # a click asks the kernel what made the unit
    page.wait_for_selector("#activations .cw-pre")
    with torch.no_grad():
        pre = float(list(lecture)[2].call(torch.as_tensor(maps[1][None]))[0, 3, 8, 5])
    pre_el = page.locator("#activations .cw-pre")
    assert float(pre_el.get_attribute("data-pre")) == pytest.approx(pre, abs=1e-6)
    assert (
        float(pre_el.get_attribute("data-value"))
        == float(maps[2][3, 8, 5])
        == max(float(np.float32(pre)), 0.0)
    )
    assert page.locator("#activations .cw-detail table.kernel").count() == 2 * 4  # 4 of 16 input channels
    shot(page, "widget_activations", "#activations")


def test_conv_arithmetic_steps_to_the_layers_output(page, widgets):
    stage = page.locator("#arith .ar-stage")
    assert (stage.get_attribute("data-step"), stage.get_attribute("data-total")) == ("0", "4")
    assert page.inner_text("#arith .ar-equation") == (  # the window at (0, 0): TF pads after, not before
        "out[0, 0] = 1·1 + 2·0 + 3·(−1) + 5·1 + 6·0 + 7·(−1) + 9·1 + 10·0 + 11·(−1) + 0.5 (bias) = −5.5"
    )
    page.click("#arith .cw-last")
    assert stage.get_attribute("data-step") == "3"
    settle(page)
    assert widgets["arith"].step == 3  # the step is synced back to the kernel
    values = page.get_attribute("#arith svg#ar-output", "data-values")
    assert values == "[[-5.5,21.5],[-3.5,26.5]]"  # worked by hand: TF's 'same' puts the odd pad after
    x = np.pad(np.array(GRID, float), ((0, 1), (0, 1)))  # an independent NumPy correlation
    k = np.array(KERNEL)
    windows = [[x[2 * r : 2 * r + 3, 2 * c : 2 * c + 3] for c in range(2)] for r in range(2)]
    want = [[float((win * k).sum() + 0.5) for win in row] for row in windows]
    assert want == [[-5.5, 21.5], [-3.5, 26.5]]
    stage.focus()
    page.keyboard.press("ArrowLeft")
    assert stage.get_attribute("data-step") == "2"
    assert page.locator("#arith .cw-next").is_enabled() and page.locator("#arith .cw-prev").is_enabled()
    shot(page, "widget_arith", "#arith")


def test_the_widgets_fit_a_phone_width(browser, widgets):
    page, close = open_page(browser, widgets, width=390, height=844)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # the receptive-field column is in view without scrolling the table sideways
        scroll = page.locator("#explorer .table-scroll")
        assert scroll.evaluate("e => e.scrollWidth <= e.clientWidth")
        rf = page.locator("#explorer tbody tr[data-layer=enc_conv2] td").nth(5)
        assert rf.inner_text() == "8x8" and rf.is_visible()
        shot(page, "widget_phone")  # the top of the page: the explorer at 390x844
    finally:
        close()
