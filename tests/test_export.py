"""Export to TorchScript and ONNX: the exported copy matches PyTorch, on any batch size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convolab.cli import main
from convolab.keras_io.export import export_model
from convolab.model.sequential import Sequential

# torch 2.13 deprecates torch.jit.load (the export itself silences it; these tests load the file again)
JIT_LOAD = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def model() -> Sequential:
    torch.manual_seed(0)
    return Sequential.from_spec("seed-transpose").eval()


@JIT_LOAD
def test_torchscript_export_matches_on_new_batch_sizes(model, tmp_path) -> None:
    report = export_model(model, tmp_path / "m.pt", "torchscript")
    assert report.max_abs_diff <= 1e-5 and report.path.is_file()
    loaded = torch.jit.load(str(report.path))
    x = torch.rand(7, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6, rtol=0)


def test_onnx_export_has_a_dynamic_batch_and_matches_onnxruntime(model, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    report = export_model(model, tmp_path / "m.onnx", "onnx")
    graph = onnx.load(str(report.path)).graph
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.HasField("dim_value")  # symbolic, not fixed
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    x = torch.rand(9, 1, 28, 28)
    got = session.run(None, {graph.input[0].name: x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(got - model(x).numpy()).max() <= 1e-5


@JIT_LOAD
def test_logits_export_skips_the_final_sigmoid(model, tmp_path) -> None:
    report = export_model(model, tmp_path / "l.pt", "torchscript", logits=True)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        out = torch.jit.load(str(report.path))(x)
        assert torch.allclose(torch.sigmoid(out), model(x), atol=1e-6) and out.min() < 0


def test_unknown_format_is_refused(model, tmp_path) -> None:
    with pytest.raises(ValueError, match="export format must be one of onnx, torchscript, got 'tflite'"):
        export_model(model, tmp_path / "m.tflite", "tflite")


def test_cli_export_of_a_run(model, tmp_path, capsys) -> None:
    from convolab.train.checkpoint import save_checkpoint

    run = tmp_path / "run"
    state = {"spec": model.to_spec().to_dict(), "config": {}, "epoch": 0, "step": 0, "global_step": 0}
    save_checkpoint(run / "best", weights=model.state_dict(), state=state)
    out = tmp_path / "m.pt"
    assert main(["export", str(run), "--format", "torchscript", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "torchscript" in text and "dynamic batch" in text and "max abs diff" in text and out.is_file()
    assert main(["export", str(tmp_path / "missing"), "-o", str(out)]) == 2
    assert "error: no such run or checkpoint" in capsys.readouterr().err


def _run_folder(model, tmp_path):
    from convolab.train.checkpoint import save_checkpoint

    run = tmp_path / "run"
    state = {"spec": model.to_spec().to_dict(), "config": {}, "epoch": 0, "step": 0, "global_step": 0}
    save_checkpoint(run / "best", weights=model.state_dict(), state=state)
    save_checkpoint(run / "last", weights=model.state_dict(), state=state)
    return run


def test_cli_export_never_creates_a_missing_folder(model, tmp_path, capsys) -> None:
    """Issue 16: `export -o /nonexist/a.onnx` silently created /nonexist."""
    run = _run_folder(model, tmp_path)
    out = tmp_path / "nonexist" / "deeper" / "a.pt"
    assert main(["export", str(run), "--format", "torchscript", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist (export creates no folders)" in err
    assert not (tmp_path / "nonexist").exists()
    with pytest.raises(ValueError, match="does not exist"):
        export_model(model, out, "torchscript")
    assert not (tmp_path / "nonexist").exists()


@pytest.mark.parametrize(
    "target", ["last/model.safetensors", "best/state.json", "best/x.onnx", "config.json"]
)
def test_cli_export_refuses_to_overwrite_a_runs_files(model, tmp_path, capsys, target) -> None:
    """Issue 12 item 6: `export -o run/last/model.safetensors` overwrote the run's own weights."""
    run = _run_folder(model, tmp_path)
    out = run / target
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["export", str(run), "--format", "torchscript", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "would write over a run's or checkpoint's files" in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
