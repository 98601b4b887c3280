"""The executed notebooks of the docs (docs/notebooks/NAME.ipynb, built by scripts/make_notebooks.py from
docs/notebooks/NAME.py): the committed notebook is what the script builds from its source, it ran
without an error, and the source runs now, in a real kernel, with the outputs the docs show.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from notebook_support import ROOT, load_script  # noqa: E402

NOTEBOOKS = ROOT / "docs" / "notebooks"


def cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def test_every_source_has_its_notebook_and_no_other_notebook_is_there():
    sources = sorted(p.stem for p in NOTEBOOKS.glob("*.py"))
    assert sources == ["fashion_autoencoder"]
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sources


@pytest.mark.parametrize("name", sorted(p.stem for p in NOTEBOOKS.glob("*.py")))
def test_the_committed_notebook_is_built_from_its_source_and_ran(name):
    script = load_script()
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(committed)
    assert cells(committed) == cells(script.build(NOTEBOOKS / f"{name}.py")), (
        f"docs/notebooks/{name}.ipynb differs from its source: run python scripts/make_notebooks.py {name}"
    )
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run top to bottom, once"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert committed.metadata["kernelspec"]["name"] == "python3"


def test_read_cells_splits_code_and_markdown(tmp_path):
    script = load_script()
    src = tmp_path / "n.py"
    src.write_text("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n# %%\n\n# %%\nx\n")
    assert script.read_cells(src) == [("markdown", "# Title\n\ntext"), ("code", "x = 1"), ("code", "x")]
    src.write_text("import os\n# %%\nx = 1\n")
    with pytest.raises(ValueError, match="before the first"):
        script.read_cells(src)


def texts(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def data(cell, kind: str) -> list[Any]:
    return [o.data[kind] for o in cell.outputs if o.get("data", {}).get(kind) is not None]


@pytest.mark.slow
def test_the_fashion_notebook_runs_in_a_kernel(tmp_path, fashion_dir):
    script = load_script()
    nb = script.build(NOTEBOOKS / "fashion_autoencoder.py")
    script.execute(nb, tmp_path, env={"CONVOLAB_DATA": str(fashion_dir)})
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert texts(code[0]) == "x_train (1000, 28, 28) uint8 | x_test (200, 28, 28)\n"
    summary = code[1]
    assert [o.output_type for o in summary.outputs] == ["display_data", "stream"]  # the table, then the print
    assert "enc_conv1 (Conv2D)" in data(summary, "text/html")[0]
    assert texts(summary) == "3,369 parameters, 712,224 MACs per image\n"
    fit = code[2]
    (progress, run_table) = [o for o in fit.outputs if o.output_type != "stream"]
    lines = progress.data["text/plain"].splitlines()
    assert lines[0].startswith("baseline (the mean image): psnr ") and len(lines) == 3
    assert lines[1].startswith("epoch 1/2  loss ") and lines[2].startswith("epoch 2/2  loss ")
    assert run_table.output_type == "execute_result" and "<table>" in run_table.data["text/html"]
    keras = texts(code[3]).splitlines()
    assert keras[0] == "predict: (8, 28, 28) uint8 -> (8, 1, 28, 28) float32"
    evaluate, last = re.fullmatch(r"evaluate: (\d\.\d{4}) \| last val_loss: (\d\.\d{4})", keras[1]).groups()
    assert evaluate == last  # the model holds the last epoch's weights, evaluated on the validation images
    evaluated = code[4]
    assert "validation (200 images): PSNR " in texts(evaluated) and len(data(evaluated, "image/png")) == 1
    figures = code[5]
    assert len(data(figures, "image/png")) == 5
    assert texts(figures) == "['curves', 'feature_maps', 'kernels', 'latent_pca', 'reconstructions']\n"
    assert (tmp_path / "runs" / "fashion" / "summary.json").is_file()
