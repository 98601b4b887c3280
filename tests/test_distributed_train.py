"""`convolab train` under torchrun (2 gloo processes on 127.0.0.1): same result as one process, rank-0-only
files, resume, and a killed rank that fails the job with a clear message instead of hanging.

Every job is a subprocess with a timeout and one intra-op thread per rank.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from convolab import train as tr
from convolab.train.checkpoint import load_checkpoint
from convolab.train.config import TrainConfig
from test_distributed import dist_env
from train_support import write_dataset, write_spec

BATCH, EPOCHS = 8, 2


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp_train")
    return root, write_spec(root), write_dataset(root / "data", n_train=96, n_test=16)


def _args(spec, dataset, out, *extra) -> list[str]:
    return [
        "--model",
        str(spec),
        "--dataset",
        dataset,
        "--batch-size",
        str(BATCH),
        "--lr",
        "0.01",
        "--noise",
        "0.1",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--quiet",
        "--no-figures",
        "--checkpoint-every",
        "4",
        "--checkpoint-seconds",
        "0",
        "--log-every",
        "2",
        *extra,
    ]


def _convolab(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "convolab", "train", *args]
    return subprocess.run(cmd, env=dist_env(), capture_output=True, text=True, timeout=timeout)


def _kinds(run: Path) -> list[str]:
    return [json.loads(line)["kind"] for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_rank_run(setup):
    root, spec, dataset = setup
    out = root / "ddp"
    proc = _convolab("--nproc", "2", "--epochs", str(EPOCHS), *_args(spec, dataset, out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (out.parent / "ddp.stderr").write_text(proc.stderr)
    return out


def test_two_processes_train_like_one_with_the_global_batch(setup, two_rank_run, tmp_path):
    root, spec, dataset = setup
    cfg = TrainConfig(
        model=str(spec),
        dataset=dataset,
        batch_size=BATCH,
        lr=0.01,
        noise=0.1,
        device="cpu",
        epochs=EPOCHS,
        out=str(tmp_path / "one"),
        checkpoint_every=4,
        checkpoint_seconds=0,
        log_every=2,
    )
    one = tr.train(cfg, quiet=True, figures=False)
    ddp = load_checkpoint(two_rank_run / "last", with_optimizer=False)
    ref = load_checkpoint(one.run_dir / "last", with_optimizer=False)
    for k, w in ref.weights.items():
        torch.testing.assert_close(ddp.weights[k], w, rtol=1e-4, atol=1e-5)
    for a, b in zip(ddp.state["history"], ref.state["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val"] == pytest.approx(b["val"], rel=1e-4)


def test_gradients_match_the_reducers_buckets(two_rank_run):
    """The decoder's last kernel (1, 4, 3, 3) is channels_last: DDP's reducer compared its gradient's
    strides, size-1 dimension included, with its bucket's, warned on every run and took a slow copy."""
    stderr = (two_rank_run.parent / "ddp.stderr").read_text()
    assert "Grad strides do not match bucket view strides" not in stderr, stderr[-2000:]


def test_only_rank_zero_writes(two_rank_run):
    kinds = _kinds(two_rank_run)
    assert kinds.count("start") == 1 and kinds.count("epoch") == EPOCHS and kinds.count("summary") == 1
    assert (two_rank_run / "best").is_dir() and (two_rank_run / "summary.json").is_file()


def test_global_batch_not_divisible_is_refused(setup, tmp_path):
    root, spec, dataset = setup
    args = _args(spec, dataset, tmp_path / "odd")
    args[args.index("--batch-size") + 1] = "7"
    proc = _convolab("--nproc", "2", "--epochs", "1", *args)
    assert proc.returncode == 2  # checked before torchrun starts: one line, no per-rank report
    assert proc.stderr == (
        "error: --batch-size 7 (the global batch) cannot be split evenly across 2 processes; use a "
        "multiple of 2, e.g. 6 or 8\n"
    )
    assert not (tmp_path / "odd").exists()


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _rank_pid(root_pid: int, rank: int) -> int | None:
    """The pid of the worker with RANK=rank among root_pid's descendants."""
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            env = []
        if f"RANK={rank}".encode() in env and b"TORCHELASTIC_RUN_ID" in b" ".join(env):
            return pid
        todo += _children(pid)
    return None


@contextlib.contextmanager
def _long_job(spec: str, dataset: str, out: Path) -> Iterator[subprocess.Popen]:
    """A 2-process `convolab train` of many epochs, yielded once its first step checkpoint exists."""
    cmd = [
        sys.executable,
        "-m",
        "convolab",
        "train",
        "--nproc",
        "2",
        "--epochs",
        "400",
        *_args(spec, dataset, out),
    ]
    proc = subprocess.Popen(cmd, env=dist_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (out / "last" / "state.json").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_killed_rank_fails_the_job_and_resume_continues(setup, tmp_path):
    root, spec, dataset = setup
    out = tmp_path / "killed"
    with _long_job(spec, dataset, out) as proc:
        victim = _rank_pid(proc.pid, 1)
        assert victim is not None, "rank 1 not found"
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)  # the collective timeout is 30 s: no hang
    assert proc.returncode not in (0, None)
    assert "training in 2 processes failed" in err and f"--resume {out}" in err
    assert "Signal 9 (SIGKILL)" in err  # torchrun's report names the killed rank's signal
    stopped_at = load_checkpoint(out / "last", with_optimizer=False).state["epoch"]
    done = _convolab("--nproc", "2", "--resume", str(out), "--epochs", str(stopped_at + 1), "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    final = load_checkpoint(out / "last", with_optimizer=False)
    assert final.state["epoch"] == stopped_at + 1 and final.state["step"] == 0
    assert _kinds(out).count("resume") == 1
    # The resumed job replays the same batches: bitwise the weights of an uninterrupted 2-process run.
    ref_out = tmp_path / "uninterrupted"
    ref = _convolab("--nproc", "2", "--epochs", str(stopped_at + 1), *_args(spec, dataset, ref_out))
    assert ref.returncode == 0, ref.stderr[-3000:]
    ref_w = load_checkpoint(ref_out / "last", with_optimizer=False).weights
    assert all(torch.equal(final.weights[k], w) for k, w in ref_w.items())


def test_sigterm_stops_every_rank_at_the_same_step_and_saves(setup, tmp_path):
    root, spec, dataset = setup
    out = tmp_path / "termed"
    with _long_job(spec, dataset, out) as proc:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    assert err.count(f"SIGTERM: stopped and saved {out / 'last'}") == 2, err[-6000:]  # both ranks
    assert err.rstrip().endswith(f"SIGTERM: 2 processes stopped; continue with --resume {out}")
    stop = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()][-1]
    assert stop["kind"] == "interrupt" and stop["signal"] == signal.SIGTERM
    state = load_checkpoint(out / "last", with_optimizer=False).state
    assert (state["epoch"], state["step"]) == (stop["epoch"], stop["step"])


def test_nproc_under_torchrun_is_refused(monkeypatch, capsys):
    from convolab.cli import main

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--nproc", "2"]) == 2
    assert capsys.readouterr().err == "error: --nproc starts torchrun itself; under torchrun leave it out\n"


def test_help_teaches_the_launch(capsys):
    from convolab.cli import main

    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--nproc" in out and "torchrun --nproc-per-node 4 -m convolab train" in out
