"""The lab in a real headless Chromium (Debian's, driven by Playwright): what a person sees and does.

Every test also checks (in the ``page`` fixture) that the page made no request outside the lab server
and raised no JavaScript error.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.timeout(120)


def rows(page) -> dict[str, list[str]]:
    """The summary table as {layer: [type, output, params, MACs, RF]}."""
    data = page.eval_on_selector_all(
        "#summary-table tbody tr", "trs => trs.map(tr => [...tr.cells].map(td => td.textContent))"
    )
    return {r[0]: r[1:] for r in data}


def open_lab(page, live_lab, panel: str = ""):
    page.goto(live_lab.url + "/" + (f"#{panel}" if panel else ""))
    assert page.title() == "convolab lab"


def test_page_loads_with_the_first_zoo_model(page, live_lab):
    open_lab(page, live_lab)
    page.wait_for_selector("#summary-table tbody tr >> nth=12")
    table = rows(page)
    assert len(table) == 13 and table["enc_conv1"][:3] == ["Conv2D", "(16, 28, 28)", "160"]
    assert page.text_content("#total-params") == "3,369"
    assert page.is_hidden("#spec-error")


def test_changing_the_stride_updates_the_table(page, live_lab):
    open_lab(page, live_lab)
    page.wait_for_selector("#summary-table tbody tr >> nth=12")
    text = page.input_value("#spec-text")
    edited = text.replace(
        "name: enc_conv1, filters: 16, kernel_size: 3,",
        "name: enc_conv1, filters: 16, kernel_size: 3, strides: 2,",
    )
    assert edited != text
    page.fill("#spec-text", edited)  # fires `input`, as typing does
    page.wait_for_function(
        "document.querySelector('#summary-table tbody tr').cells[2].textContent === '(16, 14, 14)'"
    )
    table = rows(page)
    assert table["enc_pool1"][1] == "(16, 7, 7)" and table["enc_conv1"][3] == "28,224"  # 14*14*16*9 MACs
    # a mistake shows inline and leaves the last good table in place
    page.fill("#spec-text", edited.replace("strides: 2", "strides: 0"))
    page.wait_for_selector("#spec-error:not([hidden])")
    assert "strides" in page.text_content("#spec-error")
    assert rows(page)["enc_conv1"][1] == "(16, 14, 14)"


def test_hovering_an_output_pixel_shows_its_exact_receptive_field(page, live_lab):
    open_lab(page, live_lab)
    page.wait_for_selector("#summary-table tbody tr >> nth=12")
    page.click("#summary-table tbody tr[data-layer=enc_conv2]")
    # the page finishes its layout in animation frames (the table's scroll hint is set in one, and moves
    # what is below it): measure the grid after two frames, as it is when the pointer comes
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    canvas = page.locator("#rf-output")
    canvas.scroll_into_view_if_needed()
    cell = float(canvas.get_attribute("data-cell"))
    box = canvas.bounding_box()
    scale = box["width"] / float(page.eval_on_selector("#rf-output", "c => c.width"))
    canvas.hover(position={"x": (5 + 0.5) * cell * scale, "y": (8 + 0.5) * cell * scale})
    # enc_conv2 (3x3 'same') <- enc_pool1 (2x2, stride 2) <- enc_conv1 (3x3 'same'): pixel (8, 5) sees
    # pool rows 7..9 -> conv1 rows 14..19 -> input rows 13..20; columns 4..6 -> 8..13 -> 7..14
    page.wait_for_function("document.getElementById('rf-info').textContent.includes('sees')")
    assert page.text_content("#rf-info") == "enc_conv2 (8, 5) sees input rows 13-20, cols 7-14 (8x8 pixels)"
    assert page.get_attribute("#rf-input", "data-highlight") == "13,20,7,14"
    # and it is drawn: inside the field is orange, outside stays white
    inside, outside = page.evaluate(
        """() => {
          const c = document.getElementById('rf-input'), k = Number(c.dataset.cell), g = c.getContext('2d');
          const px = (r, col) => [...g.getImageData(col * k + k / 2, r * k + k / 2, 1, 1).data];
          return [px(16, 10), px(2, 2)];
        }"""
    )
    assert inside[0] > 200 and inside[2] < 150 and outside[:3] == [255, 255, 255]


def test_drawing_on_the_canvas_produces_a_reconstruction(page, live_lab):
    open_lab(page, live_lab, "autoencoder")
    page.wait_for_selector("#ae-run option[value=tiny]", state="attached")
    page.wait_for_selector("#ae-samples figure >> nth=7")  # test-set reconstructions shown
    assert "3,369 parameters, epoch 2" in page.text_content("#ae-run-info")
    assert page.eval_on_selector("#ae-curves", "s => s.querySelectorAll('path').length") == 2
    box = page.locator("#ae-draw").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * (0.2 + 0.03 * i))
    page.mouse.up()
    page.wait_for_selector("#ae-recon[data-ready='1']")
    stats = page.evaluate(
        """() => {
          const c = document.getElementById('ae-recon');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let lo = 255, hi = 0;
          for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
          return [lo, hi, c.width];
        }"""
    )
    assert stats[2] == 280 and stats[1] > 0  # the cleared canvas is all black; a model output is not
    assert page.is_hidden("#ae-error")


def test_filters_panel_shows_the_result_and_its_size(page, live_lab):
    open_lab(page, live_lab, "filters")
    page.wait_for_selector("#flt-output[src^='data:image/png']")
    assert page.text_content("#flt-out-shape") == "28x28"
    page.fill("#flt-stride", "2")
    page.wait_for_function("document.getElementById('flt-out-shape').textContent === '14x14'")
    assert re.search(r"28x28 -> 14x14", page.text_content("#flt-info"))


def test_filters_panel_takes_an_upload(page, live_lab):
    import base64

    import numpy as np

    from lab_support import png_base64

    open_lab(page, live_lab, "filters")
    page.wait_for_selector("#flt-output[src^='data:image/png']")
    page.select_option("#flt-source", "upload")
    png = base64.b64decode(png_base64(np.tile(np.arange(40, dtype=np.uint8) * 6, (30, 1))))
    page.set_input_files("#flt-file", files=[{"name": "ramp.png", "mimeType": "image/png", "buffer": png}])
    page.wait_for_function("document.getElementById('flt-in-shape').textContent === '30x40'")
    page.select_option("#flt-padding", "valid")
    page.wait_for_function("document.getElementById('flt-out-shape').textContent === '28x38'")


def test_upsampling_panel_follows_the_grid(page, live_lab):
    open_lab(page, live_lab, "upsampling")
    page.wait_for_function("document.getElementById('up-t-shape').textContent === '8x8'")
    for cid in ("up-nearest", "up-nails", "up-unpool", "up-transpose", "up-source"):
        assert page.eval_on_selector(f"#{cid}", "c => c.width > 100")
    page.select_option("#up-factor", "3")
    page.wait_for_function("document.getElementById('up-t-shape').textContent === '12x12'")


def test_activations_open_on_a_dataset_this_machine_has(page, live_lab):
    """With no link state the panel picks the first dataset whose test split is here (it asked for mnist,
    which `make data` does not install, and on a machine with only Fashion-MNIST never became ready)."""
    open_lab(page, live_lab, "activations")
    page.wait_for_selector("#act-view[data-ready]")
    chosen = page.eval_on_selector("#act-dataset", "s => [s.value, s.selectedOptions[0].disabled]")
    sets = page.evaluate("LAB.api('/api/datasets')")["datasets"]
    assert chosen == [next(d["name"] for d in sets if d["available"]), False]
    offered = page.eval_on_selector_all("#act-dataset option", "os => os.map(o => [o.value, o.disabled])")
    assert offered == [[d["name"], not d["available"]] for d in sets]
