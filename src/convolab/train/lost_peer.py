"""What a rank says when its torchrun job lost a process, and the command that resumes the job.

A rank whose peer died (killed, out of memory, its node gone) gets an error from gloo/NCCL as soon as the
peer's socket closes, or after the collective timeout (``CONVOLAB_DIST_TIMEOUT``) when the peer stops
answering without closing it. The CLI turns that error into one ``error:`` line: which rank lost whom,
the cause in one sentence, and the command to run on every node to continue from the last checkpoint.
That command is the torchrun command this job was started with (read from the agent, this worker's
parent process, on Linux) with the training options replaced by ``--resume RUN``; under
``convolab train --nproc N`` it is ``convolab train --nproc N --resume RUN``.

Example::

    rank 0 lost contact with rank 1 (Connection closed by peer [10.0.0.2]:41327): a process of this job
    stopped or its node left, so the job stops; continue from the last checkpoint by running on every
    node: torchrun --nnodes 2 ... --rdzv-id fashion-1 -m convolab train --resume /shared/runs/fashion
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

__all__ = ["NPROC_ENV", "cause", "launcher_argv", "lost_contact", "resume_command"]

# Set by ``convolab train --nproc N`` for its workers: they were launched by convolab, not by the user.
NPROC_ENV = "CONVOLAB_NPROC"
_TRAIN = ["-m", "convolab", "train"]
_LOCATION = re.compile(r"^\[[^\]]*\]\s*")  # gloo's "[.../pair.cc:553] " prefix


def cause(error: str) -> str:
    """The first sentence of a collective's error, without gloo's source location (at most 200 chars)."""
    first = (error.strip().splitlines() or [""])[0]
    first = _LOCATION.sub("", first).split(". ")[0].rstrip(".").strip()
    return first[:200] or "RuntimeError"


def launcher_argv(pid: int | None = None) -> list[str] | None:
    """The command line of process ``pid`` (default: the parent, torchrun's agent); None if unreadable."""
    try:
        raw = Path(f"/proc/{os.getppid() if pid is None else pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]] or None


def _torchrun_options(argv: list[str] | None) -> list[str] | None:
    """The options between ``torchrun`` (or ``python -m torch.distributed.run``) and ``-m convolab train``."""
    if not argv:
        return None
    start = None
    for i, arg in enumerate(argv):
        if (arg == "torch.distributed.run" and i and argv[i - 1] == "-m") or Path(arg).name == "torchrun":
            start = i + 1
            break
    if start is None:
        return None
    for j in range(start, len(argv) - len(_TRAIN) + 1):
        if argv[j : j + len(_TRAIN)] == _TRAIN:
            return argv[start:j]
    return None


def resume_command(
    run: str, environ: Mapping[str, str] | None = None, launcher: list[str] | None = None
) -> str:
    """The command that continues this job from ``run``'s last checkpoint (on every node)."""
    env = os.environ if environ is None else environ
    if env.get(NPROC_ENV):
        return f"convolab train --nproc {env[NPROC_ENV]} --resume {shlex.quote(run)}"
    options = _torchrun_options(launcher)
    resume = shlex.join([*_TRAIN, "--resume", run])
    if options is None:
        return f"torchrun (the same options as before) {resume}"
    return f"{shlex.join(['torchrun', *options])} {resume}"


def lost_contact(
    error: str,
    *,
    rank: int,
    world: int,
    run: str,
    environ: Mapping[str, str] | None = None,
    launcher: list[str] | None = None,
) -> str:
    """One line for a rank whose collective failed because a peer is gone (no ``error:`` prefix)."""
    env = os.environ if environ is None else environ
    peer = f"rank {1 - rank}" if world == 2 else "another process"
    why = cause(error)
    if "timed out" in why.lower():
        why += "; no answer within CONVOLAB_DIST_TIMEOUT"
    how = "with" if env.get(NPROC_ENV) else "by running on every node"
    return (
        f"rank {rank} lost contact with {peer} ({why}): a process of this job stopped or its node left, "
        f"so the job stops; continue from the last checkpoint {how}: {resume_command(run, env, launcher)}"
    )
