"""Distributed data-parallel training (torchrun + DistributedDataParallel): process group and helpers.

How a run is split (see docs/distributed.md):

- ``torchrun`` starts one process per rank and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
  rendezvous address; :func:`init` joins the process group, with ``gloo`` on CPU and ``nccl`` on CUDA
  (each rank on ``cuda:LOCAL_RANK``). Without those variables (or with one process) nothing changes.
- Every rank computes the same epoch permutation (same seed), cuts the same global batch of
  ``--batch-size`` images out of it, and trains on its own contiguous shard of that batch
  (:func:`shard`). Gradients are averaged by DDP during backward.
- Exactness: the single-process loss is the mean over the ``n`` images of the global batch. Rank r
  returns ``sum_r / n * world`` (its per-element sum scaled, :class:`DistributedTrainStep`), so DDP's
  average over ranks is the gradient of ``sum / n``: the same update as one process with the whole
  batch, up to float summation order, also for an uneven last batch.
- Decisions that change control flow (stop on a signal, a time-based checkpoint, a NaN loss) are
  agreed by all ranks at the same step (:func:`any_rank`), so no rank waits forever in a collective.
- Only rank 0 writes (logs, checkpoints, figures): :func:`is_main`, :class:`NullLog`.

Example (two CPU processes on one machine)::

    torchrun --standalone --nproc-per-node 2 -m convolab train --dataset fashion-mnist --epochs 2
    convolab train --nproc 2 --dataset fashion-mnist --epochs 2     # the same, launched for you
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from convolab.fastpath import TrainStep, forward_fn
from convolab.trainconfig import resolve_device

# Seconds a collective may wait for a peer before the job fails (a dead rank must not hang the others).
TIMEOUT_ENV = "CONVOLAB_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` processes, and its device.

    ``enabled`` is False for an ordinary single-process run (rank 0 of 1, no process group).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_CTX: DistContext | None = None


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


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise (CPU clusters, laptops)."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def rank_device(device: str, local_rank: int) -> torch.device:
    """The device of one rank: ``auto``/``cuda`` become ``cuda:LOCAL_RANK``; ``cpu`` stays ``cpu``.

    Raises:
        ValueError: an explicit ``cuda:N`` (each rank must own its GPU), or too few GPUs on this node.
    """
    if isinstance(device, str) and device.startswith("cuda:"):
        raise ValueError(
            f"device {device!r}: under torchrun each rank uses cuda:LOCAL_RANK; pass --device cuda "
            "(or auto) and choose GPUs with CUDA_VISIBLE_DEVICES"
        )
    dev = resolve_device(device)
    if dev.type != "cuda":
        return dev
    if local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"local rank {local_rank} needs a GPU but this node has {torch.cuda.device_count()}; "
            "start at most that many processes per node (--nproc-per-node)"
        )
    return torch.device("cuda", local_rank)


def timeout_seconds() -> float:
    """The collective timeout: ``$CONVOLAB_DIST_TIMEOUT`` seconds, default 300."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    return value


def init(device: str = "auto") -> DistContext:
    """Join torchrun's process group (once) and return this process's :class:`DistContext`.

    Outside torchrun, or with ``WORLD_SIZE=1``, returns a disabled context for ``device``.
    """
    global _CTX
    if _CTX is not None:
        return _CTX
    ranks = env_ranks()
    if ranks is None or ranks[1] == 1:
        return DistContext(device=resolve_device(device))
    rank, world, local = ranks
    dev = rank_device(device, local)
    backend = backend_for(dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        # env:// rendezvous (MASTER_ADDR/PORT from torchrun); the timeout bounds every collective.
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_seconds()))
    _CTX = DistContext(rank, world, local, backend, dev)
    return _CTX


def current() -> DistContext:
    """The context set by :func:`init`, or the single-process one."""
    return _CTX if _CTX is not None else DistContext()


def shutdown(*, sync: bool = True) -> None:
    """Leave the process group (idempotent).

    With ``sync`` (the normal end of a job) every rank first meets at a barrier: a rank that destroys its
    gloo connections while a peer is still finishing (rank 0 writing its files) makes that peer abort
    with "terminate called without an active exception". Pass ``sync=False`` on error paths, where a peer
    may be gone and a barrier would only wait for the timeout. Callers drop their DDP modules first: a
    DDP reducer that outlives its process group aborts the process when it is freed.
    """
    global _CTX
    if dist.is_initialized():
        gc.collect()  # DDP modules caught in reference cycles go now, while the group still exists
        if sync:
            barrier()
        dist.destroy_process_group()
    _CTX = None


def is_main() -> bool:
    """True on rank 0 (and in single-process runs): the one process that writes files."""
    return current().is_main


def check_batch_size(batch_size: int, world_size: int) -> None:
    """The global batch is split evenly across ranks, so it must be divisible by the world size."""
    if batch_size % world_size:
        lo = batch_size - batch_size % world_size
        raise ValueError(
            f"--batch-size {batch_size} (the global batch) cannot be split evenly across {world_size} "
            f"processes; use a multiple of {world_size}, e.g. {lo or world_size} or {lo + world_size}"
        )


def shard(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s contiguous part of ``batch`` (along dim 0): sizes differ by at most one."""
    return torch.tensor_split(batch, world_size)[rank]


def _comm_device() -> torch.device:
    ctx = current()
    return ctx.device if ctx.backend == "nccl" else torch.device("cpu")


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """In-place all-reduce of ``tensor`` (``sum``, ``mean`` or ``max``); a no-op in single-process runs."""
    ops = {"sum": dist.ReduceOp.SUM, "mean": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}
    if op not in ops:
        raise ValueError(f"all_reduce: op must be one of {', '.join(ops)}, got {op!r}")
    ctx = current()
    if not ctx.enabled:
        return tensor
    dist.all_reduce(tensor, op=ops[op])
    if op == "mean":
        tensor /= ctx.world_size
    return tensor


def all_reduce_cpu(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """:func:`all_reduce` of a CPU tensor whatever the backend (NCCL reduces on this rank's GPU)."""
    return all_reduce(tensor.to(_comm_device()), op).cpu()


def reduce_floats(values: list[float], op: str = "sum") -> list[float]:
    """All-reduce a few Python floats at once (float64, one collective)."""
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    return [float(v) for v in all_reduce(t, op).cpu()]


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is True on at least one (a collective: call it on all ranks)."""
    if not current().enabled:
        return bool(flag)
    return reduce_floats([1.0 if flag else 0.0], "max")[0] > 0


def reduce_metric_sums(sums: dict[str, float], count: int) -> tuple[dict[str, float], int]:
    """Sum per-image metric sums and image counts over ranks (means are then exact over all images)."""
    names = sorted(sums)
    total = reduce_floats([sums[n] for n in names] + [float(count)])
    return dict(zip(names, total[:-1], strict=True)), int(round(total[-1]))


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (JSON-sized objects; pickled in memory, never from disk)."""
    if not current().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def on_main(fn, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on rank 0 only and give every rank its result, or raise its error on every rank.

    For file-system work that must happen once (check and create the run folder) while all ranks must
    take the same branch: a ``ValueError``/``OSError`` on rank 0 is raised as a ``ValueError`` with the
    same message on the other ranks instead of leaving them waiting in the next collective.
    """
    if not current().enabled:
        return fn(*args, **kwargs)
    outcome: tuple[Any, str | None] = (None, None)
    error: Exception | None = None
    if current().is_main:
        try:
            outcome = (fn(*args, **kwargs), None)
        except (ValueError, OSError) as exc:
            error, outcome = exc, (None, str(exc) or type(exc).__name__)
    result, message = broadcast_object(outcome)
    if error is not None:
        raise error
    if message is not None:
        raise ValueError(message)
    return result


def barrier() -> None:
    """Wait for every rank (e.g. until rank 0 has written a checkpoint)."""
    ctx = current()
    if not ctx.enabled:
        return
    if ctx.backend == "nccl":
        dist.barrier(device_ids=[ctx.device.index])  # NCCL: say which GPU, do not guess
    else:
        dist.barrier()


class NullLog:
    """Stands in for ``RunLog`` on ranks other than 0: accepts every call, writes nothing."""

    def write(self, kind: str, **fields: Any) -> None:
        pass

    def close(self) -> None:
        pass


class _PlanForward(nn.Module):
    """A module whose forward is convolab's fused plan of ``model``, so DDP can wrap it."""

    def __init__(self, model: nn.Module, fuse: bool) -> None:
        super().__init__()
        self.model = model
        self._run = forward_fn(model, fuse)

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        return self._run(x, logits)


class DistributedTrainStep(TrainStep):
    """:class:`~convolab.fastpath.TrainStep` on this rank's shard, gradients averaged by DDP.

    Set ``global_n`` (images in the whole global batch) before each call; the returned loss is this
    rank's share, ``sum over its images / global_n * world``, whose mean over ranks is the global
    batch's mean loss (reduce with :func:`all_reduce` ``op="mean"``).

    Args:
        model: a ``prepare``-d model (the same weights on every rank; DDP broadcasts rank 0's anyway).
        optimizer: the optimizer over ``model``'s parameters.
        loss: ``"bce"`` or ``"mse"``.
        ctx: the :class:`DistContext` from :func:`init`.
        amp: ``None`` or ``"bf16"`` (autocast of the forward pass, as in ``TrainStep``).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss: str,
        ctx: DistContext,
        *,
        fuse: bool = True,
        amp: str | None = None,
    ) -> None:
        super().__init__(model, optimizer, loss, fuse=fuse, amp=amp)
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.world = ctx.world_size
        self.global_n: int | None = None
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        # No buffers to keep in sync (convolab layers hold parameters only): skip that collective.
        self.ddp = DDP(_PlanForward(model, fuse), device_ids=ids, forward_sync_buffers=False)

    def compute_loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.global_n is None or self.global_n < x.shape[0]:
            raise ValueError(f"DistributedTrainStep: set global_n (>= {x.shape[0]}), got {self.global_n}")
        scale = self.world / (self.global_n * max(target[0].numel() if target.shape[0] else 1, 1))
        if x.shape[0] == 0:
            # An empty share of a short last batch: DDP needs a backward on every rank, and the autograd
            # of some kernels (pixel shuffle) fails on an empty batch. One zero image weighted 0 adds
            # exactly nothing to the gradient.
            x, target, scale = x.new_zeros((1, *x.shape[1:])), target.new_zeros((1, *target.shape[1:])), 0.0
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp is not None):
            out = self.ddp(x, logits=self.loss == "bce")
        out = out.float()  # the loss in fp32 whatever the forward's precision
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(out, target, reduction="sum") * scale
        return F.mse_loss(out, target, reduction="sum") * scale


def _threads_per_rank(nproc: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // nproc)


def launch_command(nproc: int, args: list[str]) -> list[str]:
    """The torchrun command that ``convolab train --nproc N ARGS`` runs (one node, a free port)."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"--nproc must be an integer >= 1, got {nproc!r}")
    # --standalone: a c10d rendezvous on localhost with a port the OS picks (free by construction).
    # --max-restarts 0: a failed rank fails the job at once; resume with --resume instead.
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
            "--max-restarts", "0", "--monitor-interval", "0.5", "-m", "convolab", "train", *args]  # fmt: skip


def launch(nproc: int, args: list[str], *, env: dict[str, str] | None = None) -> int:
    """Run ``convolab train ARGS`` in ``nproc`` processes under torchrun; return the exit code.

    Ctrl-C reaches the workers directly (same process group); SIGTERM to this process is passed on to
    torchrun, which passes it to every rank. Either way the ranks save ``last`` and stop together, and
    the exit code is 128 + the signal, as for a single-process run. CPU threads are split between the
    ranks (``OMP_NUM_THREADS`` = cores // nproc unless set).
    """
    cmd = launch_command(nproc, args)
    env = dict(os.environ if env is None else env)
    env.setdefault("OMP_NUM_THREADS", str(_threads_per_rank(nproc)))
    got: list[int] = []
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum: int, frame: object) -> None:
        got.append(signum)
        if signum == signal.SIGTERM and proc.poll() is None:
            proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = proc.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if got:
        return 128 + got[0]
    return rc
