"""A torchrun worker for tests/test_distributed.py: a few DDP steps of the tiny model on random images.

After every step each rank gathers all ranks' parameters and records the largest difference (it must be
exactly 0); rank 0 writes the final weights and the reduced losses to OUT (torch.save of tensors only).
Usage: ``torchrun --nproc-per-node N tests/dist_worker.py OUT STEPS GLOBAL_BATCH``.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from convolab.engine.device import prepare, to_layout
from convolab.train import distributed as cd
from convolab.train.run_model import build_seeded_model
from convolab.train.session import open_context
from train_support import TINY_SPEC

EXTRA = 3  # a last, uneven global batch of 3 images (shards of 2 and 1 on two ranks)


def data_and_order(steps: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same images and batch order on every rank (and in the single-process reference)."""
    gen = torch.Generator().manual_seed(123)
    images = torch.rand(steps * batch + EXTRA, 1, 8, 8, generator=gen)  # (N, 1, 8, 8)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(5))
    return images, order


def params_spread(model: torch.nn.Module, world: int) -> float:
    """Largest absolute difference between this rank's parameters and any other rank's."""
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    return max(float((g - flat).abs().max()) for g in gathered)


def main(out: str, steps: int, batch: int) -> None:
    ctx = open_context("cpu")
    assert isinstance(ctx, cd.DistContext)
    train(ctx, out, steps, batch)  # every DDP object is freed when it returns
    ctx.shutdown()


def train(ctx: cd.DistContext, out: str, steps: int, batch: int) -> None:
    images, order = data_and_order(steps, batch)
    model = prepare(build_seeded_model(TINY_SPEC, 0), ctx.device)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.9, 0.999), eps=1e-7)
    step = cd.DistributedTrainStep(model, opt, "bce", ctx)
    spreads, losses = [], []
    for s in range(steps + 1):
        idx = order[s * batch : (s + 1) * batch]
        x = to_layout(images[cd.shard(idx, ctx.rank, ctx.world_size)], ctx.device)
        loss = step(x, x, global_n=idx.shape[0])
        losses.append(float(ctx.all_reduce(loss.clone(), "mean")))
        spreads.append(params_spread(model, ctx.world_size))
    if ctx.is_main:
        weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        result = {"weights": weights, "losses": torch.tensor(losses), "spreads": torch.tensor(spreads)}
        torch.save(result, out)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
