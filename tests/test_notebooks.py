"""The notebook examples (examples/notebook_*.py, percent format) run cell by cell in a fresh process.

Each cell (``# %%``) is executed in one namespace, as a Jupyter kernel would; a cell ending in an
expression is displayed the way Jupyter displays it (``_repr_html_``, ``_repr_png_``, else ``repr``),
so the display methods run too. A failing cell fails the test, naming the cell. The autoencoder
notebook trains on small data (``CONVOLAB_EXAMPLE_SMALL=1``: 1 epoch, 600 Fashion-MNIST test images).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

RUNNER = r"""
import ast, sys, traceback
path = sys.argv[1]
cells, current = [], [""]  # a cell: its "# %%" header line, then its lines
for line in open(path, encoding="utf-8").read().splitlines():
    if line.startswith("# %%"):
        cells.append(current)
        current = []
    current.append(line)
cells.append(current)
cells = [("[markdown]" in lines[0], "\n".join(lines)) for lines in cells]
namespace = {"__name__": "__main__"}
code_cells = [text for markdown, text in cells if not markdown and text.strip()]
for i, text in enumerate(code_cells, 1):
    try:
        tree = ast.parse(text, filename=f"{path} cell {i}")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, f"{path} cell {i}", "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), f"{path} cell {i}", "eval"), namespace)
            if value is not None:
                shown = [m for m in ("_repr_html_", "_repr_png_") if hasattr(value, m)]
                for m in shown:
                    out = getattr(value, m)()
                    assert out, f"{type(value).__name__}.{m}() returned nothing"
                print(f"[display {type(value).__name__}: {', '.join(shown) or repr(value)[:80]}]")
    except BaseException:
        traceback.print_exc()
        print(f"NOTEBOOK CELL {i} FAILED")
        sys.exit(1)
    print(f"NOTEBOOK CELL {i} OK")
print(f"NOTEBOOK DONE {len(code_cells)} cells")
"""


def run_notebook(path: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "MPLBACKEND": "Agg",
        "CONVOLAB_EXAMPLE_SMALL": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", RUNNER, str(path)], cwd=cwd, env=full, capture_output=True, text=True
    )


def check(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "NOTEBOOK DONE" in result.stdout
    return result.stdout


def test_every_notebook_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("notebook_*.py")) == [
        "notebook_autoencoder.py",
        "notebook_layers.py",
    ]


def test_the_runner_fails_on_a_failing_cell(tmp_path):
    nb = tmp_path / "notebook_bad.py"
    nb.write_text("# %%\nx = 1\n# %% [markdown]\n# text\n# %%\nx\n# %%\n1 / 0\n# %%\nprint('never')\n")
    result = run_notebook(nb, tmp_path)
    assert result.returncode == 1 and "NOTEBOOK CELL 2 OK" in result.stdout
    assert "NOTEBOOK CELL 3 FAILED" in result.stdout and "ZeroDivisionError" in result.stderr
    assert "never" not in result.stdout


def test_notebook_layers(tmp_path):
    out = check(run_notebook(EXAMPLES / "notebook_layers.py", tmp_path))
    assert "[display Analysis: _repr_html_]" in out  # model.summary() as Jupyter shows it
    assert "741 parameters, 225,792 MACs per image" in out
    assert "code pixel (1, 2) sees input rows, cols ((1, 10), (5, 14))" in out
    assert "max |difference| vs Conv2D: 0.0" in out


def test_notebook_autoencoder_on_small_data(tmp_path, fashion_t10k_dir):
    out = check(
        run_notebook(
            EXAMPLES / "notebook_autoencoder.py", tmp_path, CONVOLAB_EXAMPLE_DATA=str(fashion_t10k_dir)
        )
    )
    assert "x_train (500, 28, 28) uint8 | x_test (100, 28, 28)" in out
    assert "[display Run: _repr_html_]" in out and "[display Reconstruction: _repr_png_]" in out
    assert "validation (100 images): PSNR" in out
    assert "True Sequential (4, 1, 28, 28) | code (4, 4, 4, 4)" in out
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("seed-upsampling-memory-")
    assert {"config.json", "best", "last", "summary.json", "reconstruct.png", "curves.png"} <= {
        p.name for p in run.iterdir()
    }
