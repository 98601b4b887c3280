"""The training loop on a tiny model and synthetic data: outputs, determinism, stops, resume, refusals."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from convolab import train as tr
from convolab.train.checkpoint import load_checkpoint
from convolab.train.runfolder import read_log
from train_support import tiny_config


def _weights(run_dir, which="last"):
    return load_checkpoint(run_dir / which).weights


def test_train_writes_the_run_folder_and_learns(tmp_path):
    res = tr.train(tiny_config(tmp_path, epochs=3), quiet=True)
    run = res.run_dir
    for name in (
        "config.json",
        "log.jsonl",
        "summary.json",
        "reconstructions.png",
        "curves.png",
        "feature_maps.png",
        "kernels.png",
        "latent_pca.png",
    ):
        assert (run / name).exists(), name
    assert not (run / "denoising.png").exists()
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < losses[0]
    log = read_log(run / "log.jsonl")
    kinds = [r["kind"] for r in log]
    assert kinds[0] == "start" and kinds.count("epoch") == 3 and kinds[-1] == "summary"
    assert log[0]["threads"] == torch.get_num_threads()  # the log records the threads the run used
    assert {"step", "epoch"} <= set(kinds)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["eval_set"] == "test" and summary["params"] == 77 and summary["n_eval"] == 40
    assert set(summary["metrics"]) == {"bce", "mse", "psnr", "ssim"}
    best = load_checkpoint(run / "best").state
    assert best["best"]["epoch"] == summary["best_epoch"]
    assert load_checkpoint(run / "last").state["epoch"] == 3


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    a = tr.train(
        tiny_config(tmp_path / "a", epochs=1, out=str(tmp_path / "a" / "run")), quiet=True, figures=False
    )
    b = tr.train(
        tiny_config(tmp_path / "b", epochs=1, out=str(tmp_path / "b" / "run")), quiet=True, figures=False
    )
    c = tr.train(
        tiny_config(tmp_path / "c", epochs=1, seed=1, out=str(tmp_path / "c" / "run")),
        quiet=True,
        figures=False,
    )
    wa, wb, wc = _weights(a.run_dir), _weights(b.run_dir), _weights(c.run_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_batch_order_and_noise_streams():
    p0 = tr.epoch_permutation(100, 0, 0)
    assert torch.equal(p0, tr.epoch_permutation(100, 0, 0))
    assert sorted(p0.tolist()) == list(range(100))
    assert not torch.equal(p0, tr.epoch_permutation(100, 0, 1))
    assert not torch.equal(p0, tr.epoch_permutation(100, 1, 0))
    assert tr.derive_seed(0, "noise", 1, 2) != tr.derive_seed(0, "noise", 2, 1)
    x = torch.full((2, 1, 4, 4), 0.5)
    n1, n2 = tr.add_noise(x, 1.0, 7), tr.add_noise(x, 1.0, 7)
    assert torch.equal(n1, n2) and n1.min() >= 0 and n1.max() <= 1 and not torch.equal(n1, x)


def _signal_after(trainer, k, signum):
    """Wrap the step so that the process receives ``signum`` during step ``k`` (a real signal)."""
    inner, calls = trainer.step_fn, [0]

    def step(x, target, **kw):
        calls[0] += 1
        if calls[0] == k:
            os.kill(os.getpid(), signum)
        return inner(x, target, **kw)

    trainer.step_fn = step


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_last_and_resume_is_exact(tmp_path, signum, code):
    ref = tr.train(
        tiny_config(tmp_path / "ref", out=str(tmp_path / "ref" / "run")), quiet=True, figures=False
    )
    cfg = tiny_config(tmp_path / "cut", out=str(tmp_path / "cut" / "run"))
    trainer = tr.start(cfg, quiet=True)
    _signal_after(trainer, 13, signum)  # mid-epoch 2 (9 steps per epoch)
    with pytest.raises(tr.TrainingInterrupted) as info:
        trainer.fit()
    assert info.value.exit_code == code and "--resume" in str(info.value)
    state = load_checkpoint(trainer.run_dir / "last").state
    assert (state["epoch"], state["step"], state["global_step"]) == (1, 4, 13)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    tr.resume(trainer.run_dir, quiet=True).fit()
    got, want = _weights(trainer.run_dir), _weights(ref.run_dir)
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert [h["train_loss"] for h in load_checkpoint(trainer.run_dir / "last").state["history"]] == [
        h["train_loss"] for h in ref.history
    ]


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    trainer = tr.start(tiny_config(tmp_path, epochs=3), quiet=True)
    inner, calls = trainer.step_fn, [0]

    def step(x, target, **kw):
        calls[0] += 1
        loss = inner(x, target, **kw)
        if calls[0] >= 12:
            with torch.no_grad():
                for p in trainer.model.parameters():
                    p.fill_(float("nan"))
            return torch.tensor(float("nan"))
        return loss

    trainer.step_fn = step
    with pytest.raises(tr.NonFiniteLossError, match="nan.*last good checkpoint"):
        trainer.fit()
    ck = load_checkpoint(trainer.run_dir / "last")
    assert ck.state["epoch"] == 1  # saved at the end of epoch 1, nothing after
    assert all(torch.isfinite(w).all() for w in ck.weights.values())
    assert read_log(trainer.run_dir / "log.jsonl")[-1]["reason"] == "non-finite loss"


def test_step_checkpoints(tmp_path):
    trainer = tr.start(tiny_config(tmp_path, epochs=1, checkpoint_every=4), quiet=True)
    saves = []
    orig = trainer.save
    trainer.save = lambda *which: saves.extend((w, trainer.global_step) for w in which) or orig(*which)
    trainer.fit()
    assert ("last", 4) in saves and ("last", 8) in saves and ("last", 9) in saves and ("best", 9) in saves


def test_denoising_run_draws_the_noisy_rows(tmp_path):
    res = tr.train(tiny_config(tmp_path, epochs=1, noise=0.3), quiet=True)
    assert (res.run_dir / "denoising.png").exists()


def test_refusals(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    tr.train(cfg, quiet=True, figures=False)
    with pytest.raises(ValueError, match="already exists.*--resume"):
        tr.start(tiny_config(tmp_path, epochs=1), quiet=True)
    tr.start(tiny_config(tmp_path, epochs=1), overwrite=True, quiet=True).log.close()
    other = tmp_path / "notarun"
    other.mkdir()
    (other / "precious.txt").write_text("keep")
    with pytest.raises(ValueError, match="not a convolab run"):
        tr.start(tiny_config(tmp_path, out=str(other)), overwrite=True, quiet=True)
    assert (other / "precious.txt").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        tr.start(tiny_config(tmp_path, out=str(afile)), quiet=True)
    for bad in ({"epochs": -1}, {"batch_size": 0}, {"loss": "l1"}, {"device": "tpu"}, {"lr": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            tr.start(tiny_config(tmp_path, **bad), quiet=True)


def test_resume_refusals(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    tr.train(cfg, quiet=True, figures=False)
    with pytest.raises(ValueError, match="already finished 1 epochs"):
        tr.resume(cfg.out, quiet=True)
    with pytest.raises(ValueError, match="cannot change"):
        tr.resume(cfg.out, overrides={"lr": 0.5}, quiet=True)
    with pytest.raises(ValueError, match="no such run"):
        tr.resume(tmp_path / "missing", quiet=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no checkpoint"):
        tr.resume(tmp_path / "empty", quiet=True)
    (tmp_path / "run" / "summary.json").unlink()  # as if killed during the final evaluation
    tr.resume(cfg.out, quiet=True).fit()  # only the end runs
    assert (tmp_path / "run" / "summary.json").exists()
    # extending a finished run works
    res = tr.resume(cfg.out, overrides={"epochs": 2}, quiet=True).fit()
    assert [h["epoch"] for h in res.history] == [1, 2]


def test_progress_bar_on_a_terminal():
    import io

    from rich.console import Console

    from convolab.train.progress import TrainProgress

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    record = {
        "epoch": 1,
        "train_loss": 0.5,
        "val": {"bce": 0.4, "mse": 0.05, "psnr": 13.0, "ssim": 0.5},
        "seconds": 2.0,
        "images_per_second": 1000.0,
    }
    base = {"bce": 0.5, "mse": 0.06, "psnr": 12.0, "ssim": 0.3}
    with TrainProgress(10, console=console) as bar:
        assert bar.bar is not None
        bar.start_epoch(1, 2, 0, batch_images=32)
        bar.update(1)  # no loss known yet: the bar shows none (not "loss -")
        bar.bar.refresh()
        assert "loss -" not in buf.getvalue() and "loss" not in buf.getvalue().split("epoch 1/2")[-1]
        bar.update(5, loss=0.25)
        bar.end_epoch(record, base)
        bar.start_epoch(2, 2, 0, batch_images=32)  # the next epoch starts with the last known loss
        bar.bar.refresh()
    assert "epoch 1: loss 0.5000" in buf.getvalue() and "loss 0.2500" in buf.getvalue().split("epoch 2/2")[-1]
    quiet = io.StringIO()
    with TrainProgress(10, quiet=True, console=Console(file=quiet, force_terminal=True)) as bar:
        assert bar.bar is None
        bar.end_epoch(record, base)
    assert quiet.getvalue() == ""


def test_bce_needs_a_sigmoid_output_and_dense_reshape_models_train(tmp_path):
    from train_support import TINY_SPEC, write_spec

    linear = dict(
        TINY_SPEC, layers=TINY_SPEC["layers"][:-1] + [dict(TINY_SPEC["layers"][-1], activation=None)]
    )
    cfg = tiny_config(tmp_path / "a", model=str(write_spec(tmp_path, linear, "linear.json")))
    with pytest.raises(ValueError, match="needs a model whose output is a sigmoid.*use loss mse"):
        tr.start(cfg, quiet=True)
    tr.train(tiny_config(tmp_path / "b", loss="mse", epochs=1, model=cfg.model), quiet=True, figures=False)
    dense = {
        "name": "tiny-dense",
        "input_shape": [1, 8, 8],
        "latent": "code",
        "layers": [
            {"type": "Flatten", "name": "flat"},
            {"type": "Dense", "name": "code", "units": 8, "activation": "relu"},
            {"type": "Dense", "name": "out", "units": 64, "activation": "sigmoid"},
            {"type": "Reshape", "name": "img", "target_shape": [1, 8, 8]},
        ],
    }
    res = tr.train(
        tiny_config(tmp_path / "c", epochs=3, model=str(write_spec(tmp_path, dense, "dense.json"))),
        quiet=True,
        figures=False,
    )
    # logits=True skips the sigmoid of the Dense before the Reshape: BCE from logits is right and learns
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < losses[0] - 0.05


@pytest.mark.parametrize("name", ["seed-upsampling", "seed-transpose", "chollet", "unpool", "dense"])
def test_training_forward_gives_logits_of_the_output(name):
    """What TrainStep feeds BCE (the fused path, logits=True) must be the output before its sigmoid."""
    from convolab.engine.device import prepare
    from convolab.engine.predict import forward_fn
    from convolab.model.sequential import Sequential

    torch.manual_seed(0)
    model = prepare(Sequential.from_spec(name), "cpu")
    x = torch.rand(3, 1, 28, 28)
    logits = forward_fn(model)(x, logits=True)
    torch.testing.assert_close(torch.sigmoid(logits), model(x), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(logits, model(x))


def test_sigterm_during_the_final_evaluation_saves_and_resume_finishes(tmp_path):
    trainer = tr.start(tiny_config(tmp_path, epochs=1), quiet=True)
    evaluate = trainer.source.evaluate

    def killed(predict):
        os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(predict)

    trainer.source.evaluate = killed
    with pytest.raises(tr.TrainingInterrupted) as info:
        trainer.fit()
    assert info.value.exit_code == 143 and "--resume" in str(info.value)
    assert not (trainer.run_dir / "summary.json").exists()
    result = tr.resume(trainer.run_dir, quiet=True).fit()  # only the end runs
    assert result.summary["epochs"] == 1 and (trainer.run_dir / "summary.json").is_file()


def test_a_second_writer_is_refused_and_overwrite_keeps_foreign_files(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    first = tr.start(cfg, quiet=True)  # holds the run folder's lock until fit() ends
    with pytest.raises(ValueError, match="in use by another convolab process"):
        tr.resume(first.run_dir, quiet=True)
    with pytest.raises(ValueError, match="in use by another convolab process"):
        tr.start(tiny_config(tmp_path, epochs=1), overwrite=True, quiet=True)
    first.fit()
    mine = first.run_dir / "data.txt"
    mine.write_text("a user's notes")
    again = tr.start(tiny_config(tmp_path, epochs=1), overwrite=True, quiet=True)
    assert mine.read_text() == "a user's notes" and not (again.run_dir / "last").exists()
    again.fit()
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "config.json").write_text('{"name": "not a run"}')
    with pytest.raises(ValueError, match="not a convolab run folder"):
        tr.start(tiny_config(tmp_path, epochs=1, out=str(fake)), overwrite=True, quiet=True)
    assert (fake / "config.json").read_text() == '{"name": "not a run"}'


def test_epoch_metrics_csv_beside_the_log(tmp_path):
    import csv

    res = tr.train(tiny_config(tmp_path, epochs=2), quiet=True, figures=False)
    rows = list(csv.DictReader((res.run_dir / "metrics.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row, h in zip(rows, res.history, strict=True):
        assert float(row["train_loss"]) == h["train_loss"] and float(row["val_bce"]) == h["val"]["bce"]
        assert float(row["val_ssim"]) == h["val"]["ssim"]
