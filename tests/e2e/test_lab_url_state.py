"""Every panel keeps its state in the URL: set it with the controls, reload (or open the link in a fresh
page), and the controls and the result come back. Debian's Chromium via Playwright (tests/e2e/conftest.py).
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(180)


def hash_has(page, *parts: str) -> None:
    """Wait until the URL's hash holds every ``key=value`` part (URL-encoded as the page writes it)."""
    cond = " && ".join(f"location.hash.includes({p!r})" for p in parts)
    page.wait_for_function(cond)


def settled(page, view: str) -> None:
    """Wait until the panel's latest request has been answered and drawn (``data-busy`` gone)."""
    page.wait_for_function(f"!document.getElementById({view!r}).hasAttribute('data-busy')")


def values(page, selectors: list[str]) -> list[str]:
    return [page.input_value(s) for s in selectors]


FILTER_CONTROLS = [
    "#flt-dataset",
    "#flt-index",
    "#flt-kernel",
    "#flt-size",
    "#flt-sigma",
    "#flt-stride",
    "#flt-padding",
    "#flt-border",
]


def test_filters_state_survives_a_reload_and_a_shared_link(page, live_lab, browser):
    page.goto(live_lab.url + "/#filters")
    page.wait_for_selector("#flt-output[src^='data:image/png']")
    page.select_option("#flt-kernel", "gaussian")
    page.fill("#flt-size", "7")
    page.fill("#flt-sigma", "2.5")
    page.fill("#flt-stride", "2")
    page.select_option("#flt-padding", "valid")
    page.select_option("#flt-border", "reflect")
    page.fill("#flt-index", "5")
    hash_has(page, "kernel=gaussian", "size=7", "sigma=2.5", "stride=2", "padding=valid", "index=5")
    settled(page, "flt-view")
    assert page.text_content("#flt-out-shape") == "11x11"  # (28 - 7) // 2 + 1
    want = values(page, FILTER_CONTROLS)
    info, image = page.text_content("#flt-info"), page.get_attribute("#flt-output", "src")
    url = page.url
    page.reload()
    page.wait_for_function("document.getElementById('flt-out-shape').textContent === '11x11'")
    settled(page, "flt-view")
    assert values(page, FILTER_CONTROLS) == want
    assert page.text_content("#flt-info") == info and page.get_attribute("#flt-output", "src") == image
    # the same link in a fresh browser context (a shared link): the same picture
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    try:
        other = context.new_page()
        other.goto(url)
        other.wait_for_function("document.getElementById('flt-out-shape').textContent === '11x11'")
        settled(other, "flt-view")
        assert values(other, FILTER_CONTROLS) == want and other.get_attribute("#flt-output", "src") == image
    finally:
        context.close()


def test_filters_state_comes_back_after_visiting_another_panel(page, live_lab):
    page.goto(live_lab.url + "/#filters")
    page.wait_for_selector("#flt-output[src^='data:image/png']")
    page.select_option("#flt-kernel", "laplacian")
    page.fill("#flt-index", "3")
    hash_has(page, "kernel=laplacian", "index=3")
    page.click("#tab-designer")
    page.wait_for_function("location.hash.startsWith('#designer')")
    page.click("#tab-filters")
    hash_has(page, "#filters?", "kernel=laplacian", "index=3")  # not a bare #filters
    page.reload()
    page.wait_for_selector("#flt-output[src^='data:image/png']")
    assert page.input_value("#flt-kernel") == "laplacian" and page.input_value("#flt-index") == "3"


def canvas_data(page, cid: str) -> str:
    return page.eval_on_selector(f"#{cid}", "c => c.toDataURL()")


def test_upsampling_state_survives_a_reload(page, live_lab):
    page.goto(live_lab.url + "/#upsampling")
    page.wait_for_function("document.getElementById('up-t-shape').textContent === '8x8'")
    first_source = canvas_data(page, "up-source")
    page.select_option("#up-factor", "3")
    page.select_option("#up-padding", "valid")
    page.fill("#up-kernel", "1 2 3 4\n5 6 7 8")
    page.fill("#up-grid input[data-r='1'][data-c='2']", "9")
    page.click("#up-reseed")  # other pooling switches
    hash_has(page, "factor=3", "padding=valid", "seed=1", "kernel=1+2+3+4%0A5+6+7+8")
    # Keras's 'valid' length: 4·3 + max(k − 3, 0): 12 rows (k = 2), 13 cols (k = 4)
    page.wait_for_function("document.getElementById('up-t-shape').textContent === '12x13'")
    page.wait_for_timeout(400)  # the kernel field's debounce (300 ms) has fired
    settled(page, "up-view")
    assert page.text_content("#up-t-shape") == "12x13"
    assert canvas_data(page, "up-source") != first_source
    shown = {cid: canvas_data(page, cid) for cid in ("up-source", "up-nearest", "up-unpool", "up-transpose")}
    page.reload()
    page.wait_for_function("document.getElementById('up-t-shape').textContent === '12x13'")
    settled(page, "up-view")
    assert page.input_value("#up-factor") == "3" and page.input_value("#up-padding") == "valid"
    assert page.input_value("#up-kernel") == "1 2 3 4\n5 6 7 8"
    assert page.input_value("#up-grid input[data-r='1'][data-c='2']") == "9"
    assert {cid: canvas_data(page, cid) for cid in shown} == shown  # same grid, switches, kernel


def arith_state(page) -> dict:
    stage = page.locator("#ar-stage")
    return {
        "kind": page.input_value("#ar-kind"),
        "step": stage.get_attribute("data-step"),
        "total": stage.get_attribute("data-total"),
        "output_padding": values(page, ["#ar-output_padding-0", "#ar-output_padding-1"]),
        "bias": page.input_value("#ar-bias"),
        "grid": page.eval_on_selector_all("#ar-grid input", "xs => xs.map(x => x.value)"),
        "kernel": page.eval_on_selector_all("#ar-kernel input", "xs => xs.map(x => x.value)"),
        "equation": page.text_content("#ar-equation"),
        "output": page.get_attribute("#ar-output", "data-values"),
    }


def test_arith_state_survives_a_reload(page, live_lab):
    page.goto(live_lab.url + "/#arith")
    page.wait_for_selector("#ar-output")
    page.select_option("#ar-kind", "Conv2DTranspose")
    page.wait_for_function("document.getElementById('ar-stage').dataset.layer === 'Conv2DTranspose'")
    page.fill("#ar-output_padding-0", "1")
    page.fill("#ar-output_padding-1", "0")
    page.fill("#ar-bias", "-1")
    page.fill("#ar-grid tr:nth-child(2) td:nth-child(3) input", "7")
    page.fill("#ar-kernel tr:nth-child(1) td:nth-child(1) input", "-2")
    page.wait_for_function("document.getElementById('ar-formulas').textContent.includes('(3 − 1)·2 + 3')")
    page.wait_for_function("document.getElementById('ar-equation').textContent.includes('(−2)')")
    page.focus("#ar-stage")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    hash_has(page, "#arith?", "layer=Conv2DTranspose", "step=4", "bias=-1", "output_padding=1%2C0")
    before = arith_state(page)
    assert before["step"] == "4" and before["grid"][1 * 3 + 2] == "7" and before["kernel"][0] == "-2"
    page.reload()
    page.wait_for_function("document.getElementById('ar-stage').dataset.step === '4'")
    assert arith_state(page) == before
    # and the restored animation still runs to the layer's end
    page.click("#ar-last")
    assert page.text_content("#ar-equation").startswith("Keras keeps rows")
    assert len(json.loads(page.get_attribute("#ar-output", "data-values"))) == 6


def test_activations_selection_survives_a_reload(page, live_lab):
    page.goto(f"{live_lab.url}/#activations?zoo=seed-upsampling&dataset=fashion-mnist&index=2&seed=1")
    page.wait_for_selector("#act-view[data-ready]")
    tile = page.locator("#act-layers section[data-layer=enc_conv2] canvas.tile >> nth=5")
    tile.click(position={"x": 25, "y": 13})  # 4 px a cell: pixel (3, 6)
    page.wait_for_selector("#act-big-figure:not([hidden])")
    page.focus("#act-big")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("document.getElementById('act-pixel').textContent.includes('(4, 6)')")
    hash_has(page, "sel=2%2C5%2C4%2C6", "index=2", "seed=1")
    pixel, caption = page.text_content("#act-pixel"), page.text_content("#act-big-caption")
    page.reload()
    page.wait_for_selector("#act-big-figure:not([hidden])")
    assert page.text_content("#act-big-caption") == caption and page.text_content("#act-pixel") == pixel
    assert page.input_value("#act-index") == "2" and page.input_value("#act-seed") == "1"


def test_autoencoder_state_survives_a_reload(page, live_lab):
    page.goto(live_lab.url + "/#autoencoder")
    page.wait_for_selector("#ae-samples figure >> nth=7")
    page.select_option("#ae-checkpoint", "last")
    page.wait_for_function("location.hash.includes('checkpoint=last')")
    page.click("#ae-next")
    page.click("#ae-next")
    hash_has(page, "run=tiny", "checkpoint=last", "offset=16")
    page.wait_for_function("document.getElementById('ae-offset').textContent.startsWith('images 16-23')")
    page.reload()
    page.wait_for_function("document.getElementById('ae-offset').textContent.startsWith('images 16-23')")
    assert page.input_value("#ae-checkpoint") == "last" and page.input_value("#ae-run") == "tiny"


def test_a_late_answer_of_a_panel_left_behind_does_not_take_the_url(page, live_lab):
    """The designer's analysis answers after the user moved to the filters: the URL stays the filters'
    (found by CI: the designer's late saveState put '#designer?...' back while the filters showed)."""
    page.goto(live_lab.url + "/#filters")
    page.wait_for_selector("#flt-output[src^='data:image/png']")
    page.select_option("#flt-kernel", "laplacian")
    hash_has(page, "kernel=laplacian")
    held = []
    page.route("**/api/analyze", lambda route: held.append(route))  # hold the designer's answer
    page.click("#tab-designer")
    page.wait_for_function("location.hash.startsWith('#designer')")
    page.wait_for_timeout(200)
    page.click("#tab-filters")
    hash_has(page, "#filters?", "kernel=laplacian")
    assert held, "the designer asked for its analysis"
    for route in held:
        route.continue_()
    page.wait_for_function("!document.getElementById('designer').hasAttribute('data-busy')")
    page.wait_for_timeout(300)  # the late answer has been drawn
    assert page.evaluate("location.hash").startswith("#filters?"), page.evaluate("location.hash")
