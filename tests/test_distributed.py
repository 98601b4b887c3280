"""DDP with gloo on 127.0.0.1: ranks stay identical, and 2 ranks x batch B == 1 rank x batch 2B.

The workers are real ``python -m torch.distributed.run`` jobs (one intra-op thread per rank, so two
ranks do not oversubscribe the machine), each under a timeout. The single-process reference is the
plain ``engine.step.TrainStep`` on the whole global batch, independent of the distributed code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convolab.engine.device import prepare, to_layout
from convolab.engine.step import TrainStep
from convolab.train import distributed as cd
from convolab.train.context import LocalContext
from convolab.train.run_model import build_seeded_model
from convolab.train.session import open_context
from train_support import TINY_SPEC

HERE = Path(__file__).parent
STEPS, GLOBAL_BATCH = 4, 16


def dist_env(**extra: str) -> dict[str, str]:
    # PYTHONFAULTHANDLER: a rank that aborts in C++ still prints its Python stack
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONFAULTHANDLER"] = "1"
    env[cd.TIMEOUT_ENV] = "30"
    env.pop("CONVOLAB_DEBUG", None)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    env.update(extra)
    return env


def torchrun(nproc: int, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        "--max-restarts",
        "0",
        *args,
    ]


def reference(steps: int, batch: int) -> tuple[dict, list[float]]:
    """One process, the plain TrainStep on each whole global batch."""
    sys.path.insert(0, str(HERE))
    from dist_worker import data_and_order

    images, order = data_and_order(steps, batch)
    model = prepare(build_seeded_model(TINY_SPEC, 0), "cpu")
    opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.9, 0.999), eps=1e-7)
    step = TrainStep(model, opt, "bce")
    losses = []
    for s in range(steps + 1):
        x = to_layout(images[order[s * batch : (s + 1) * batch]], "cpu")
        losses.append(float(step(x, x)))
    return model.state_dict(), losses


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ddp") / "rank0.pt"
    cmd = torchrun(2, str(HERE / "dist_worker.py"), str(out), str(STEPS), str(GLOBAL_BATCH))
    proc = subprocess.run(cmd, env=dist_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out, weights_only=True)


def test_parameters_identical_across_ranks_after_every_step(two_ranks):
    spreads = two_ranks["spreads"]
    assert spreads.shape == (STEPS + 1,)
    assert torch.equal(spreads, torch.zeros_like(spreads))


def test_two_ranks_match_one_rank_with_the_global_batch(two_ranks):
    ref_weights, ref_losses = reference(STEPS, GLOBAL_BATCH)
    # The weights moved (lr 0.01, 5 Adam steps): the comparison below is not trivially true.
    start = build_seeded_model(TINY_SPEC, 0).state_dict()
    assert any((start[k] - ref_weights[k]).abs().max() > 1e-3 for k in start)
    for k, ref in ref_weights.items():
        torch.testing.assert_close(two_ranks["weights"][k], ref.contiguous(), rtol=1e-5, atol=1e-6)
    # The last step's global batch (3 images) is uneven across ranks (2 + 1): still the same mean loss.
    torch.testing.assert_close(two_ranks["losses"], torch.tensor(ref_losses), rtol=1e-5, atol=1e-6)


def test_shard_splits_a_batch_in_contiguous_parts():
    idx = torch.arange(7)
    parts = [cd.shard(idx, r, 3).tolist() for r in range(3)]
    assert parts == [[0, 1, 2], [3, 4], [5, 6]]


def test_batch_size_must_divide_by_world_size():
    cd.check_batch_size(256, 2)
    with pytest.raises(
        ValueError, match=r"batch_size 255 .* 2 processes; use a multiple of 2, e.g. 254 or 256"
    ):
        cd.check_batch_size(255, 2)


def test_backend_follows_the_device():
    assert cd.backend_for(torch.device("cpu")) == "gloo"
    assert cd.backend_for(torch.device("cuda", 1)) == "nccl"


def test_env_ranks():
    assert cd.env_ranks({}) is None
    assert cd.env_ranks({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (1, 2, 1)
    with pytest.raises(ValueError, match="inconsistent"):
        cd.env_ranks({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="expected integers"):
        cd.env_ranks({"RANK": "x", "WORLD_SIZE": "2"})


def test_explicit_cuda_index_is_refused_under_torchrun():
    with pytest.raises(ValueError, match="cuda:LOCAL_RANK"):
        cd.rank_device("cuda:1", 0)


def test_timeout_from_environment(monkeypatch):
    monkeypatch.setenv(cd.TIMEOUT_ENV, "12.5")
    assert cd.timeout_seconds() == 12.5
    monkeypatch.setenv(cd.TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="CONVOLAB_DIST_TIMEOUT must be a positive number"):
        cd.timeout_seconds()


def test_single_process_helpers_are_no_ops():
    ctx = open_context("cpu")  # outside torchrun: the local context, no process group
    assert type(ctx) is LocalContext and not ctx.enabled and ctx.is_main
    t = torch.tensor([1.0, 2.0])
    assert ctx.all_reduce(t, "mean") is t and t.tolist() == [1.0, 2.0]
    assert ctx.any_rank(True) and not ctx.any_rank(False)
    assert ctx.reduce_metric_sums({"mse": 2.0}, 4) == ({"mse": 2.0}, 4)
    assert ctx.shard(t) is t and ctx.broadcast_object([1]) == [1]
    with pytest.raises(ValueError, match="op must be one of"):
        ctx.all_reduce(t, "min")


def test_launch_command_runs_convolab_train_under_torchrun():
    cmd = cd.launch_command(2, ["--epochs", "1"])
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in cmd and cmd[cmd.index("--nproc-per-node") + 1] == "2"
    assert cmd[cmd.index("--max-restarts") + 1] == "0"
    assert cmd[-5:] == ["-m", "convolab", "train", "--epochs", "1"]
    for bad in (0, -1, True, "2"):
        with pytest.raises(ValueError, match="nproc must be an integer >= 1"):
            cd.launch_command(bad, [])


def test_on_main_and_null_log_in_a_single_process():
    ctx = LocalContext()
    assert ctx.on_main(lambda a, b=0: a + b, 2, b=3) == 5
    with pytest.raises(ValueError, match="boom"):
        ctx.on_main(lambda: (_ for _ in ()).throw(ValueError("boom")))
    log = cd.NullLog()
    log.write("step", loss=1.0)
    log.close()
