"""The Conv arithmetic panel and the designer's form in Debian's Chromium, at a phone and a desktop size.

The animation is stepped to its last position (by keyboard and by buttons) and the output it then shows
must equal the convolab layer run here in Python on the values read back from the page. The panel must
not scroll sideways, name every control, announce steps politely and keep text contrast >= 4.5:1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from shots import shot, size_name

pytestmark = pytest.mark.timeout(180)

SIZES = [(390, 844), (1440, 900)]
SIZE_IDS = ["phone", "desktop"]


def open_arith(page, live_lab, size):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(live_lab.url + "/#arith")
    page.wait_for_selector("#ar-output")
    page.wait_for_function("document.getElementById('ar-error').hidden")


def read_matrix(page, table: str) -> np.ndarray:
    rows = page.eval_on_selector_all(
        f"#{table} tr", "trs => trs.map(tr => [...tr.querySelectorAll('input')].map(i => Number(i.value)))"
    )
    return np.array(rows, dtype=float)


def shown_output(page) -> np.ndarray:
    return np.array(json.loads(page.get_attribute("#ar-output", "data-values")), dtype=float)


def step_info(page) -> tuple[int, int]:
    stage = page.locator("#ar-stage")
    return int(stage.get_attribute("data-step")), int(stage.get_attribute("data-total"))


def choose(page, kind: str):
    page.select_option("#ar-kind", kind)
    page.wait_for_function(f"document.getElementById('ar-stage').dataset.layer === '{kind}'")
    page.wait_for_function("document.getElementById('ar-error').hidden")


def run_layer(layer, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return layer(torch.tensor(x, dtype=torch.float32)[None, None])[0, 0].double().numpy()


def conv_layer(kind, kernel, bias, **args):
    from convolab.layers import Conv2D, Conv2DTranspose

    layer = (Conv2D if kind == "Conv2D" else Conv2DTranspose)(1, kernel.shape, **args)
    return layer, kernel, bias


def set_weights(layer, x, kernel, bias):
    layer.build((1, *x.shape))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(kernel, dtype=torch.float32)[None, None])
        layer.bias.fill_(bias)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_conv2d_animation_steps_by_keyboard_to_the_layer_output(page, live_lab, size):
    from convolab.layers import Conv2D

    open_arith(page, live_lab, size)
    page.fill("#ar-bias", "0.5")
    page.wait_for_function("document.getElementById('ar-equation').textContent.includes('(bias)')")
    step, total = step_info(page)
    assert (step, total) == (0, 9)  # 6x6, kernel 3, stride 2, 'same' -> 3x3 positions
    assert "before 0, after 1" in page.text_content("#ar-formulas")  # TF's uneven 'same' split
    page.focus("#ar-stage")
    for i in range(1, total):
        page.keyboard.press("ArrowRight")
        assert step_info(page)[0] == i
    page.keyboard.press("ArrowRight")  # past the end: stays on the last position
    assert step_info(page) == (total - 1, total)
    x, kernel = read_matrix(page, "ar-grid"), read_matrix(page, "ar-kernel")
    layer = Conv2D(1, 3, strides=2, padding="same")
    set_weights(layer, x, kernel, 0.5)
    np.testing.assert_allclose(shown_output(page), run_layer(layer, x), atol=1e-4)
    # the written-out dot product of the last position ends in the layer's value
    assert page.text_content("#ar-equation").endswith(f"= {run_layer(layer, x)[2, 2]:g}   (0: padding)")
    live = page.locator("#ar-live")
    assert live.get_attribute("aria-live") == "polite" and live.get_attribute("role") is None
    assert f"step {total} of {total}" in live.text_content()
    page.keyboard.press("Home")
    assert step_info(page)[0] == 0 and np.isnan(shown_output(page)[2, 2])  # later cells not yet computed
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    shot(page, f"arith_conv_{size_name(size[0])}", "#arith")  # docs/images, with CONVOLAB_LAB_SHOTS=1


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_transposed_conv_stamps_then_crops_to_the_layer_output(page, live_lab, size):
    from convolab.layers import Conv2DTranspose

    open_arith(page, live_lab, size)
    choose(page, "Conv2DTranspose")
    page.fill("#ar-output_padding-0", "1")
    page.fill("#ar-output_padding-1", "0")
    page.fill("#ar-bias", "-1")
    page.wait_for_function("document.getElementById('ar-formulas').textContent.includes('(3 − 1)·2 + 3')")
    step, total = step_info(page)
    assert total == 3 * 3 + 1  # one stamp per input pixel, then Keras's crop
    for _ in range(total - 1):
        page.click("#ar-next")
    assert step_info(page)[0] == total - 1 and page.is_disabled("#ar-next")
    assert page.text_content("#ar-equation").startswith("Keras keeps rows")
    x, kernel = read_matrix(page, "ar-grid"), read_matrix(page, "ar-kernel")
    layer = Conv2DTranspose(1, 3, strides=2, padding="same", output_padding=(1, 0))
    set_weights(layer, x, kernel, -1.0)
    expected = run_layer(layer, x)
    assert expected.shape == (6, 5)
    np.testing.assert_allclose(shown_output(page), expected, atol=1e-4)
    page.click("#ar-prev")  # back one: the last stamp, the output is not cropped yet
    assert step_info(page)[0] == total - 2 and "stamps" in page.text_content("#ar-equation")
    page.click("#ar-prev")
    shot(page, f"arith_transpose_{size_name(size[0])}", "#arith")


def test_max_unpool_and_dilated_conv_reach_the_layer_output(page, live_lab):
    from convolab.layers import Conv2D, MaxPool2D, MaxUnpool2D

    open_arith(page, live_lab, (1440, 900))
    choose(page, "MaxUnpool2D")
    page.focus("#ar-stage")
    page.keyboard.press("End")
    src = read_matrix(page, "ar-grid")
    pool, unpool = MaxPool2D(2, name="p"), MaxUnpool2D("p")
    with torch.no_grad():
        pooled, switches = pool.forward_with_switches(torch.tensor(src, dtype=torch.float32)[None, None])
        expected = unpool(pooled, switches=switches, output_size=src.shape)[0, 0].double().numpy()
    np.testing.assert_allclose(shown_output(page), expected, atol=1e-5)
    assert "switch" in page.text_content("#ar-equation")

    choose(page, "Conv2D")
    page.select_option("#ar-padding", "valid")
    page.fill("#ar-strides-0", "1")
    page.fill("#ar-strides-1", "1")
    page.fill("#ar-dilation_rate-0", "2")
    page.fill("#ar-dilation_rate-1", "2")
    page.wait_for_function("document.getElementById('ar-stage').dataset.total === '4'")  # (6 - 5) + 1 = 2
    page.click("#ar-last")
    x, kernel = read_matrix(page, "ar-grid"), read_matrix(page, "ar-kernel")
    layer = Conv2D(1, 3, dilation_rate=2)
    set_weights(layer, x, kernel, 0.0)
    np.testing.assert_allclose(shown_output(page), run_layer(layer, x), atol=1e-4)


def test_empty_field_is_an_error_not_a_zero(page, live_lab):
    open_arith(page, live_lab, (1440, 900))
    page.fill("#ar-kernel_size-0", "")
    page.wait_for_selector("#ar-error:not([hidden])")
    assert "kernel" in page.text_content("#ar-error")
    assert "stale" in page.get_attribute("#ar-stage", "class")


CHECK_A11Y = "\n".join(  # the function, without its header comment (Playwright calls it with the panel id)
    line
    for line in (Path(__file__).parent / "a11y_check.js").read_text().splitlines()
    if not line.startswith("//")
)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_no_overflow_names_contrast_and_keyboard_reach(page, live_lab, size):
    open_arith(page, live_lab, size)
    for kind in ("Conv2D", "Conv2DTranspose", "MaxUnpool2D", "UpSampling2D"):
        if kind != "Conv2D":
            choose(page, kind)
        page.click("#ar-next")
        overflow = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert overflow[0] <= overflow[1], (kind, overflow)
        found = page.evaluate(CHECK_A11Y, "arith")
        assert found == {"unnamed": [], "low": []}, kind
    # keyboard reach: Tab from the layer select arrives at the player and the stage
    page.focus("#ar-kind")
    reached = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id"))
    assert {"ar-play", "ar-next", "ar-prev", "ar-speed", "ar-stage", "ar-rows"} <= reached


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_designer_form_and_yaml_stay_in_sync(page, live_lab, size):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(live_lab.url + "/")
    page.wait_for_selector("#summary-table tbody tr >> nth=12")
    page.click("#summary-table tbody tr[data-layer=enc_conv2]")
    page.wait_for_function("document.getElementById('lf-title')?.textContent.startsWith('enc_conv2')")
    assert page.input_value("#lf-filters") == "8" and page.input_value("#lf-kernel_size-0") == "3"
    assert "(3·3·16 + 1)·8 = 1,160" in page.text_content("#designer-formulas")
    # form -> YAML (and the table and formulas follow)
    page.fill("#lf-filters", "12")
    page.wait_for_function(
        "document.getElementById('spec-text').value.includes('name: enc_conv2, filters: 12,')"
    )
    page.wait_for_function(
        "document.querySelector('#summary-table tr[data-layer=enc_conv2]').cells[3].textContent === '1,740'"
    )
    page.wait_for_function("document.getElementById('designer-formulas').textContent.includes('= 1,740')")
    page.select_option("#lf-padding", "valid")
    conv2 = "document.querySelector('#summary-table tr[data-layer=enc_conv2]')"
    page.wait_for_function(f"{conv2}.cells[2].textContent === '(12, 12, 12)'")
    assert page.input_value("#lf-filters") == "12"
    # YAML -> form
    text = page.input_value("#spec-text")
    edited = text.replace(
        "name: enc_conv2, filters: 12, kernel_size: 3,", "name: enc_conv2, filters: 12, kernel_size: [5, 3],"
    )
    assert edited != text
    page.fill("#spec-text", edited)
    page.wait_for_function("document.getElementById('lf-kernel_size-0').value === '5'")
    assert page.input_value("#lf-kernel_size-1") == "3"
    page.wait_for_function(
        "document.getElementById('designer-formulas').textContent.includes('(5·3·16 + 1)·12 = 2,892')"
    )
    title = page.get_attribute("#summary-table tr[data-layer=enc_conv2] td:nth-child(4)", "title")
    assert title == "parameters = (kh·kw·C + 1)·F = (5·3·16 + 1)·12 = 2,892"  # the formula on hover
    shot(page, f"arith_designer_{size_name(size[0])}", "#designer")
