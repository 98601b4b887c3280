"""The several-machines command of docs/distributed.md, run as two nodes on this machine.

The command is read from the docs (the code block with ``--nnodes``) and run as written, with only the
host, port, processes per node, device and paths substituted: two torchrun agents (two "nodes", one
process each, a c10d rendezvous on 127.0.0.1), each in its own empty working directory. Checked: the
result equals a one-process run (as tests/test_distributed_train.py defines it), only rank 0 writes, a
node that dies mid-epoch ends the job with one ``error:`` line naming the resume command, that command
(on both nodes) continues bitwise exactly, and a node that freezes fails the job after the collective
timeout with the same line. One intra-op thread per process, every job under a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from convolab import train as tr
from convolab.train.checkpoint import load_checkpoint
from convolab.train.run_model import build_seeded_model
from test_distributed import dist_env
from test_distributed_train import _children, _rank_pid
from train_support import write_dataset, write_spec

ROOT = Path(__file__).resolve().parents[1]
BATCH, EPOCHS = 8, 2
TINY = [
    "--batch-size",
    str(BATCH),
    "--lr",
    "0.01",
    "--noise",
    "0.1",
    "--quiet",
    "--no-figures",
    "--checkpoint-every",
    "4",
    "--checkpoint-seconds",
    "0",
    "--log-every",
    "2",
]


def documented_command(doc: Path = ROOT / "docs" / "distributed.md") -> list[str]:
    """The multi-node torchrun command of a Markdown file, as argv (backslash continuations joined)."""
    for block in re.findall(r"```bash\n(.*?)```", doc.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if "--nnodes" in line:
                return shlex.split(line)
    raise AssertionError(f"no torchrun --nnodes command in {doc}")


def _substitute(args: list[str], values: dict[str, str]) -> list[str]:
    args = list(args)
    for flag, value in values.items():
        assert flag in args, f"the documented command has no {flag}"
        args[args.index(flag) + 1] = value
    return args


def two_node_command(port: int, out: Path, *extra: str) -> list[str]:
    """The documented command for one node of two on 127.0.0.1:port, one CPU process per node."""
    argv = documented_command()
    assert argv[0] == "torchrun"
    m = argv.index("-m")
    assert argv[m : m + 3] == ["-m", "convolab", "train"]
    launcher = _substitute(argv[1:m], {"--nproc-per-node": "1", "--rdzv-endpoint": f"127.0.0.1:{port}"})
    assert launcher[launcher.index("--nnodes") + 1] == "2" and "--standalone" not in launcher
    train = _substitute(argv[m + 3 :], {"--device": "cpu", "--out": str(out)})
    return [sys.executable, "-m", "torch.distributed.run", *launcher, *argv[m : m + 3], *train, *extra]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOGS: dict[int, Path] = {}  # agent pid -> the file that holds its node's output


def _start(cmd: list[str], where: Path, env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """Both nodes of a job, each with its own empty working directory ``where/nodeN``; the output of
    node N goes to ``where/nodeN.log`` (outside its working directory)."""
    procs = []
    for n in range(2):
        cwd = where / f"node{n}"
        cwd.mkdir(parents=True)
        with open(where / f"node{n}.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env or dist_env(), stdout=log, stderr=subprocess.STDOUT)
        LOGS[proc.pid] = where / f"node{n}.log"
        procs.append(proc)
    return procs


@contextlib.contextmanager
def _job(cmd: list[str], where: Path, env: dict[str, str] | None = None) -> Iterator[list[subprocess.Popen]]:
    """:func:`_start`, and every process of the job killed when the block ends (a failed test included)."""
    procs = _start(cmd, where, env)
    try:
        yield procs
    finally:
        for pid in [d for p in procs if p.poll() is None for d in (*_descendants(p.pid), p.pid)]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for p in procs:
            p.wait()


def _descendants(pid: int) -> list[int]:
    found, todo = [], _children(pid)
    while todo:
        found.append(todo.pop())
        todo += _children(found[-1])
    return found


def _wait(procs: list[subprocess.Popen], timeout: float = 240) -> list[tuple[int, str]]:
    """Each node's exit code and output (inside :func:`_job`, which kills what outlives a timeout)."""
    for p in procs:
        p.wait(timeout=timeout)
    return [(p.returncode, LOGS[p.pid].read_text()) for p in procs]


def _run_two_nodes(where: Path, out: Path, *extra: str, cmd: list[str] | None = None) -> None:
    with _job(cmd or two_node_command(_free_port(), out, *extra), where) as procs:
        results = _wait(procs)
    for rc, err in results:
        assert rc == 0, err[-3000:]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("nodes")
    spec, dataset = write_spec(root), write_dataset(root / "data", n_train=192, n_test=32)
    return root, ["--model", str(spec), "--dataset", dataset, *TINY]


@pytest.fixture(scope="module")
def two_nodes(setup):
    root, args = setup
    out = root / "two-nodes"
    _run_two_nodes(root / "job", out, "--epochs", str(EPOCHS), *args)
    return root / "job", out


def test_readme_gives_the_documented_command():
    docs, readme = documented_command(), documented_command(ROOT / "README.md")
    endpoint = docs.index("--rdzv-endpoint") + 1
    assert readme[:endpoint] + readme[endpoint + 1 :] == docs[:endpoint] + docs[endpoint + 1 :]


def test_two_nodes_train_like_one_process(setup, two_nodes, tmp_path):
    root, args = setup
    job, out = two_nodes
    spec, dataset = args[1], args[3]
    cfg = tr.TrainConfig(
        model=spec,
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
    got = load_checkpoint(out / "last", with_optimizer=False)
    ref = load_checkpoint(one.run_dir / "last", with_optimizer=False)
    start = build_seeded_model(spec, 0).state_dict()
    assert any((start[k] - ref.weights[k]).abs().max() > 1e-3 for k in start)  # the weights moved
    for k, w in ref.weights.items():
        torch.testing.assert_close(got.weights[k], w, rtol=1e-4, atol=1e-5)
    assert got.state["global_step"] == ref.state["global_step"] > EPOCHS * 10  # the same steps
    assert len(got.state["history"]) == len(ref.state["history"]) == EPOCHS
    for a, b in zip(got.state["history"], ref.state["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val"] == pytest.approx(b["val"], rel=1e-4)


def test_only_rank_zero_writes(setup, two_nodes):
    job, out = two_nodes
    kinds = [json.loads(line)["kind"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert kinds.count("start") == 1 and kinds.count("epoch") == EPOCHS and kinds.count("summary") == 1
    assert sorted(p.name for p in out.iterdir() if p.name != "tensorboard") == [
        ".lock",
        "best",
        "config.json",
        "last",
        "log.jsonl",
        "metrics.csv",
        "summary.json",
    ]
    assert [list((job / f"node{n}").iterdir()) for n in range(2)] == [[], []]  # nothing beside the run


def _node_of_rank(procs: list[subprocess.Popen], rank: int) -> tuple[int, int]:
    """(index of the node whose worker has RANK=rank, that worker's pid)."""
    for i, proc in enumerate(procs):
        pid = _rank_pid(proc.pid, rank)
        if pid is not None:
            return i, pid
    raise AssertionError(f"no worker with RANK={rank}")


def _epoch_one_done(procs: list[subprocess.Popen], out: Path) -> None:
    """Wait until epoch 1 is logged and checkpointed (the job goes on with epoch 2)."""
    deadline = time.monotonic() + 180
    log = out / "log.jsonl"
    while not (log.exists() and '"kind": "epoch"' in log.read_text()):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "no epoch ended"
        time.sleep(0.05)
    assert (out / "last" / "state.json").is_file()


def _signal_node(procs: list[subprocess.Popen], rank: int, signum: int) -> tuple[int, list[int]]:
    """Send ``signum`` to the agent and the worker of the node of ``rank`` (the worker runs in a session
    of its own: the agent's signal does not reach it); returns (that node's index, the two pids)."""
    node, worker = _node_of_rank(procs, rank)
    pids = [procs[node].pid, worker]
    for pid in pids:
        os.kill(pid, signum)
    return node, pids


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error: ")]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_node_killed_mid_epoch_stops_the_job_and_the_printed_command_resumes_it(setup, two_nodes, tmp_path):
    root, args = setup
    out = tmp_path / "killed"
    with _job(two_node_command(_free_port(), out, "--epochs", "400", *args), tmp_path / "job") as procs:
        _epoch_one_done(procs, out)
        dead, _ = _signal_node(procs, 1, signal.SIGKILL)  # the node is gone, as when its machine fails
        [(rc, err)] = _wait([procs[1 - dead]], timeout=120)  # no hang: the collective fails at once
    assert rc != 0
    errors = _error_lines(err)
    assert len(errors) == 1, err[-3000:]
    # gloo's words vary with the moment of the kill ("Connection closed by peer", "Connection reset by peer")
    assert re.match(r"error: rank 0 lost contact with rank 1 \([^()]*by peer[^()]*\): ", errors[0]), errors[0]
    head, _, resume = errors[0].partition(
        "so the job stops; continue from the last checkpoint by running on every node: "
    )
    assert head and resume.startswith("torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d")
    assert resume.endswith(f"-m convolab train --resume {out}")
    stopped = load_checkpoint(out / "last", with_optimizer=False).state
    assert stopped["epoch"] >= 1 and not (out / "summary.json").exists()
    # Resume: the printed command on both nodes, told how many epochs to end with.
    final_epochs = stopped["epoch"] + 1
    cmd = [sys.executable, "-m", "torch.distributed.run", *shlex.split(resume)[1:]]
    _run_two_nodes(tmp_path / "resume", out, cmd=[*cmd, "--epochs", str(final_epochs)])
    final = load_checkpoint(out / "last", with_optimizer=False)
    assert (final.state["epoch"], final.state["step"]) == (final_epochs, 0)
    kinds = [json.loads(line)["kind"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert kinds.count("resume") == 1 and kinds[-1] == "summary"
    # Bitwise the weights of an uninterrupted two-node job of as many epochs.
    ref_out = two_nodes[1]
    if final_epochs != EPOCHS:
        ref_out = tmp_path / "uninterrupted"
        _run_two_nodes(tmp_path / "ref", ref_out, "--epochs", str(final_epochs), *args)
    ref = load_checkpoint(ref_out / "last", with_optimizer=False).weights
    assert final.weights.keys() == ref.keys()
    assert all(torch.equal(final.weights[k], w) for k, w in ref.items())


FROZEN_TIMEOUT_S = 20  # CONVOLAB_DIST_TIMEOUT for the frozen-node job (start-up collectives use it too)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_frozen_node_fails_the_job_after_the_collective_timeout(setup, tmp_path):
    """A node that stops answering without closing its sockets (SIGSTOP): the surviving rank's collective
    fails after CONVOLAB_DIST_TIMEOUT and it prints the same one line, naming the timeout."""
    root, args = setup
    out = tmp_path / "frozen"
    env = dist_env(CONVOLAB_DIST_TIMEOUT=str(FROZEN_TIMEOUT_S))
    cmd = two_node_command(_free_port(), out, "--epochs", "400", *args)
    with _job(cmd, tmp_path / "job", env) as procs:
        _epoch_one_done(procs, out)
        frozen, stopped = _signal_node(procs, 1, signal.SIGSTOP)
        log, deadline = LOGS[procs[1 - frozen].pid], time.monotonic() + FROZEN_TIMEOUT_S + 120
        while not _error_lines(log.read_text()):
            assert time.monotonic() < deadline, "the surviving rank outlived its collective timeout"
            time.sleep(0.2)
        for pid in stopped:  # now the frozen node goes away (the survivor's agent waits for its store)
            os.kill(pid, signal.SIGKILL)
        [(rc, err)] = _wait([procs[1 - frozen]], timeout=120)
    assert rc != 0
    [line] = _error_lines(err)
    ms = FROZEN_TIMEOUT_S * 1000
    assert re.match(
        rf"error: rank 0 lost contact with rank 1 \(Timed out waiting {ms}ms for \w+ operation to complete; "
        r"no answer within CONVOLAB_DIST_TIMEOUT\): a process of this job stopped or its node left",
        line,
    ), line
    assert line.endswith(f"-m convolab train --resume {out}")
