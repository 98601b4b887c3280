"""Learning-rate schedules (``--lr-schedule``, ``convolab.train.schedule``): the values (hand-computed and
against PyTorch's OneCycleLR / CosineAnnealingLR), the LR the optimizer really steps with, ``constant``
as the plain Adam loop bit for bit, exact resume, the ``--resume --epochs`` rule, errors, ``fit``, DDP."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys

import pytest
import torch

import convolab
from convolab import train as tr
from convolab.cli import main
from convolab.engine.device import prepare
from convolab.engine.optimizer import make_adam
from convolab.engine.step import TrainStep
from convolab.train.checkpoint import load_checkpoint
from convolab.train.config import ConfigError, TrainConfig
from convolab.train.context import LocalContext
from convolab.train.run_model import build_seeded_model
from convolab.train.schedule import SCHEDULES, lr_at
from convolab.train.session import open_source
from train_support import tiny_config

STEPS = 9  # 144 tiny training images (160 less 10% validation), batch 16: steps per epoch


# -- the values -------------------------------------------------------------------------------------------
def test_hand_computed_values():
    assert [lr_at("constant", 0.01, s, 4) for s in range(4)] == [0.01] * 4
    cos = [lr_at("cosine", 1.0, s, 4) for s in range(4)]
    assert cos == pytest.approx([1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2], rel=1e-15)
    # onecycle, 10 steps, warm-up 0.3: the peak at step 3 * 1 - 1 = 2; from 1/25 up, down to 1/25/1e4
    one = [lr_at("onecycle", 1.0, s, 10, 0.3) for s in range(10)]
    assert one[:3] == pytest.approx([0.04, 0.52, 1.0], rel=1e-15)
    assert one[9] == pytest.approx(4e-6, rel=1e-12)
    assert one[5] == pytest.approx(0.61126202, rel=1e-8)  # 4e-6 + (1 - 4e-6) / 2 * (cos(3 pi / 7) + 1)
    assert max(one) == 1.0 and one == sorted(one[:3]) + sorted(one[3:], reverse=True)
    assert lr_at("onecycle", 1.0, 0, 10) == lr_at("onecycle", 1.0, 0, 10, 0.3)  # the default warm-up
    assert lr_at("onecycle", 2.0, 0, 10, 0.1) == 2.0  # a one-step warm-up is the peak (torch divides by 0)


def _onecycle_torch(lr: float, total: int, warmup: float) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=total, pct_start=warmup, anneal_strategy="cos", cycle_momentum=False
    )
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


CYCLES = [(1e-2, 422, 0.3), (3e-3, 10, 0.3), (0.5, 7, 0.0), (1e-3, 100, 0.25), (2e-2, 5, 0.5), (1e-2, 1, 0.3)]


@pytest.mark.parametrize("lr, total, warmup", CYCLES)
def test_onecycle_is_torchs_one_cycle_lr(lr, total, warmup):
    ours = [lr_at("onecycle", lr, s, total, warmup) for s in range(total)]
    assert ours == _onecycle_torch(lr, total, warmup)


@pytest.mark.parametrize("total", [1, 4, 211])
def test_cosine_is_torchs_cosine_annealing_lr(total):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=0.0)
    for s in range(total):  # torch's recursive form drifts in the last bits: closed form vs it
        want = opt.param_groups[0]["lr"]
        assert lr_at("cosine", 3e-3, s, total) == pytest.approx(want, rel=1e-9, abs=1e-18)
        opt.step()
        sched.step()


def test_bad_arguments_of_lr_at():
    for args, match in (
        (("linear", 1.0, 0, 4), "one of"),
        (("cosine", 1.0, 4, 4), r"\[0, 4\)"),
        (("cosine", 1.0, -1, 4), "step"),
        (("cosine", 1.0, 0, 0), "planned steps"),
        (("onecycle", 1.0, 0, 4, 1.0), "warmup"),
    ):
        with pytest.raises(ValueError, match=match):
            lr_at(*args)


# -- in the Trainer ---------------------------------------------------------------------------------------
def _record_lrs(trainer) -> list[float]:
    """Wrap the step: the LR the optimizer holds when each step runs."""
    inner, seen = trainer.step_fn, []

    def step(x, target, **kw):
        seen.append(trainer.optimizer.param_groups[0]["lr"])
        return inner(x, target, **kw)

    trainer.step_fn = step
    return seen


@pytest.mark.parametrize("schedule, warmup", [("onecycle", 0.2), ("cosine", None), ("constant", None)])
def test_the_optimizer_steps_with_the_schedule(tmp_path, schedule, warmup):
    trainer = tr.start(tiny_config(tmp_path, lr_schedule=schedule, warmup=warmup), quiet=True)
    seen = _record_lrs(trainer)
    res = trainer.fit()
    total = 2 * STEPS
    assert trainer.steps_per_epoch() == STEPS and len(seen) == total
    if schedule == "onecycle":
        assert seen == _onecycle_torch(1e-2, total, 0.2)
    else:
        assert seen == [lr_at(schedule, 1e-2, s, total) for s in range(total)]
    assert [h["lr"] for h in res.history] == [seen[STEPS - 1], seen[-1]]  # each epoch's last LR, logged


def test_constant_is_the_plain_adam_loop_bit_for_bit(tmp_path):
    cfg = tiny_config(tmp_path, noise=0.1)
    assert TrainConfig().lr_schedule == "constant" and TrainConfig().warmup is None
    res = tr.train(cfg, quiet=True, figures=False)
    # The same steps without the Trainer: the seeded model, Keras's fused Adam at --lr, the run's batches.
    ctx = LocalContext(device=torch.device("cpu"))
    source = open_source(cfg, ctx)
    model = build_seeded_model(cfg.model, cfg.seed, source.shape)
    prepare(model, torch.device("cpu"))
    opt = make_adam(model, cfg.lr)
    step = TrainStep(model, opt, "bce")
    for epoch in range(cfg.epochs):
        for x, target, _ in source.batches(epoch, 0, STEPS):
            step(x, target)
    got = load_checkpoint(res.run_dir / "last").weights
    assert all(torch.equal(got[k], v) for k, v in model.state_dict().items())
    assert all(g["lr"] == cfg.lr for g in opt.param_groups)


def _signal_after(trainer, k: int) -> None:
    inner, calls = trainer.step_fn, [0]

    def step(x, target, **kw):
        calls[0] += 1
        if calls[0] == k:
            os.kill(os.getpid(), signal.SIGTERM)
        return inner(x, target, **kw)

    trainer.step_fn = step


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_resume_with_a_schedule_is_exact(tmp_path, schedule):
    kw = dict(lr_schedule=schedule, noise=0.1)
    ref = tr.train(
        tiny_config(tmp_path / "ref", out=str(tmp_path / "ref" / "run"), **kw), quiet=True, figures=False
    )
    trainer = tr.start(tiny_config(tmp_path / "cut", out=str(tmp_path / "cut" / "run"), **kw), quiet=True)
    _signal_after(trainer, 13)  # mid-epoch 2
    with pytest.raises(tr.TrainingInterrupted):
        trainer.fit()
    assert load_checkpoint(trainer.run_dir / "last").state["global_step"] == 13
    resumed = tr.resume(trainer.run_dir, quiet=True)
    seen = _record_lrs(resumed)
    resumed.fit()
    assert seen == [lr_at(schedule, 1e-2, s, 2 * STEPS) for s in range(13, 2 * STEPS)]
    got, want = load_checkpoint(trainer.run_dir / "last"), load_checkpoint(ref.run_dir / "last")
    assert all(torch.equal(got.weights[k], w) for k, w in want.weights.items())
    timing = ("seconds", "images_per_second")
    pairs = zip(want.state["history"], got.state["history"], strict=True)
    assert got.state["history"] == [{**h, **{k: g[k] for k in timing}} for h, g in pairs]


def test_resume_cannot_change_the_epochs_of_a_schedule(tmp_path, capsys):
    cfg = tiny_config(tmp_path, epochs=1, lr_schedule="onecycle")
    tr.train(cfg, quiet=True, figures=False)
    with pytest.raises(ConfigError, match="epochs cannot change on resume: .*onecycle .* over 1 epochs"):
        tr.resume(cfg.out, overrides={"epochs": 2}, quiet=True)
    with pytest.raises(ConfigError, match="cannot change on resume"):
        convolab.resume(cfg.out, epochs=3, quiet=True)
    code = main(["train", "--resume", cfg.out, "--epochs", "2", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --epochs cannot change on resume"), err
    assert load_checkpoint(tmp_path / "run" / "last").state["epoch"] == 1  # nothing trained
    # A constant LR has no horizon: extending works as before.
    const = tiny_config(tmp_path / "c", epochs=1, out=str(tmp_path / "c" / "run"))
    tr.train(const, quiet=True, figures=False)
    longer = tr.resume(const.out, overrides={"epochs": 2}, quiet=True).fit()
    assert [h["epoch"] for h in longer.history] == [1, 2]


# -- options --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, expect", [
    (["--lr-schedule", "linear"], "--lr-schedule"),
    (["--warmup", "1"], "error: --warmup must be a share in [0, 1), got 1.0"),
    (["--warmup", "-0.1"], "error: --warmup must be a share in [0, 1), got -0.1"),
    (["--warmup", "nan"], "error: --warmup must be a share in [0, 1), got nan"),
    (["--warmup", "0.2"], "error: --warmup is the warm-up of the onecycle schedule; this run's schedule is "
                          "'constant'"),
    (["--warmup", "0.2", "--lr-schedule", "cosine"], "schedule is 'cosine'"),
])  # fmt: skip
def test_cli_refuses_bad_schedule_options_in_one_line(tmp_path, capsys, args, expect):
    out = tmp_path / "run"
    spec_data = tiny_config(tmp_path)
    code = main(
        [
            "train",
            "--model",
            spec_data.model,
            "--dataset",
            spec_data.dataset,
            "--device",
            "cpu",
            "--out",
            str(out),
            "-q",
            "--no-figures",
            *args,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and expect in err[0], err
    assert not out.exists()


def test_train_help_lists_the_schedules(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--lr-schedule" in out and "--warmup" in out and all(s in out for s in SCHEDULES)


def test_fit_takes_the_schedule_and_equals_the_cli(tmp_path):
    cfg = tiny_config(tmp_path)
    opts = dict(
        epochs=2,
        batch_size=16,
        lr=1e-2,
        device="cpu",
        checkpoint_seconds=0.0,
        checkpoint_every=0,
        log_every=2,
    )
    run = convolab.fit(
        cfg.model,
        cfg.dataset,
        out=str(tmp_path / "fit"),
        lr_schedule="onecycle",
        warmup=0.5,
        quiet=True,
        figures=False,
        **opts,
    )
    assert run.config.lr_schedule == "onecycle" and run.config.warmup == 0.5
    assert [r["lr"] for r in run.history.records] == [lr_at("onecycle", 1e-2, s, 18, 0.5) for s in (8, 17)]
    cli = [
        "train",
        "--model",
        cfg.model,
        "--dataset",
        cfg.dataset,
        "--out",
        str(tmp_path / "cli"),
        "--lr-schedule",
        "onecycle",
        "--warmup",
        "0.5",
        "-q",
        "--no-figures",
    ]
    for k, v in opts.items():
        cli += ["--" + k.replace("_", "-"), str(v)]
    assert main(cli) == 0
    a = load_checkpoint(tmp_path / "fit" / "last").weights
    b = load_checkpoint(tmp_path / "cli" / "last").weights
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match="lr_schedule must be one of constant, cosine, onecycle"):
        convolab.fit(cfg.model, cfg.dataset, out=str(tmp_path / "bad"), lr_schedule="step", **opts)


def test_two_processes_follow_the_same_schedule(tmp_path):
    from test_distributed import dist_env

    cfg = tiny_config(tmp_path, lr_schedule="onecycle", noise=0.1, out=str(tmp_path / "one"))
    one = tr.train(cfg, quiet=True, figures=False)
    cmd = [
        sys.executable,
        "-m",
        "convolab",
        "train",
        "--nproc",
        "2",
        "--model",
        cfg.model,
        "--dataset",
        cfg.dataset,
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--noise",
        "0.1",
        "--lr-schedule",
        "onecycle",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "ddp"),
        "--quiet",
        "--no-figures",
        "--checkpoint-every",
        "0",
        "--checkpoint-seconds",
        "0",
    ]
    proc = subprocess.run(cmd, env=dist_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = load_checkpoint(tmp_path / "ddp" / "last", with_optimizer=False)
    ref = load_checkpoint(one.run_dir / "last", with_optimizer=False)
    for k, w in ref.weights.items():
        torch.testing.assert_close(ddp.weights[k], w, rtol=1e-4, atol=1e-5)
    assert [h["lr"] for h in ddp.state["history"]] == [h["lr"] for h in ref.state["history"]]
