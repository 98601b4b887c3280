"""Screenshots for docs/images, taken by the browser tests when CONVOLAB_LAB_SHOTS=1 is set:

    CONVOLAB_LAB_SHOTS=1 pytest tests/e2e -k "no_horizontal or animation or stamps or designer_form"

A shot is taken only after the test's own checks of that state passed, so a picture in the docs shows
a state the tests verified.
"""

from __future__ import annotations

import os
from pathlib import Path

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"


def size_name(width: int) -> str:
    return "phone" if width < 600 else "desktop"


def shot(page, name: str, selector: str | None = None) -> None:
    """Save ``docs/images/lab_<name>.png``: the viewport, or one element (``selector``) whole."""
    if not os.environ.get("CONVOLAB_LAB_SHOTS"):
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SHOTS / f"lab_{name}.png")
    if selector:
        page.locator(selector).screenshot(path=path)
    else:
        page.screenshot(path=path)
