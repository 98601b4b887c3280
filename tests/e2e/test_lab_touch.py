"""Drawing by touch draws and does not scroll the page (a phone, real touch events through Chromium's
input pipeline via the DevTools protocol). The same drag on a canvas without ``touch-action: none``
scrolls the page: that control shows the check can fail.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(180)


def touch_drag(page, cdp, selector: str) -> None:
    """A finger pressed on ``selector``'s middle and moved 120 px up, in small steps."""
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.8
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for i in range(1, 13):
        move = {"type": "touchMove", "touchPoints": [{"x": x, "y": y - 10 * i}]}
        cdp.send("Input.dispatchTouchEvent", move)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_timeout(400)  # a scroll, if any, has happened


def inked(page, cid: str) -> int:
    """How many pixels of the (black, grey grid lines) drawing canvas are bright: ink."""
    return page.eval_on_selector(
        f"#{cid}",
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 0; i < d.length; i += 4) n += d[i] > 150; return n; }",
    )


DRAWING = [("autoencoder", "ae-draw"), ("activations?input=draw", "act-draw")]


@pytest.mark.parametrize(("panel", "canvas"), DRAWING)
def test_touch_drawing_draws_and_does_not_scroll(browser, live_lab, panel, canvas):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, bypass_csp=True
    )
    try:
        page = context.new_page()
        page.goto(f"{live_lab.url}/#{panel}")
        page.wait_for_selector(f"#{canvas}")
        page.wait_for_timeout(500)
        page.evaluate(f"document.getElementById('{canvas}').scrollIntoView({{block: 'center'}})")
        cdp = context.new_cdp_session(page)
        before = page.evaluate("scrollY")
        assert inked(page, canvas) == 0
        touch_drag(page, cdp, f"#{canvas}")
        assert page.evaluate("scrollY") == before  # the page stayed put
        assert inked(page, canvas) > 100  # and the finger drew
        # control: the same drag where touch-action is the default scrolls the page
        page.evaluate(f"document.getElementById('{canvas}').style.touchAction = 'auto'")
        touch_drag(page, cdp, f"#{canvas}")
        assert page.evaluate("scrollY") > before + 20
    finally:
        context.close()
