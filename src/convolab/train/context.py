"""Where a training process stands: alone (:class:`LocalContext`) or one rank of a torchrun job.

The loop talks to its context only through the methods below, and is handed one: nothing is global.
A single-process run uses :class:`LocalContext`, whose methods are the identity and which imports
neither ``torch.distributed`` nor DDP; :func:`convolab.train.session.open_context` returns a
:class:`~convolab.train.distributed.DistContext` (same methods, real collectives) only when torchrun
started this process with more than one rank.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from convolab.train.runfolder import RunLog

REDUCE_OPS = ("sum", "mean", "max")


def env_ranks(environ: dict[str, str] | None = None) -> tuple[int, int, int] | None:
    """``(rank, world_size, local_rank)`` set by torchrun, or None outside torchrun.

    Raises:
        ValueError: the variables are present but not consistent integers.
    """
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env or "RANK" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ValueError(
            f"RANK={env.get('RANK')!r}, WORLD_SIZE={env.get('WORLD_SIZE')!r}, "
            f"LOCAL_RANK={env.get('LOCAL_RANK')!r}: expected integers (as torchrun sets them)"
        ) from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={world} are inconsistent")
    return rank, world, local


def check_batch_size(batch_size: int, world_size: int) -> None:
    """The global batch is split evenly across ranks, so it must be divisible by the world size."""
    if batch_size % world_size:
        from convolab.train.config import ConfigError

        lo = batch_size - batch_size % world_size
        raise ConfigError(
            "batch_size",
            f"{{field}} {batch_size} (the global batch) cannot be split evenly across {world_size} "
            f"processes; use a multiple of {world_size}, e.g. {lo or world_size} or {lo + world_size}",
        )


def shard(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s contiguous part of ``batch`` (along dim 0): sizes differ by at most one."""
    return torch.tensor_split(batch, world_size)[rank]


def check_op(op: str) -> None:
    if op not in REDUCE_OPS:
        raise ValueError(f"all_reduce: op must be one of {', '.join(REDUCE_OPS)}, got {op!r}")


class NullLog:
    """Stands in for ``RunLog`` on ranks other than 0: accepts every call, writes nothing."""

    def write(self, kind: str, **fields: Any) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class LocalContext:
    """A single-process run: rank 0 of 1; every collective is the identity."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0: the one process that writes files."""
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of a global batch (all of it here)."""
        return batch

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """In-place all-reduce of ``tensor`` (``sum``, ``mean`` or ``max``)."""
        check_op(op)
        return tensor

    def all_reduce_cpu(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """:meth:`all_reduce` of a CPU tensor whatever the backend."""
        return self.all_reduce(tensor, op)

    def reduce_floats(self, values: list[float], op: str = "sum") -> list[float]:
        check_op(op)
        return [float(v) for v in values]

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on at least one."""
        return bool(flag)

    def reduce_metric_sums(self, sums: dict[str, float], count: int) -> tuple[dict[str, float], int]:
        """Per-image metric sums and image counts summed over ranks."""
        return dict(sums), int(count)

    def broadcast_object(self, obj: Any, src: int = 0) -> Any:
        return obj

    def on_main(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on rank 0 and give every rank its result (or its error)."""
        return fn(*args, **kwargs)

    def barrier(self) -> None:
        pass

    def agree_save(
        self, stop_signal: int | None, by_steps: bool, due: bool, *, at_sync: bool
    ) -> tuple[int | None, bool]:
        """``(stop signal, save now?)`` as all ranks agree: here, at once (a signal or a due save)."""
        return stop_signal, stop_signal is not None or due

    def shutdown(self, *, sync: bool = True) -> None:
        pass

    def train_step(self, model: Any, optimizer: Any, loss: str, amp: str | None) -> Any:
        """The step function of this context: :class:`~convolab.engine.step.TrainStep` here."""
        from convolab.engine.step import TrainStep

        return TrainStep(model, optimizer, loss, amp=amp)

    def open_log(self, path: Path) -> RunLog | NullLog:
        """The run's log on rank 0, a :class:`NullLog` elsewhere."""
        from convolab.train.runfolder import RunLog

        return RunLog(path) if self.is_main else NullLog()


def launch_command(nproc: int, args: list[str]) -> list[str]:
    """The torchrun command that ``convolab train --nproc N ARGS`` runs (one node, a free port)."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be an integer >= 1, got {nproc!r}")
    # --standalone: a c10d rendezvous on localhost with a port the OS picks (free by construction).
    # --max-restarts 0: a failed rank fails the job at once; resume with --resume instead.
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        "--max-restarts",
        "0",
        "--monitor-interval",
        "0.5",
        "-m",
        "convolab",
        "train",
        *args,
    ]
