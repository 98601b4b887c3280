"""One ES module for anywidget, made of the lab page's own scripts (no build step, nothing fetched).

The page loads ``lab/static/*.js`` as classic scripts that share one ``LAB`` object; an anywidget
``_esm`` is a single module text with no base URL, so relative imports could not resolve. ``esm()``
joins the scripts the widgets need, in the page's order, and appends ``export default``: inside one
module the ``const LAB`` of common.js is a module-level name the later files see, exactly as on the page.
The files are read from the installed package, so the widgets and the page cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "lab" / "static"

# the page's helpers the views use, then the views; the order of index.html
SCRIPTS = ("common.js", "views.js", "arith_draw.js", "widgets.js")
STYLES = ("arith.css", "widgets.css")
EXPORT = "\nexport default { render: LAB.widgets.render };\n"


@cache
def esm() -> str:
    """The widgets' front end as one ES module text (``export default {render}``)."""
    parts = []
    for name in SCRIPTS:
        text = (STATIC / name).read_text(encoding="utf-8")
        for word in ("import ", "export "):  # the page's scripts are classic: a module statement is a bug
            if any(line.startswith(word) for line in text.splitlines()):
                raise RuntimeError(
                    f"lab/static/{name} has an {word.strip()} statement; it must stay a classic script"
                )
        parts.append(f"// ---- lab/static/{name} ----\n{text}")
    return "\n".join(parts) + EXPORT


@cache
def css() -> str:
    """The widgets' styles (the lab's arith.css for the animation, widgets.css scoped to the widget)."""
    return "\n".join((STATIC / name).read_text(encoding="utf-8") for name in STYLES)
