"""Training with ``amp="bf16"``: deterministic, exactly resumable, stored in the run, refused without bf16."""

from __future__ import annotations

import json
import signal

import pytest
import torch

from convolab import train as tr
from convolab.cli import main
from convolab.engine import device as engine_device
from convolab.engine.device import bf16_supported
from convolab.train.checkpoint import load_checkpoint
from convolab.train.config import TrainConfig
from train_support import tiny_config

needs_bf16 = pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bf16 (oneDNN)")


def _weights(run_dir, which="last"):
    return load_checkpoint(run_dir / which).weights


def _run(tmp_path, name, **kw):
    cfg = tiny_config(tmp_path / name, epochs=1, out=str(tmp_path / name / "run"), **kw)
    return tr.train(cfg, quiet=True, figures=False)


@needs_bf16
def test_bf16_runs_are_bitwise_repeatable_fp32_weights_and_differ_from_fp32(tmp_path):
    a, b = _run(tmp_path, "a", amp="bf16"), _run(tmp_path, "b", amp="bf16")
    fp32 = _run(tmp_path, "c")
    wa, wb, wc = _weights(a.run_dir), _weights(b.run_dir), _weights(fp32.run_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert all(w.dtype == torch.float32 for w in wa.values())  # autocast leaves parameters fp32
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)  # bf16 really ran: other rounding
    assert json.loads((a.run_dir / "config.json").read_text())["amp"] == "bf16"
    # the same data, bf16 vs fp32: close, since only the forward pass is rounded (8-bit mantissa)
    assert a.summary["metrics"]["bce"] == pytest.approx(fp32.summary["metrics"]["bce"], rel=0.05)


@needs_bf16
def test_bf16_resume_after_sigterm_is_exact(tmp_path):
    ref = tr.train(
        tiny_config(tmp_path / "ref", out=str(tmp_path / "ref" / "run"), amp="bf16"),
        quiet=True,
        figures=False,
    )
    trainer = tr.start(
        tiny_config(tmp_path / "cut", out=str(tmp_path / "cut" / "run"), amp="bf16"),
        quiet=True,
    )
    inner, calls = trainer.step_fn, [0]

    def step(x, target, **kw):
        calls[0] += 1
        if calls[0] == 13:  # mid-epoch 2 (9 steps per epoch)
            signal.raise_signal(signal.SIGTERM)
        return inner(x, target, **kw)

    trainer.step_fn = step
    with pytest.raises(tr.TrainingInterrupted):
        trainer.fit()
    resumed = tr.resume(trainer.run_dir, quiet=True)
    assert resumed.config.amp == "bf16"  # the stored precision, not the default
    resumed.fit()
    got, want = _weights(trainer.run_dir), _weights(ref.run_dir)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_amp_field_is_checked():
    with pytest.raises(ValueError, match="amp must be one of none, bf16, got 'fp16'"):
        TrainConfig(amp="fp16", device="cpu").validate()
    assert TrainConfig(device="cpu").amp_mode is None
    assert TrainConfig(amp="bf16", device="cpu").amp_mode == "bf16"


def test_cli_refuses_bf16_without_native_support(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engine_device, "bf16_supported", lambda device: False)
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--device", "cpu", "--amp", "bf16", "--quiet", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: --amp 'bf16' needs native bfloat16") and "--amp none" in err[0]
    assert not (tmp_path / "r").exists()


def test_cli_help_documents_amp(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--amp [none|bf16]" in out and "AVX-512" in out
