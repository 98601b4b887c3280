"""A torchrun worker for tests/test_distributed_stream_train.py: `convolab train --stream on` in 2 ranks.

Each rank records the images its sampler gives it in epoch 0 and, after every training step, the largest
difference between its parameters and any other rank's (it must be exactly 0). Rank 0 writes both to
OUT (json); the run folder is OUT's folder / run.
Usage: ``torchrun --nproc-per-node 2 dist_stream_worker.py DATA SPEC OUT``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from convolab import train as tr
from convolab.train.config import TrainConfig
from convolab.train.folder_source import FolderSource
from convolab.train.streaming import ResumableSampler

BATCH = 8


def spread(model: torch.nn.Module, world: int) -> float:
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    return max(float((g - flat).abs().max()) for g in gathered)


class Checked:
    """The trainer's step function, then ``after()``."""

    def __init__(self, step: Any, after: Any) -> None:
        self.step, self.after = step, after

    def __call__(self, x: torch.Tensor, target: torch.Tensor, **kw: Any) -> torch.Tensor:
        loss = self.step(x, target, **kw)
        self.after()
        return loss


def main(dataset: str, spec: str, out: str) -> None:
    shares, spreads, ctx = run(dataset, spec, out)  # every DDP object is freed when it returns
    if ctx.is_main:
        Path(out).write_text(json.dumps({"shares": shares, "spreads": spreads}))
    ctx.shutdown()


def run(dataset: str, spec: str, out: str) -> tuple[list[list[int] | None], list[float], object]:
    cfg = TrainConfig(
        model=spec,
        dataset=dataset,
        batch_size=BATCH,
        lr=0.01,
        noise=0.1,
        device="cpu",
        epochs=2,
        out=str(Path(out).parent / "run"),
        checkpoint_every=0,
        checkpoint_seconds=0,
        log_every=2,
        stream="on",
        workers=1,
    )
    trainer = tr.start(cfg, quiet=True)
    ctx = trainer.ctx
    assert isinstance(trainer.source, FolderSource)
    sampler = ResumableSampler(
        trainer.source.stream.train,
        world_size=ctx.world_size,
        rank=ctx.rank,
        seed=cfg.seed,
        batch_size=BATCH // ctx.world_size,
    )
    sampler.set_position(0)
    shares: list[list[int] | None] = [None] * ctx.world_size
    dist.all_gather_object(shares, list(sampler))
    spreads: list[float] = []
    trainer.step_fn = Checked(trainer.step_fn, lambda: spreads.append(spread(trainer.model, ctx.world_size)))
    trainer.fit()
    return shares, spreads, ctx


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
