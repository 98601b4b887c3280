"""Streaming under torchrun (2 gloo ranks on 127.0.0.1): disjoint shares, identical parameters, and the
weights of one in-memory process with the global batch (to float tolerance: DDP sums gradients in another
order). The last global batch (81 = 10 x 8 + 1 images) leaves rank 1 an empty share.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import torch

from convolab import train as tr
from convolab.train.checkpoint import load_checkpoint
from convolab.train.config import TrainConfig
from test_distributed import dist_env, torchrun
from train_support import write_dataset, write_spec

HERE = Path(__file__).parent


def test_two_streaming_ranks_share_without_overlap_and_train_like_one(tmp_path):
    spec, dataset = write_spec(tmp_path), write_dataset(tmp_path / "data", n_train=90, n_test=8)
    out = tmp_path / "ddp" / "rank0.json"
    out.parent.mkdir()
    cmd = torchrun(2, str(HERE / "dist_stream_worker.py"), dataset, str(spec), str(out))
    proc = subprocess.run(cmd, env=dist_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    a, b = got["shares"]
    assert not set(a) & set(b) and sorted(a + b) == list(range(81))  # 90 - 9 held out for validation
    assert len(a) == 41 and len(b) == 40
    assert len(got["spreads"]) == 2 * 11 and max(got["spreads"]) == 0.0
    cfg = TrainConfig(
        model=str(spec),
        dataset=dataset,
        batch_size=8,
        lr=0.01,
        noise=0.1,
        device="cpu",
        epochs=2,
        out=str(tmp_path / "one"),
        checkpoint_every=0,
        checkpoint_seconds=0,
        log_every=2,
        stream="off",
    )
    one = tr.train(cfg, quiet=True, figures=False)
    ddp = load_checkpoint(out.parent / "run" / "last", with_optimizer=False)
    ref = load_checkpoint(one.run_dir / "last", with_optimizer=False)
    for k, w in ref.weights.items():
        torch.testing.assert_close(ddp.weights[k], w, rtol=1e-4, atol=1e-5)
    summary = json.loads((out.parent / "run" / "summary.json").read_text())
    assert summary["streamed"] and summary["n_eval"] == 8
