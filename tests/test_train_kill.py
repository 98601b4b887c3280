"""A kill at every save boundary resumes to the uninterrupted run: last, best, optimizer and summary.

``$CONVOLAB_TEST_KILL_AT=BOUNDARY:N`` makes the training process SIGKILL itself the Nth time it reaches
BOUNDARY (``convolab.train.checkpoint.kill_point``): inside each checkpoint's atomic swap, and between
``best`` and ``last`` when an epoch commits both (the final epoch included).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convolab import train as tr
from convolab.train.checkpoint import KILL_ENV, load_checkpoint
from train_support import write_dataset, write_spec

SRC = Path(__file__).resolve().parents[1] / "src"
# 2 epochs, both improving: best and last are committed together at each epoch end.
BOUNDARIES = [
    ("best:written", 1), ("best:swapped-in", 1), ("between-best-last", 1), ("last:written", 1),
    ("last:swapped-in", 1), ("best:written", 2), ("best:swapped-out", 1), ("best:swapped-in", 2),
    ("between-best-last", 2), ("last:written", 2), ("last:swapped-out", 1), ("last:swapped-in", 2),
]  # fmt: skip
TIMING = ("seconds_per_epoch",)


def _config(root: Path, out: Path) -> tr.TrainConfig:
    return tr.TrainConfig(
        model=str(write_spec(root)),
        dataset=write_dataset(root / "data", 24, 8),
        epochs=2,
        batch_size=8,
        lr=0.01,
        device="cpu",
        out=str(out),
        checkpoint_every=0,
        checkpoint_seconds=0,
        stream="off",
    )


def _python(code: str, kill: str | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, as ``convolab train`` runs (the test process's torch
    settings must not differ between the reference and the killed run)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(KILL_ENV, None)
    if kill is not None:
        env[KILL_ENV] = kill
    prelude = f"import json, sys; sys.path.insert(0, {str(SRC)!r})\nfrom convolab import train as tr\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], env=env, capture_output=True, text=True, timeout=300
    )


def _train_code(cfg: tr.TrainConfig) -> str:
    config = f"tr.TrainConfig.from_dict(json.loads({json.dumps(cfg.to_dict())!r}))"
    return f"tr.train({config}, quiet=True, figures=False)"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    cfg = _config(root, root / "ref")
    proc = _python(_train_code(cfg))
    assert proc.returncode == 0, proc.stderr
    history = load_checkpoint(root / "ref" / "last").state["history"]
    best = [h["val"]["bce"] for h in history]
    assert best[1] < best[0], "both epochs must improve, so that both commit best and last"
    return root, root / "ref"


def _checkpoint(path: Path) -> tuple[dict, dict, dict]:
    ck = load_checkpoint(path)
    assert ck.optimizer is not None
    st = {k: ck.state[k] for k in ("epoch", "step", "global_step", "best", "baseline")}
    return ck.weights, ck.optimizer["state"], st


def _same(a: tuple, b: tuple) -> bool:
    (wa, oa, sa), (wb, ob, sb) = a, b
    weights = wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    opt = oa.keys() == ob.keys() and all(torch.equal(oa[i][n], ob[i][n]) for i in oa for n in oa[i])
    return weights and opt and sa == sb


@pytest.mark.parametrize(("boundary", "nth"), BOUNDARIES, ids=[f"{b}-{n}" for b, n in BOUNDARIES])
def test_kill_at_a_save_boundary_resumes_bitwise(reference, boundary, nth):
    root, ref = reference
    out = root / f"cut-{boundary}-{nth}"
    cfg = _config(root, out)
    proc = _python(_train_code(cfg), kill=f"{boundary}:{nth}")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (out / "summary.json").exists()
    proc = _python(f"tr.resume({str(out)!r}, quiet=True).fit()")
    assert proc.returncode == 0, proc.stderr
    for which in ("last", "best"):
        assert _same(_checkpoint(out / which), _checkpoint(ref / which)), which
    got, want = (json.loads((d / "summary.json").read_text()) for d in (out, ref))
    assert {k: v for k, v in got.items() if k not in TIMING} == {
        k: v for k, v in want.items() if k not in TIMING
    }
    assert not list(out.glob(".*.old")) and not list(out.glob(".*.tmp-*"))
