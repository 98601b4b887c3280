"""Smoke test of benchmarks/train_speed.py on tiny synthetic sizes (no TensorFlow, no dataset needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import _common
    import _report
    import train_speed

    yield train_speed, _common, _report
    for name in ("train_speed", "_torch_runs", "_report", "_common"):
        sys.modules.pop(name, None)


def test_forward_macs_match_convolabs_layer_arithmetic(bench) -> None:
    _, common, _ = bench
    from convolab.model.sequential import Sequential

    model = Sequential.from_spec("seed-upsampling")
    shape, total = tuple(model.input_shape), 0
    for layer in model.layers:
        total += layer.macs(shape)
        shape = layer.compute_output_shape(shape)
    assert common.FORWARD_MACS == total == 712_224


def test_startup_script_times_fresh_processes(monkeypatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import startup

    out = startup.main(["--runs", "1", "--heavy-runs", "0"])
    assert set(out) == {"convolab --help", "convolab --version", "convolab train --help"}
    assert all(wall > 0 and cpu >= 0 for wall, cpu in out.values())
    assert "| `convolab --help` | 1 |" in capsys.readouterr().out


def test_the_recorded_command_leaves_out_where_raw_results_went(bench) -> None:
    train_speed, _, _ = bench
    argv = ["--threads", "2", "--json", "/x/speed.json", "--rounds", "2", "--json=/y.json", "--out", "B.md"]
    assert train_speed.recorded_args(argv) == ["--threads", "2", "--rounds", "2", "--out", "B.md"]


def test_keras_python_comes_from_the_option_the_variable_or_this_python(bench, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import _contenders

    monkeypatch.delenv("CONVOLAB_TF_PYTHON", raising=False)
    with pytest.raises(SystemExit, match="--keras-python /bin/false cannot import tensorflow"):
        _contenders.keras_python("/bin/false")  # exits 1 whatever it is asked: no tensorflow there
    monkeypatch.setenv("CONVOLAB_TF_PYTHON", "/nonexistent/python")
    found = _contenders.keras_python(None)  # the variable names nothing: this Python, if it has TensorFlow
    assert found in (sys.executable, None)


def test_bce_mse_match_hand_computed_values(bench) -> None:
    import numpy as np

    _, common, _ = bench
    pred, target = np.array([0.5, 1.0]), np.array([1.0, 1.0])
    bce, mse = common.bce_mse(pred, target)
    # -(log 0.5 + log(1 - 1e-7)) / 2: Keras clips p to [1e-7, 1 - 1e-7]
    assert bce == pytest.approx((np.log(2) - np.log1p(-1e-7)) / 2, rel=1e-12)
    assert mse == pytest.approx(0.125)


def test_report_write_keeps_hand_written_text(bench, tmp_path) -> None:
    _, _, report = bench
    path = tmp_path / "B.md"
    start, end = report.markers("cpu")
    path.write_text(f"# Title\n\nintro\n\n{start}\nold\n{end}\n\n## Notes\nkept\n")
    report.write(path, "new table")
    report.write(path, "gpu table", section="cuda")
    text = path.read_text()
    assert "intro" in text and "## Notes\nkept" in text and "new table" in text and "old" not in text
    assert text.index("new table") < text.index("## Notes") < text.index("gpu table")


def test_quick_run_times_the_product_in_its_own_process(bench, tmp_path) -> None:
    train_speed, _, report = bench
    out, raw = tmp_path / "BENCH.md", tmp_path / "raw.json"
    result = train_speed.main(["--quick", "--no-bf16", "--out", str(out), "--json", str(raw)])
    text = out.read_text()
    for heading in (
        "### Training",
        "### Time-to-quality",
        "### Where the Trainer's step goes",
        "load average",
    ):
        assert heading in text
    assert text.count(report.markers("cpu")[0]) == 1
    assert list(result["results"]) == ["convolab train", "PyTorch plain loop"]
    for runs in result["results"].values():
        (run,) = runs  # one round
        assert len(run["epoch_s"]) == 2 and all(t > 0 for t in run["epoch_s"])
        assert 0 < run["test_bce"] < 1 and run["wall_s"] > sum(run["epoch_s"])
    cli = result["results"]["convolab train"][0]
    assert len(cli["extra"]["val_bce"]) == 2  # read from the CLI run's log.jsonl
    assert result["n_train"] == 461 and result["ttq"] and result["profile"][-1][0] == "(all ops)"
    assert json.loads(raw.read_text())["target_bce"] == result["target_bce"]


def test_ablation_smoke(bench) -> None:
    import ablation

    rows = ablation.main(["--rounds", "1", "--steps", "1", "--batch-size", "8", "--data-dir", "synthetic"])
    # the plain loop, 6 ablation rows, the Trainer's step
    assert len(rows) == 8 and all(ms > 0 and ratio > 0 for _, ms, ratio in rows)
    sys.modules.pop("ablation", None)


def test_ablation_rows_each_switch_on_exactly_one_thing(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import ablation

    switches = ("channels_last", "logits", "fused_adam", "pool_first", "subpixel")
    rows = [{k: kw.get(k, True) for k in switches} for _, kw in ablation.ABLATION]
    assert rows[0] == dict.fromkeys(switches, False) and rows[-1] == dict.fromkeys(switches, True)
    for before, after in zip(rows, rows[1:], strict=False):
        changed = [k for k in switches if before[k] != after[k]]
        assert len(changed) == 1 and after[changed[0]], (before, after)
    for name in ("ablation", "_torch_runs", "_common"):
        sys.modules.pop(name, None)


def test_benchmarked_step_is_the_trainers_step(monkeypatch, tmp_path) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import _torch_runs

    from convolab.engine.step import TrainStep
    from convolab.train import TrainConfig, start
    from train_support import write_dataset, write_spec

    variant = _torch_runs.convolab_variant("product")
    step, _ = variant.build()
    cell = step.__closure__  # the benchmark's step closes over the step function it times
    inner = next(c.cell_contents for c in cell if isinstance(c.cell_contents, TrainStep))
    dataset = write_dataset(tmp_path / "d", n_train=20, n_test=4)
    cfg = TrainConfig(
        model=str(write_spec(tmp_path)),
        dataset=dataset,
        epochs=1,
        batch_size=8,
        device="cpu",
        out=str(tmp_path / "run"),
    )
    trainer = start(cfg, quiet=True)
    trainer.log.close()
    assert type(inner) is type(trainer.step_fn) and inner.fuse == trainer.step_fn.fuse
    want, got = trainer.optimizer.param_groups[0], inner.optimizer.param_groups[0]
    assert {k: want[k] for k in ("fused", "eps", "betas")} == {k: got[k] for k in ("fused", "eps", "betas")}
    assert got["fused"] and got["eps"] == 1e-7
    for name in ("_torch_runs", "_common"):
        sys.modules.pop(name, None)


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Fashion-MNIST not installed"
)
def test_step_changes_switch_one_kernel_each_and_check_the_update(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import step_changes

    from convolab.engine import native

    rows = step_changes.main(["--rounds", "1", "--steps", "1", "--micro", "128", "--limit", "256"])
    names = [r[0] for r in rows]
    assert names == [f"without {k}" for k in native.NAMES] + ["without C kernels", "micro-batches of 128"]
    assert all(product > 0 and variant > 0 for _, product, variant, _ in rows)
    diff = {name: d for name, _, _, d in rows}
    if native.available():  # the exact kernels change no bit; the fused conv only the rounding
        assert diff["without pool"] == 0.0 and diff["without shuffle"] == 0.0
        assert 0.0 < diff["without conv_pool"] < 1e-5
    for name in ("step_changes", "_common"):
        sys.modules.pop(name, None)


@pytest.fixture
def matrix(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import matrix

    yield matrix
    for name in (
        "matrix",
        "_matrix_data",
        "_matrix_report",
        "_matrix_runs",
        "_contenders",
        "_report",
        "_common",
        "keras_spec",
    ):
        sys.modules.pop(name, None)


def test_matrix_quick_writes_its_section_and_keeps_the_rest(matrix, tmp_path) -> None:
    from _matrix_report import DETAIL_COLUMNS, SUMMARY_COLUMNS
    from _report import markers

    out, raw = tmp_path / "BENCH.md", tmp_path / "matrix.json"
    start, end = markers("cpu", "matrix")
    out.write_text(f"# Bench\n\nintro\n\n{start}\nold\n{end}\n\n## After\nkept\n")
    argv = ["--quick", "--models", "seed-upsampling", "--no-keras", "--write", "--out", str(out)]
    result = matrix.main([*argv, "--json", str(raw)])
    text = out.read_text()
    assert "intro" in text and "## After\nkept" in text and "\nold\n" not in text
    assert text.count(start) == 1 and "--json" not in result["command"] and "--out" not in result["command"]
    for columns in (SUMMARY_COLUMNS, DETAIL_COLUMNS):
        assert "| " + " | ".join(columns) + " |" in text
    (summary,) = [line for line in text.splitlines() if line.startswith("| seed-upsampling | 230 | 4.27 |")]
    cells = [c.strip() for c in summary.strip("|").split("|")]
    assert len(cells) == len(SUMMARY_COLUMNS) and cells[4] == "- (--no-keras)" and cells[7].endswith("x")
    assert "skipped: --no-keras" in text and result["cpu"]["model"] in text and "GFLOP/s are nominal" in text
    (model,) = result["models"]
    assert model["flop_per_image"] == 712_224 * 2 * 3 and model["n_train"] == 230
    assert list(model["results"]) == ["convolab train", "PyTorch plain loop"]
    assert set(model["skipped"]) == {"Keras, TF default", "Keras, TF_ENABLE_ONEDNN_OPTS=1"}
    for runs in model["results"].values():
        (run,) = runs  # one round, one epoch
        assert len(run["epoch_s"]) == 1 and run["epoch_s"][0] > 0 and 0 < run["test_bce"] < 1
    assert result["probes"][0]["gflops"] > 0 and json.loads(raw.read_text())["command"] == result["command"]


def test_matrix_models_and_keras_skips(matrix) -> None:
    import argparse

    import convolab
    from convolab.model.zoo import list_models

    assert matrix.all_models() == [*list_models(), "wide", "rgb64"]
    wide, rgb = matrix.load_model("wide", None), matrix.load_model("rgb64", None)
    assert wide.limit == 20_000 and not wide.rgb and rgb.rgb and rgb.limit is None
    convs = [layer for layer in convolab.analyze(wide.spec).layers if layer.type == "Conv2D"]
    assert [layer.output_shape[0] for layer in convs] == [32, 64, 128, 128, 64, 32, 1]
    assert convolab.analyze(rgb.spec).layers[-1].output_shape == (3, 64, 64)
    args = argparse.Namespace(no_keras=False)
    for name, layer in (("unpool", "MaxUnpool2D"), ("bed-of-nails", "BedOfNails2D")):
        assert matrix.keras_skips(args, matrix.load_model(name, None), "py") == f"Keras has no {layer}"
    assert "no Python with TensorFlow" in matrix.keras_skips(args, wide, None)
    assert matrix.keras_skips(args, wide, "py") is None


def test_matrix_synthetic_shapes_are_deterministic_rgb_images(matrix, tmp_path) -> None:
    import numpy as np
    from _matrix_data import write_shapes
    from PIL import Image

    name = write_shapes(tmp_path / "a", 3, 1, 64, 3)
    write_shapes(tmp_path / "b", 3, 1, 64, 3)
    assert name == f"folder:{tmp_path / 'a'}"
    a = np.asarray(Image.open(tmp_path / "a" / "train" / "00002.png"))
    assert a.shape == (64, 64, 3) and a.std() > 10
    assert (a == np.asarray(Image.open(tmp_path / "b" / "train" / "00002.png"))).all()
    assert len(list((tmp_path / "a" / "test").iterdir())) == 1


@pytest.mark.slow
def test_matrix_keras_twin_has_the_specs_parameters(matrix, tmp_path) -> None:
    """The Keras model built from a spec is the same model: its parameter count is convolab's."""
    import subprocess

    if subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True).returncode != 0:
        pytest.skip("TensorFlow not importable")
    from _matrix_data import prepare, write_shapes
    from _matrix_runs import KERAS_ONEDNN, run_keras

    split = prepare(write_shapes(tmp_path / "d", 32, 8, 28, 1), None, None, tmp_path / "npy")
    spec = matrix.load_model("strided-transpose", None).spec
    res = run_keras(KERAS_ONEDNN, spec, split, epochs=1, threads=0, python=sys.executable)
    import convolab

    assert res.extra["params"] == sum(layer.params for layer in convolab.analyze(spec).layers)
    assert len(res.epoch_s) == 1 and 0 < res.test_bce < 1


def test_rewrites_times_each_change_alone_and_skips_what_a_model_does_not_use(bench) -> None:
    import rewrites

    models = "seed-transpose,dense,strided-transpose"
    args = ["--models", models, "--rounds", "1", "--steps", "1", "--batch-size", "4"]
    rows = rewrites.main([*args, "--data-dir", "synthetic"])
    by = {(m, v): (ms, bought) for m, v, ms, bought in rows}
    assert set(rewrites.plan_flags()) >= {"pool_first", "subpixel", "transpose", "unpool"}
    for model in ("seed-transpose", "dense"):
        assert by[(model, rewrites.ALL_ON)][1] == pytest.approx(1.0)
        assert by[(model, rewrites.NO_PLAN)][0] is not None  # the layer-by-layer model is always timed
    # seed-transpose: the phase convolutions change its plan, pooling switches do not (it has none)
    assert by[("seed-transpose", "rewrite subpixel off")][0] is not None
    assert by[("seed-transpose", "rewrite unpool off")] == (None, None)
    # strided-transpose's last layer is rewritten only where the subpixel kernel runs: switching either
    # off gives one plan (the layer's call), timed once and reported for both, not as "no change"
    st_transpose, st_kernel = (
        by[("strided-transpose", "rewrite transpose off")],
        by[("strided-transpose", "kernel subpixel off")],
    )
    assert st_transpose[0] is not None and st_kernel == st_transpose
    # dense has nothing to rewrite: every plan variant is everything-on's plan, so none is timed
    assert all(
        by[("dense", v)] == (None, None)
        for v in rewrites.variants()
        if v not in (rewrites.ALL_ON, rewrites.NO_PLAN)
    )
    sys.modules.pop("rewrites", None)
