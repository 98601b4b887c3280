"""Resume after SIGKILL, bitwise: a real `convolab train` process is killed mid-epoch and resumed.

Both runs are subprocesses with one intra-op thread, so the reference and the resumed run do the
same floating-point work; the final weights must be equal with torch.equal, not merely close.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from convolab.train.checkpoint import load_checkpoint
from train_support import write_dataset, write_spec

EPOCHS, BATCH = 2, 4


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("CONVOLAB_DEBUG", None)
    return env


def _cmd(spec, dataset, out, *extra):
    return [
        sys.executable,
        "-m",
        "convolab",
        "train",
        "--model",
        str(spec),
        "--dataset",
        dataset,
        "--epochs",
        str(EPOCHS),
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
        "--checkpoint-every",
        "3",
        "--checkpoint-seconds",
        "0",
        "--quiet",
        "--no-figures",
        *extra,
    ]


def _wait_for_checkpoint(proc, state_path, timeout=120.0):
    """Poll until `last` holds a step checkpoint (mid-run); returns False if the run ended first."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            return False
        try:
            if json.loads(state_path.read_text())["global_step"] >= 3:
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.005)
    return False


@pytest.fixture
def setup(tmp_path):
    dataset = write_dataset(tmp_path / "data", n_train=600, n_test=20)
    return write_spec(tmp_path), dataset


def _final_weights(run):
    return load_checkpoint(run / "last").weights


def test_sigkill_mid_epoch_then_resume_is_bitwise_exact(tmp_path, setup):
    spec, dataset = setup
    ref = tmp_path / "ref"
    subprocess.run(_cmd(spec, dataset, ref), env=_env(), check=True, timeout=300, capture_output=True)

    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        _cmd(spec, dataset, cut), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        if not _wait_for_checkpoint(proc, cut / "last" / "state.json"):
            pytest.fail(f"training ended before a step checkpoint appeared: {proc.stderr.read()!r}")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(cut / "last").state
    total = EPOCHS * (540 // BATCH)
    assert 0 < killed_at["global_step"] < total, "the kill must land mid-run"

    done = subprocess.run(
        [sys.executable, "-m", "convolab", "train", "--resume", str(cut), "--quiet", "--no-figures"],
        env=_env(),
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    got, want = _final_weights(cut), _final_weights(ref)
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
    assert load_checkpoint(cut / "last").state["global_step"] == total


def test_sigint_saves_and_exits_130(tmp_path, setup):
    spec, dataset = setup
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _cmd(spec, dataset, out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        if not _wait_for_checkpoint(proc, out / "last" / "state.json"):
            pytest.fail("training ended before a step checkpoint appeared")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert b"SIGINT: stopped and saved" in err and b"--resume" in err
    state = load_checkpoint(out / "last").state
    assert state["global_step"] < EPOCHS * (540 // BATCH)
