"""The one line a rank prints when its job lost a process, and the command that resumes the job.

Pure string work (no process group): the gloo messages below are the real ones torch 2.13 raised in the
two-node runs of tests/test_distributed_nodes.py.
"""

from __future__ import annotations

import os

import pytest

from convolab.train import lost_peer as lp

CLOSED = (
    "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed by peer "
    "[127.0.0.1]:2987. This is typically caused by a remote worker crashing. Check the logs of the remote "
    "worker before reporting an error. GLHF! \U0001f3d6\ufe0f"
)
TIMED_OUT = (
    "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting "
    "10000ms for recv operation to complete"
)
AGENT = [
    "/usr/bin/python3",
    "-m",
    "torch.distributed.run",
    "--nnodes",
    "2",
    "--nproc-per-node",
    "1",
    "--rdzv-backend",
    "c10d",
    "--rdzv-endpoint",
    "node0.example:29400",
    "--rdzv-id",
    "fashion-1",
    "-m",
    "convolab",
    "train",
    "--device",
    "cuda",
    "--out",
    "/shared/runs/fashion",
]


def test_cause_keeps_the_first_sentence_without_the_source_location():
    assert lp.cause(CLOSED) == "Connection closed by peer [127.0.0.1]:2987"
    assert lp.cause(TIMED_OUT) == "Timed out waiting 10000ms for recv operation to complete"
    assert lp.cause("") == "RuntimeError"
    assert lp.cause("x" * 1000) == "x" * 200


def test_resume_command_repeats_the_torchrun_options_of_the_agent():
    got = lp.resume_command("/shared/runs/fashion", environ={}, launcher=AGENT)
    assert got == (
        "torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint node0.example:29400 "
        "--rdzv-id fashion-1 -m convolab train --resume /shared/runs/fashion"
    )
    script = [
        "/opt/venv/bin/python3",
        "/opt/venv/bin/torchrun",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "convolab",
        "train",
        "--epochs",
        "3",
    ]
    assert lp.resume_command("runs/my run", environ={}, launcher=script) == (
        "torchrun --standalone --nproc-per-node 2 -m convolab train --resume 'runs/my run'"
    )


def test_resume_command_without_a_readable_agent_says_what_to_repeat():
    for launcher in (None, [], ["python", "train.py"], ["torchrun", "--nnodes", "2", "script.py"]):
        assert lp.resume_command("R", environ={}, launcher=launcher) == (
            "torchrun (the same options as before) -m convolab train --resume R"
        )


def test_resume_command_under_nproc_is_convolabs_own():
    env = {lp.NPROC_ENV: "2"}
    assert (
        lp.resume_command("runs/x", environ=env, launcher=AGENT) == "convolab train --nproc 2 --resume runs/x"
    )


def test_lost_contact_names_the_peer_the_cause_and_the_resume():
    msg = lp.lost_contact(CLOSED, rank=0, world=2, run="/shared/runs/fashion", environ={}, launcher=AGENT)
    assert msg == (
        "rank 0 lost contact with rank 1 (Connection closed by peer [127.0.0.1]:2987): a process of this "
        "job stopped or its node left, so the job stops; continue from the last checkpoint by running on "
        "every node: torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint "
        "node0.example:29400 --rdzv-id fashion-1 -m convolab train --resume /shared/runs/fashion"
    )
    assert "\n" not in msg


def test_lost_contact_after_the_collective_timeout_names_the_setting():
    msg = lp.lost_contact(TIMED_OUT, rank=3, world=8, run="R", environ={lp.NPROC_ENV: "8"}, launcher=None)
    assert msg == (
        "rank 3 lost contact with another process (Timed out waiting 10000ms for recv operation to complete; "
        "no answer within CONVOLAB_DIST_TIMEOUT): a process of this job stopped or its node left, so the job "
        "stops; continue from the last checkpoint with: convolab train --nproc 8 --resume R"
    )


@pytest.mark.skipif(not os.path.exists("/proc/self/cmdline"), reason="needs Linux /proc")
def test_launcher_argv_reads_the_parent_command_line():
    argv = lp.launcher_argv()
    assert argv is not None and argv[0]  # the test runner's parent: some command
    assert lp.launcher_argv(pid=2**22 + 12345) is None  # no such process
