"""Distributed data-parallel training (torchrun + DistributedDataParallel): process group and helpers.

How a run is split (see docs/distributed.md):

- ``torchrun`` starts one process per rank and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
  rendezvous address; :func:`join` (called by ``convolab.train.session.open_context``) joins the
  process group, with ``gloo`` on CPU and ``nccl`` on CUDA
  (each rank on ``cuda:LOCAL_RANK``). Without those variables (or with one process) nothing changes.
- Every rank computes the same epoch permutation (same seed), cuts the same global batch of
  ``--batch-size`` images out of it, and trains on its own contiguous shard of that batch
  (``DistContext.shard``). Gradients are averaged by DDP during backward.
- Exactness: the single-process loss is the mean over the ``n`` images of the global batch. Rank r
  returns ``sum_r / n * world`` (its per-element sum scaled, :class:`DistributedTrainStep`), so DDP's
  average over ranks is the gradient of ``sum / n``: the same update as one process with the whole
  batch, up to float summation order, also for an uneven last batch.
- Decisions that change control flow (stop on a signal, a time-based checkpoint, a NaN loss) are
  agreed by all ranks at the same step (``DistContext.agree_save``, ``any_rank``), and a rank acts on the
  agreed value only, never on a signal it alone has seen, so no rank waits forever in a collective.
- Only rank 0 writes (logs, checkpoints, figures): ``DistContext.is_main``, ``NullLog``.

Example (two CPU processes on one machine)::

    torchrun --standalone --nproc-per-node 2 -m convolab train --dataset fashion-mnist --epochs 2
    convolab train --nproc 2 --dataset fashion-mnist --epochs 2     # the same, launched for you
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from convolab.engine.predict import forward_fn
from convolab.engine.step import TrainStep
from convolab.train.context import (
    LocalContext,
    NullLog,
    check_batch_size,
    check_op,
    env_ranks,
    launch_command,
    shard,
)
from convolab.train.device import resolve_device
from convolab.train.lost_peer import NPROC_ENV

__all__ = [
    "DistContext",
    "DistributedTrainStep",
    "NullLog",
    "backend_for",
    "check_batch_size",
    "env_ranks",
    "join",
    "launch",
    "launch_command",
    "rank_device",
    "shard",
    "timeout_seconds",
]

# Seconds a collective may wait for a peer before the job fails (a dead rank must not hang the others).
TIMEOUT_ENV = "CONVOLAB_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0
_OPS = {"sum": dist.ReduceOp.SUM, "mean": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}


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
            f"device {device!r}: under torchrun each rank uses cuda:LOCAL_RANK; use device cuda "
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


def join(device: str, rank: int, world: int, local: int) -> DistContext:
    """Join torchrun's process group (once per process) and return this rank's :class:`DistContext`."""
    dev = rank_device(device, local)
    backend = backend_for(dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        # env:// rendezvous (MASTER_ADDR/PORT from torchrun); the timeout bounds every collective.
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_seconds()))
    return DistContext(device=dev, rank=rank, world_size=world, local_rank=local, backend=backend)


@dataclass(frozen=True)
class DistContext(LocalContext):
    """One rank of a torchrun job: the collectives of :class:`LocalContext`, for real."""

    def _comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        return shard(batch, self.rank, self.world_size)

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        check_op(op)
        dist.all_reduce(tensor, op=_OPS[op])
        if op == "mean":
            tensor /= self.world_size
        return tensor

    def all_reduce_cpu(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        return self.all_reduce(tensor.to(self._comm_device()), op).cpu()

    def reduce_floats(self, values: list[float], op: str = "sum") -> list[float]:
        """All-reduce a few Python floats at once (float64, one collective)."""
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        return [float(v) for v in self.all_reduce(t, op).cpu()]

    def any_rank(self, flag: bool) -> bool:
        return self.reduce_floats([1.0 if flag else 0.0], "max")[0] > 0

    def reduce_metric_sums(self, sums: dict[str, float], count: int) -> tuple[dict[str, float], int]:
        names = sorted(sums)
        total = self.reduce_floats([sums[n] for n in names] + [float(count)])
        return dict(zip(names, total[:-1], strict=True)), int(round(total[-1]))

    def broadcast_object(self, obj: Any, src: int = 0) -> Any:
        """``obj`` from rank ``src`` on every rank (small objects, pickled in memory, never from disk)."""
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def on_main(self, fn, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on rank 0 only and give every rank its result, or raise its error on every rank.

        For file-system work that must happen once (check and create the run folder) while all ranks
        must take the same branch: a ``ValueError``/``OSError`` on rank 0 is raised as a ``ValueError``
        with the same message on the other ranks instead of leaving them waiting in the next collective.
        """
        outcome: tuple[Any, str | None] = (None, None)
        error: Exception | None = None
        if self.is_main:
            try:
                outcome = (fn(*args, **kwargs), None)
            except (ValueError, OSError) as exc:
                error, outcome = exc, (None, str(exc) or type(exc).__name__)
        result, message = self.broadcast_object(outcome)
        if error is not None:
            raise error
        if message is not None:
            raise ValueError(message)
        return result

    def barrier(self) -> None:
        """Wait for every rank (e.g. until rank 0 has written a checkpoint)."""
        if self.backend == "nccl":
            dist.barrier(device_ids=[self.device.index])  # NCCL: say which GPU, do not guess
        else:
            dist.barrier()

    def agree_save(
        self, stop_signal: int | None, by_steps: bool, due: bool, *, at_sync: bool
    ) -> tuple[int | None, bool]:
        """Ranks agree at sync steps (every ``log_every``) on a signal or a timed save; between them
        they act on step counts only, which every rank knows without talking. A signal one rank has
        seen waits for the next sync step (a peer may not have it yet): stopping on it alone would
        leave that peer in a collective with a process that has gone."""
        if not at_sync:
            return None, by_steps
        signum, agreed = self.reduce_floats([float(stop_signal or 0), float(due)], "max")
        return (int(signum) if signum else None), bool(signum or agreed)

    def shutdown(self, *, sync: bool = True) -> None:
        """Leave the process group (idempotent).

        With ``sync`` (the normal end of a job) every rank first meets at a barrier: a rank that destroys
        its gloo connections while a peer is still finishing (rank 0 writing its files) makes that peer
        abort with "terminate called without an active exception". Pass ``sync=False`` on error paths,
        where a peer may be gone and a barrier would only wait for the timeout. Callers drop their DDP
        modules first: a DDP reducer that outlives its process group aborts the process when it is freed.
        """
        if dist.is_initialized():
            gc.collect()  # DDP modules caught in reference cycles go now, while the group still exists
            if sync:
                self.barrier()
            dist.destroy_process_group()

    def train_step(self, model: Any, optimizer: Any, loss: str, amp: str | None) -> Any:
        return DistributedTrainStep(model, optimizer, loss, self, amp=amp)


class _PlanForward(nn.Module):
    """A module whose forward is convolab's fused plan of ``model``, so DDP can wrap it."""

    def __init__(self, model: nn.Module, fuse: bool) -> None:
        super().__init__()
        self.model = model
        self._run = forward_fn(model, fuse)

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        return self._run(x, logits)


def _grads_in_param_strides(model: nn.Module) -> None:
    """Hand DDP each gradient in its parameter's exact strides.

    DDP's reducer compares a gradient's strides with its bucket view's (the parameter's) exactly, size-1
    dimensions included, while autograd's layout contract ignores those: a channels_last ``(1, C, k, k)``
    kernel (a decoder's last convolution) gets gradients whose first stride is ``C`` where the parameter
    has ``C*k*k``. The reducer then warns ("Grad strides do not match bucket view strides") on every run
    and copies through a slow path. A hook on such parameters restrides the gradient (a copy of a few
    hundred numbers) before it reaches the reducer; others are untouched.
    """

    def restride(p: torch.Tensor):
        def hook(g: torch.Tensor) -> torch.Tensor:
            if g.stride() == p.stride():
                return g
            return torch.empty_strided(p.shape, p.stride(), dtype=g.dtype, device=g.device).copy_(g)

        return hook

    for p in model.parameters():
        if p.requires_grad and 1 in p.shape and p.dim() > 1:
            p.register_hook(restride(p))


class DistributedTrainStep(TrainStep):
    """:class:`~convolab.engine.step.TrainStep` on this rank's shard, gradients averaged by DDP.

    Each call takes ``global_n`` (images in the whole global batch): ``step(x, target, global_n=n)``.
    The returned loss is this rank's share, ``sum over its images / global_n * world``, whose mean over
    ranks is the global batch's mean loss (reduce with ``DistContext.all_reduce`` ``op="mean"``). Only
    the loss scale and the forward (the DDP module) differ from ``TrainStep``.

    Args:
        model: a ``prepare``-d model (the same weights on every rank; DDP broadcasts rank 0's anyway).
        optimizer: the optimizer over ``model``'s parameters.
        loss: ``"bce"`` or ``"mse"``.
        ctx: the :class:`DistContext` from :func:`join`.
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
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        # No buffers to keep in sync (convolab layers hold parameters only): skip that collective.
        self.ddp = DDP(_PlanForward(model, fuse), device_ids=ids, forward_sync_buffers=False)
        _grads_in_param_strides(model)

    def forward(self) -> Callable[..., torch.Tensor]:
        """The DDP module around the fused plan: its backward averages the gradients over ranks."""
        return self.ddp

    def loss_scale(
        self, x: torch.Tensor, target: torch.Tensor, global_n: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """This rank's per-element sum times ``world / (global_n * values per image)``."""
        if global_n is None or global_n < x.shape[0]:
            raise ValueError(
                f"DistributedTrainStep: pass global_n (images in the global batch, >= {x.shape[0]}), "
                f"got {global_n}"
            )
        scale = self.world / (global_n * max(target[0].numel() if target.shape[0] else 1, 1))
        if x.shape[0] == 0:
            # An empty share of a short last batch: DDP needs a backward on every rank, and the autograd
            # of some kernels (pixel shuffle) fails on an empty batch. One zero image weighted 0 adds
            # exactly nothing to the gradient.
            x, target, scale = x.new_zeros((1, *x.shape[1:])), target.new_zeros((1, *target.shape[1:])), 0.0
        return x, target, scale


def _threads_per_rank(nproc: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // nproc)


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
    env[NPROC_ENV] = str(nproc)  # the workers name `convolab train --nproc N --resume` when a peer is lost
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
