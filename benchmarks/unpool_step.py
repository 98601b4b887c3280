"""Median ms per training step of the zoo's ``unpool`` model against its sibling ``seed-upsampling``.

Each variant is ``engine.step.TrainStep`` (Adam from ``engine.optimizer.make_adam``, BCE with logits)
on a model from ``engine.device.prepare`` (channels_last), all from the same seed, on the same
synthetic batch of uniform [0, 1) images. After ``--warmup`` steps each, the rounds interleave the
variants (one round: ``--steps`` steps of each, in order, then in reverse order the next round), and
the table gives each variant's median over all its timed steps and its ratio to seed-upsampling.

Variants: ``seed-upsampling`` (its fused plan), ``unpool`` (its fused plan where ``build_plan``
gives one), ``unpool layer-by-layer`` (``fuse=False``: the model's own forward).

    python benchmarks/unpool_step.py --threads 2 --batch 256 --rounds 10 --steps 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _matrix_runs import cpu  # noqa: E402

from convolab.engine.device import prepare  # noqa: E402
from convolab.engine.optimizer import make_adam  # noqa: E402
from convolab.engine.plan import build_plan  # noqa: E402
from convolab.engine.step import TrainStep  # noqa: E402
from convolab.model.sequential import Sequential  # noqa: E402


def make_step(name: str, fuse: bool) -> TrainStep:
    torch.manual_seed(0)
    model = prepare(Sequential.from_spec(name), "cpu")
    return TrainStep(model, make_adam(model), "bce", fuse=fuse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(args.batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    variants = {
        "seed-upsampling": make_step("seed-upsampling", True),
        "unpool": make_step("unpool", True),
        "unpool layer-by-layer": make_step("unpool", False),
    }
    planned = build_plan(variants["unpool"].model) is not None
    times: dict[str, list[float]] = {k: [] for k in variants}
    for step in variants.values():
        for _ in range(args.warmup):
            step(x, x)
    order = list(variants)
    for r in range(args.rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            step = variants[name]
            for _ in range(args.steps):
                t0 = time.perf_counter()
                step(x, x)
                times[name].append((time.perf_counter() - t0) * 1e3)
    base = statistics.median(times["seed-upsampling"])
    print(f"CPU: {cpu()['model']}; torch {torch.__version__}; threads {args.threads}; batch {args.batch}")
    print(f"unpool planned: {planned}; {args.rounds} rounds x {args.steps} steps per variant")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:24s} median {med:8.2f} ms  ({med / base:.2f}x seed-upsampling)")


if __name__ == "__main__":
    main()
