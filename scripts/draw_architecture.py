"""Draw the package's architecture: docs/architecture.svg (the layers and the imports between them) and
docs/train_flow.svg (the data flow of ``convolab train``).

    PYTHONPATH=src python scripts/draw_architecture.py [--out-dir docs]

Layers, bottom to top, one row each with its siblings side by side: read from pyproject.toml's
``[tool.importlinter]`` layers contract when there is one, else from the rank table of
scripts/house_graph.py. Boxes are the top-level subpackages and root modules of convolab (with their
module counts); arrows are the imports between them, read with grimp, type-only (``if TYPE_CHECKING:``)
imports included, labelled with how many module-to-module imports they stand for. Downward arrows are
faint (dashed: type-only imports alone); an arrow into a higher layer, or between independent siblings
(``a | b`` in the contract), is red and labelled. The output is deterministic (no date, fixed ids).
"""

from __future__ import annotations

import argparse
import ast
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import house_graph as hg  # noqa: E402
import house_metrics as hm  # noqa: E402

ROOT = hm.ROOT
PACKAGE = hg.PACKAGE
BOX_W, BOX_H, ROW_GAP = 1.7, 0.55, 1.25
FAINT, RED, SIBLING = "#7a869a", "#d62728", "#4c72b0"


def contract_layers(root: Path = ROOT) -> list[tuple[list[str], bool]] | None:
    """The layers contract's layers, top to bottom: (sibling components, independent?) each."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: the rank table
        return None
    path = root / "pyproject.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("importlinter", {})
    for contract in config.get("contracts", []):
        if contract.get("type") != "layers":
            continue
        containers = contract.get("containers", [])
        rows = []
        for layer in contract["layers"]:
            independent = ":" not in layer
            names = [n.strip().strip("()") for n in layer.replace(":", "|").split("|")]
            prefix = f"{containers[0]}." if containers else ""
            rows.append(([prefix + n for n in names if n], independent))
        return rows
    return None


def rank_layers(components: set[str]) -> list[tuple[list[str], bool]]:
    """The rank table's layers, top to bottom (siblings not independent)."""
    by_rank: dict[int, list[str]] = {}
    for c in sorted(components):
        r = hg.rank(c)
        if r is not None:
            by_rank.setdefault(r, []).append(c)
    return [(by_rank[r], False) for r in sorted(by_rank, reverse=True)]


def layer_rows(components: set[str], root: Path = ROOT) -> tuple[list[tuple[list[str], bool]], str]:
    """Rows bottom to top (present components only; the rest on top), and where the order came from."""
    rows = contract_layers(root)
    source = "pyproject.toml's import-linter layers contract"
    if rows is None:
        rows, source = rank_layers(components), "the rank table of scripts/house_graph.py"
    rows = [([c for c in names if c in components], ind) for names, ind in rows]
    placed = {c for names, _ in rows for c in names}
    extra = sorted(components - placed)
    rows = [r for r in rows if r[0]]
    if extra:
        rows.insert(0, (extra, False))
    return rows[::-1], source


def order_rows(rows: list[list[str]], edges: Counter[tuple[str, str]], sweeps: int = 4) -> list[list[str]]:
    """Siblings ordered by the mean place of the boxes they import and are imported by (barycentre
    sweeps up and down the rows): fewer crossings. Deterministic (ties by name)."""
    rows = [sorted(r) for r in rows]
    x = {c: (i + 0.5) / len(r) for r in rows for i, c in enumerate(r)}
    row_of = {c: i for i, r in enumerate(rows) for c in r}

    def centre(c: str, below: bool) -> float:
        total = weight = 0.0
        for (a, b), n in edges.items():
            other = b if a == c else a if b == c else None
            if other is None or other not in row_of:
                continue
            if (row_of[other] < row_of[c]) if below else (row_of[other] > row_of[c]):
                total, weight = total + x[other] * n, weight + n
        return total / weight if weight else x[c]

    for sweep in range(sweeps):
        below = sweep % 2 == 0
        for i in range(len(rows)) if below else reversed(range(len(rows))):
            rows[i] = sorted(rows[i], key=lambda c: (centre(c, below), c))
            for j, c in enumerate(rows[i]):
                x[c] = (j + 0.5) / len(rows[i])
    return rows


def package_graph() -> tuple[dict[str, int], Counter[tuple[str, str]], set[tuple[str, str]]]:
    """Modules per component, imports between components (type-only ones included), and the component
    edges that only type-only imports make."""
    full = hg.import_graph(PACKAGE, type_only=True)
    runtime = hg.component_edges(hg.import_graph(PACKAGE, type_only=False))
    sizes = Counter(hg.component(m) for m in full)
    edges = hg.component_edges(full)
    return dict(sizes), edges, {e for e in edges if e not in runtime}


def short(component: str) -> str:
    return component.partition(".")[2] or f"{component} (root)"


def draw_box(ax: Any, x: float, y: float, label: str, sub: str, colour: str = "#eef2f8") -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - BOX_W / 2, y - BOX_H / 2),
            BOX_W,
            BOX_H,
            facecolor=colour,
            zorder=3,
            edgecolor="#34495e",
            boxstyle="round,pad=0.02,rounding_size=0.08",
            lw=1,
        )
    )
    ax.text(x, y + 0.07, label, ha="center", va="center", fontsize=9, weight="bold", zorder=4)
    if sub:
        ax.text(x, y - 0.14, sub, ha="center", va="center", fontsize=6.5, color="#555", zorder=4)


def crosses_a_box(a: str, b: str, pos: dict[str, tuple[float, float]]) -> bool:
    """Whether the straight arrow between boxes ``a`` and ``b`` runs through a box of a row between."""
    (xa, ya), (xb, yb) = pos[a], pos[b]
    for c, (x, y) in pos.items():
        if c not in (a, b) and min(ya, yb) < y < max(ya, yb):
            at = xa + (y - ya) / (yb - ya) * (xb - xa)
            if abs(at - x) < BOX_W / 2 + 0.05:
                return True
    return False


def on_a_box(point: tuple[float, ...], boxes: Iterable[tuple[float, float]]) -> bool:
    x, y = point
    return any(abs(x - bx) < BOX_W / 2 + 0.2 and abs(y - by) < BOX_H / 2 + 0.1 for bx, by in boxes)


def draw_edge(
    ax: Any,
    a: tuple[float, float],
    b: tuple[float, float],
    n: int,
    kind: str,
    dashed: bool,
    label: str,
    bend: bool = False,
    boxes: Iterable[tuple[float, float]] = (),
) -> None:
    """One import arrow from importer ``a`` to imported ``b`` (box centres); ``kind``: down, up, side;
    ``bend``: curve it round the boxes on its way; ``boxes``: centres its label avoids. The axes have an
    equal aspect, so the arc's control point (matplotlib's ``arc3``, in display space) is the one computed
    here for the label."""
    (xa, ya), (xb, yb) = a, b
    if kind == "side":  # from the top of one sibling to the top of the other, bulging upwards
        start, end = (xa, ya + BOX_H / 2), (xb, yb + BOX_H / 2)
        rad = min(0.35, 1.2 / max(abs(xb - xa), 1e-9)) * (-1 if xb > xa else 1)
    else:
        sign = -1 if kind == "down" else 1
        start, end = (xa, ya + sign * BOX_H / 2), (xb, yb - sign * BOX_H / 2)
        length = ((end[0] - start[0]) ** 2 + (end[1] - start[1]) ** 2) ** 0.5
        rad = min(0.8, (BOX_W + 0.3) / length) * (1 if xb >= xa else -1) if bend else 0.0
    colour, alpha = (RED, 0.95) if label else (FAINT if kind == "down" else SIBLING, 0.35)
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=8,
            color=colour,
            alpha=alpha,
            lw=0.6 + 0.5 * min(n, 16) ** 0.5,
            linestyle="--" if dashed else "-",
            connectionstyle=f"arc3,rad={rad:.3f}",
            zorder=5 if label else 1,
        )
    )
    dx, dy = end[0] - start[0], end[1] - start[1]
    control = (start[0] + dx / 2 + rad * dy, start[1] + dy / 2 - rad * dx)
    # counts near their importer, where arrows fan out; any label off the boxes where it can be
    tries = (0.5, 0.4, 0.6, 0.3, 0.7) if label or kind == "side" else (0.2, 0.3, 0.15, 0.4)
    points = [
        tuple(
            (1 - t) ** 2 * p + 2 * (1 - t) * t * c + t**2 * q
            for p, c, q in zip(start, control, end, strict=True)
        )
        for t in tries
    ]
    lx, ly = next((pt for pt in points if not on_a_box(pt, boxes)), points[0])
    ax.text(
        lx,
        ly,
        f"{label}: {n}" if label else str(n),
        fontsize=7.5 if label else 6,
        color=colour,
        ha="center",
        va="center",
        weight="bold" if label else "normal",
        zorder=6 if label else 2,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3, "alpha": 0.8},
    )


def layout(rows: list[list[str]]) -> tuple[dict[str, tuple[float, float]], float]:
    width = max(len(r) for r in rows) * (BOX_W + 0.45)
    pos = {}
    for i, names in enumerate(rows):
        step = width / len(names)
        for j, c in enumerate(names):
            pos[c] = ((j + 0.5) * step, i * ROW_GAP)
    return pos, width


def edge_kind(a: str, b: str, row_of: dict[str, int]) -> str:
    return "down" if row_of[a] > row_of[b] else "up" if row_of[a] < row_of[b] else "side"


def draw_layers(out: Path, root: Path = ROOT) -> dict[str, Any]:
    sizes, edges, type_only = package_graph()
    rows_ind, source = layer_rows(set(sizes), root)
    rows = order_rows([names for names, _ in rows_ind], edges)
    independent = {c for names, ind in rows_ind for c in names if ind and len(names) > 1}
    row_of = {c: i for i, names in enumerate(rows) for c in names}
    pos, width = layout(rows)
    inch = 0.8  # per unit of the (equal-aspect) axes
    fig, ax = plt.subplots(figsize=((width + 0.4) * inch, ((len(rows) - 1) * ROW_GAP + 1.6) * inch + 0.9))
    bad = []
    for (a, b), n in sorted(edges.items(), key=lambda e: (e[0][0], e[0][1])):
        kind = edge_kind(a, b, row_of)
        illegal = kind == "up" or (kind == "side" and a in independent and b in independent)
        label = f"{short(a)} → {short(b)}" if illegal else ""
        if illegal:
            bad.append({"importer": a, "imported": b, "imports": n, "kind": kind})
        bend = kind != "side" and crosses_a_box(a, b, pos)
        draw_edge(ax, pos[a], pos[b], n, kind, (a, b) in type_only, label, bend, pos.values())
    for c, (x, y) in pos.items():
        draw_box(ax, x, y, short(c), f"{sizes[c]} modules" if sizes[c] > 1 else "module")
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(-0.7, (len(rows) - 1) * ROW_GAP + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    title = (
        f"{PACKAGE}: layers bottom to top (from {source}); arrows: importer → imported, labelled with the "
        f"module imports they stand for (faint: down; dashed: type-only imports alone; red: into a higher "
        f"layer or between independent siblings: {len(bad)})"
    )
    ax.set_title(textwrap.fill(title, int(fig.get_figwidth() * 14)), fontsize=9)
    save(fig, out)
    return {"rows": [[short(c) for c in r] for r in rows], "source": source, "red": bad}


def save(fig: Any, out: Path) -> None:
    fig.tight_layout()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)


# The stages of `convolab train`, top to bottom: (title, what, symbols whose defining modules are shown).
# A row with two stages draws them side by side. Symbols are looked up in the source, so the modules
# shown follow the code wherever it moves.
TRAIN_FLOW: list[list[tuple[str, str, tuple[str, ...]]]] = [
    [("CLI", "`convolab train` options, --config file", ("train_cmd",))],
    [("TrainConfig", "defaults < config file < flags; validated", ("TrainConfig",))],
    [("session", "run folder, lock, log (resume: read back)", ("start", "RunLock", "RunLog"))],
    [
        (
            "data",
            "dataset load (IDX, CIFAR, folder) or stream; batch source",
            ("load_dataset", "open_source"),
        ),
        ("model", "spec (zoo name / file) → build_model", ("load_spec", "build_model")),
    ],
    [("engine", "plan (fused, native kernels), train step", ("build_plan", "TrainStep"))],
    [("loop", "epochs: steps, validation, progress, signals", ("Trainer",))],
    [
        (
            "outputs",
            "checkpoints, metrics, summary, figures",
            ("save_checkpoint", "evaluate_run", "make_figures"),
        )
    ],
]


def definitions(src: Path, names: set[str]) -> dict[str, list[str]]:
    """Module-level functions and classes named ``names`` in the package: name -> defining modules."""
    found: dict[str, list[str]] = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in names:
                found.setdefault(node.name, []).append(hm.module_name(path, src))
    return found


def where(symbols: tuple[str, ...], found: dict[str, list[str]]) -> str:
    lines = []
    for s in symbols:
        modules = [short(m) for m in found.get(s, [])]
        if modules:
            lines.append(f"{s}: {', '.join(modules)}")
    return "\n".join(lines)


def draw_train_flow(out: Path, src: Path) -> None:
    found = definitions(src, {s for row in TRAIN_FLOW for _, _, syms in row for s in syms})
    w, h, gap, width = 3.4, 0.95, 1.45, 7.6
    fig, ax = plt.subplots(figsize=(7.6, 1.2 + gap * len(TRAIN_FLOW)))
    centres: list[list[tuple[float, float]]] = []
    for i, row in enumerate(TRAIN_FLOW):
        y = (len(TRAIN_FLOW) - 1 - i) * gap
        xs = [width * (j + 0.5) / len(row) for j in range(len(row))]
        centres.append([(x, y) for x in xs])
        for x, (title, what, symbols) in zip(xs, row, strict=True):
            ax.add_patch(
                FancyBboxPatch(
                    (x - w / 2, y - h / 2),
                    w,
                    h,
                    facecolor="#eef5ee",
                    edgecolor="#2e5e3e",
                    boxstyle="round,pad=0.02,rounding_size=0.1",
                    lw=1,
                )
            )
            ax.text(x, y + 0.3, title, ha="center", va="center", fontsize=10, weight="bold")
            ax.text(x, y + 0.1, what, ha="center", va="center", fontsize=7.5)
            ax.text(
                x,
                y - 0.2,
                where(symbols, found),
                ha="center",
                va="center",
                fontsize=6.5,
                color="#555",
                family="monospace",
                linespacing=1.3,
            )
    for upper, lower in zip(centres, centres[1:], strict=False):
        for xa, ya in upper:
            for xb, yb in lower:
                ax.add_patch(
                    FancyArrowPatch(
                        (xa, ya - h / 2),
                        (xb, yb + h / 2),
                        arrowstyle="-|>",
                        mutation_scale=10,
                        color="#2e5e3e",
                        lw=1.2,
                    )
                )
    ax.set_xlim(0, width)
    ax.set_ylim(-h, (len(TRAIN_FLOW) - 1) * gap + h)
    ax.axis("off")
    ax.set_title(f"Data flow of `{PACKAGE} train` (module: where each named piece is defined)", fontsize=9)
    save(fig, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs", help="where the two SVGs go")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the folder holding the package")
    args = parser.parse_args(argv)
    src = args.src.resolve()
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    plt.rcParams.update({"svg.hashsalt": PACKAGE, "svg.fonttype": "none", "font.family": "DejaVu Sans"})
    layers = draw_layers(args.out_dir / "architecture.svg")
    draw_train_flow(args.out_dir / "train_flow.svg", src)
    print(f"layers from {layers['source']}, bottom to top:")
    for row in layers["rows"]:
        print("  " + ", ".join(row))
    for e in layers["red"]:
        print(f"  red ({e['kind']}): {e['importer']} -> {e['imported']} ({e['imports']} imports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
