"""What each change to the Trainer's step buys, each measured by switching exactly that change (paired runs).

The product is the very step `convolab train` builds (``Trainer.step_fn``, from ``convolab.train.start``
on Fashion-MNIST, batch 256). Each variant is a second Trainer from the same seed that differs in one
thing. Rounds alternate product and variant on the same batches (ABBA order), ``--rounds`` times; the
table gives the median ms per step of each, their ratio, and the largest weight difference after one
step from the same state (0: bit for bit the same update).

Variants:

- ``without KERNEL``: the product with one of its C kernels off (``TrainStep(native=...)``;
  ``convolab.engine.native.NAMES``): what that kernel buys is the variant's time over the product's;
- ``without C kernels``: all of them off (PyTorch's own ops only);
- ``micro-K``: the batch of 256 cut into micro-batches of K images, forward + backward each (for
  cache residency), gradients accumulated with weight K/256, one Adam step (a candidate, not kept).

    python benchmarks/step_changes.py --threads 1 --rounds 5 --steps 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import FASHION_DIR  # noqa: E402

from convolab.engine import native  # noqa: E402
from convolab.engine.step import TrainStep  # noqa: E402


class MicroBatchStep:
    """``step`` (an ``engine.step.TrainStep``) over micro-batches of ``k`` images, one optimizer step."""

    def __init__(self, step: TrainStep, k: int) -> None:
        self.step, self.k = step, k

    def __call__(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        s, n = self.step, x.shape[0]
        fmt = torch.channels_last
        s.model.train()
        total = torch.zeros(())
        for xb, tb in zip(x.split(self.k), target.split(self.k), strict=True):
            xb, tb = xb.contiguous(memory_format=fmt), tb.contiguous(memory_format=fmt)
            loss = s.compute_loss(xb, tb) * (xb.shape[0] / n)  # mean over the batch = weighted chunk means
            loss.backward()
            total += loss.detach()
        s.optimizer.step()
        s.optimizer.zero_grad(set_to_none=True)
        return total


def trainer(work: Path, data_dir: str, limit: int | None):
    from convolab.train import TrainConfig, start

    cfg = TrainConfig(
        dataset="fashion-mnist", data_dir=data_dir, device="cpu", limit=limit, out=str(work / "r")
    )
    return start(cfg, overwrite=True, quiet=True)


def variants(micro: str) -> list[tuple[str, Callable]]:
    """(name, trainer -> step function) for every variant."""

    def without(names: frozenset[str]) -> Callable:
        def make(t):
            t.step_fn.native = names  # before its first step: the plan is built then
            return t.step_fn

        return make

    out = [(f"without {k}", without(frozenset(native.NAMES) - {k})) for k in native.NAMES]
    out.append(("without C kernels", without(frozenset())))
    out += [
        (f"micro-batches of {k}", lambda t, k=int(k): MicroBatchStep(t.step_fn, k))
        for k in micro.split(",")
        if k
    ]
    return out


def same_update(work: Path, data_dir: str, make: Callable, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Max |weight difference| after one step of the product and of the variant from the same state."""
    a, b = trainer(work / "same-a", data_dir, 2048), trainer(work / "same-b", data_dir, 2048)
    a.step_fn(*batch)
    make(b)(*batch)
    for t in (a, b):
        t.log.close()
    pa, pb = a.model.state_dict(), b.model.state_dict()
    return max(float((pa[n] - pb[n]).abs().max()) for n in pa)


def paired(product: Callable, variant: Callable, batches: list, rounds: int) -> tuple[float, float, dict]:
    times: dict[str, list[float]] = {"product": [], "variant": []}
    for r in range(rounds):
        for name in ("product", "variant") if r % 2 == 0 else ("variant", "product"):
            fn = product if name == "product" else variant
            fn(*batches[0])  # warm
            t0 = time.perf_counter()
            for x, t in batches:
                fn(x, t)
            times[name].append((time.perf_counter() - t0) * 1e3 / len(batches))
    return statistics.median(times["product"]), statistics.median(times["variant"]), times


def main(argv: list[str] | None = None) -> list[tuple[str, float, float, float]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6, help="steps per variant per round")
    ap.add_argument("--micro", default="64,128", help="micro-batch sizes to try ('' for none)")
    ap.add_argument("--only", default="", help="comma-separated variant names to run (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=str(FASHION_DIR))
    ap.add_argument("--limit", type=int, default=4096)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(f"C kernels: {native.status()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = trainer(work / "base", a.data_dir, a.limit)
        batches = [(x, t) for x, t, _ in base.source.batches(0, 0, base.steps_per_epoch())][: a.steps]
        for i, (name, make) in enumerate(variants(a.micro)):
            if a.only and name not in a.only.split(","):
                continue
            diff = same_update(work / f"s{i}", a.data_dir, make, batches[0])
            other = trainer(work / f"v{i}", a.data_dir, a.limit)
            mb, mv, times = paired(base.step_fn, make(other), batches, a.rounds)
            other.log.close()
            rows.append((name, mb, mv, diff))
            print(
                f"{name}: product {mb:.1f} ms, variant {mv:.1f} ms (variant/product {mv / mb:.2f}x); "
                f"max |dw| after one step {diff:.2e}; per round {times}",
                flush=True,
            )
        base.log.close()
    return rows


if __name__ == "__main__":
    main()
