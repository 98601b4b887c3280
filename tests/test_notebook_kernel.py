"""convolab in a real Jupyter kernel (nbclient): what a notebook user sees.

One notebook of small cells runs once in a fresh IPython kernel that runs this checkout's ``src``
(scripts/make_notebooks.py's ``execute``: ``sys.executable -m ipykernel_launcher``, whatever kernels the
machine has); every message the kernel sent is kept, so an output updated in place (the progress) is
seen in each state it had. The data is made by the notebook: 96 uint8 images, one epoch. Oracles: the
model's outputs before ``fit``; for ``predict`` / ``evaluate`` on uint8, the forward pass on the images
divided by 255 by hand and a NumPy BCE.
"""

from __future__ import annotations

from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from notebook_support import load_script  # noqa: E402

CELLS = {
    "setup": """
import numpy as np
import torch
import convolab
torch.manual_seed(0)
rng = np.random.default_rng(0)
yy, xx = np.mgrid[:28, :28]
centres = rng.integers(6, 22, size=(96, 2))
x = np.stack([np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 18.0) for r, c in centres])
x = (x * 255).astype(np.uint8)  # (96, 28, 28) uint8: blobs, as keras.datasets gives images
probe = torch.from_numpy(x[:4]).float().div(255).unsqueeze(1)
""",
    "summary_mid_cell": """
model = convolab.Sequential.from_spec("seed-upsampling")
a = model.summary()
print("after summary", a.total_params)
""",
    "summary_last": "model.summary()",
    "summary_next_cell": "a",
    "fit": """
with torch.no_grad():
    before = model(probe).clone()
run = convolab.fit(model, x, epochs=1, batch_size=16, out="runs/kernel", figures=False)
""",
    "fit_in_place": """
with torch.no_grad():
    after = model(probe)
print("changed", float((after - before).abs().max()) > 1e-4)
""",
    "predict_evaluate_uint8": """
import json
batch = x[:8]  # uint8 (8, 28, 28)
y = model.predict(batch)
loss = model.evaluate(batch)
with torch.no_grad():  # the oracle: the forward pass on the images scaled by hand, BCE in NumPy
    ref = model(torch.from_numpy(batch.astype(np.float32) / np.float32(255)).unsqueeze(1)).numpy()
p, t = ref.astype(np.float64).clip(1e-7, 1 - 1e-7), batch[:, None] / 255.0
bce = float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean())
print(json.dumps({"dtype": str(y.dtype), "shape": list(y.shape), "max_diff": float(abs(y - ref).max()),
                  "loss": loss, "bce": bce}))
""",
    "figures": """
paths = run.figures()
print(sorted(paths))
""",
}


def cell_index(name: str) -> int:
    return list(CELLS).index(name)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    script = load_script()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src.strip()) for src in CELLS.values()]
    cwd = tmp_path_factory.mktemp("kernel")
    client = script.execute(nb, cwd, allow_errors=True)
    return nb, client.messages, cwd


def outputs(executed, name: str) -> list[Any]:
    nb, _, _ = executed
    outs = nb.cells[cell_index(name)].outputs
    errors = [o for o in outs if o.output_type == "error"]
    assert not errors, f"cell {name!r} failed: " + "\n".join(f"{e.ename}: {e.evalue}" for e in errors)
    return outs


def messages(executed, name: str) -> list[tuple[str, dict[str, Any]]]:
    _, msgs, _ = executed
    return [(kind, content) for i, kind, content in msgs if i == cell_index(name)]


def test_the_setup_cell_runs(executed):
    assert outputs(executed, "setup") == []


def test_summary_mid_cell_displays_before_the_next_line(executed):
    outs = outputs(executed, "summary_mid_cell")
    assert [o.output_type for o in outs] == ["display_data", "stream"]
    table = outs[0].data
    assert "<table>" in table["text/html"] and "enc_conv1 (Conv2D)" in table["text/html"]
    assert "Total params: 3,369" in table["text/plain"]  # the table as text for a text front end
    assert outs[1].text == "after summary 3369\n"


def test_summary_as_the_last_expression_displays_once(executed):
    outs = outputs(executed, "summary_last")
    assert [o.output_type for o in outs] == ["display_data"]
    assert "<table>" in outs[0].data["text/html"]


def test_the_summary_shows_again_in_a_later_cell(executed):
    outs = outputs(executed, "summary_next_cell")
    assert len(outs) == 1 and "<table>" in outs[0].data["text/html"]


def test_fit_shows_a_progress_bar_while_it_trains_then_short_epoch_lines(executed):
    outs = outputs(executed, "fit")
    msgs = messages(executed, "fit")
    shown = [c for kind, c in msgs if kind in ("display_data", "update_display_data")]
    ids = {c["transient"]["display_id"] for c in shown}
    assert len(ids) == 1, "one output, updated in place"
    first, last = shown[0]["data"]["text/plain"], shown[-1]["data"]["text/plain"]
    assert "epoch 1/1" in first and "/6" in first and "━" in first  # the bar: 96 images, batch 16
    assert any(kind == "update_display_data" for kind, _ in msgs)
    # the notebook keeps the last state: the bar gone, the baseline and the epoch line, under 80 columns
    lines = last.splitlines()
    assert lines[0].startswith("baseline (the mean image): psnr ") and lines[1].startswith("epoch 1/1  loss ")
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines) and "━" not in last
    (progress,) = [o for o in outs if o.output_type == "display_data"]
    assert progress.data["text/plain"] == last
    printed = "".join(o.text for o in outs if o.output_type == "stream")
    assert "epoch 1:" not in printed  # the terminal's long line is not printed beside it


def test_figures_show_inline_and_return_paths(executed):
    outs = outputs(executed, "figures")
    _, _, cwd = executed
    images = [o for o in outs if o.output_type == "display_data" and "image/png" in o.data]
    names = sorted(p.name for p in (cwd / "runs" / "kernel").glob("*.png"))
    assert len(images) == len(names) >= 4
    assert outs[-1].output_type == "stream" and "curves" in outs[-1].text


def test_fit_trains_the_model_passed_in(executed):
    outs = outputs(executed, "fit_in_place")
    assert [o.text for o in outs] == ["changed True\n"]


def test_predict_and_evaluate_take_uint8_numpy_batches(executed):
    import json

    (out,) = outputs(executed, "predict_evaluate_uint8")
    got = json.loads(out.text)
    assert got["dtype"] == "float32" and got["shape"] == [8, 1, 28, 28]
    assert got["max_diff"] <= 1e-6
    assert isinstance(got["loss"], float) and got["loss"] == pytest.approx(got["bce"], abs=1e-5)
