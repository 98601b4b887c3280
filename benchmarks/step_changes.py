"""Candidate changes to the Trainer's step, each measured by switching exactly that change (paired runs).

The baseline is the very step `convolab train` builds (``Trainer.step_fn``, from ``convolab.train.start``
on Fashion-MNIST, batch 256); each candidate wraps the same model and optimizer state type and differs
in one thing. Rounds alternate baseline and candidate on the same batches (ABBA order), ``--rounds``
times; the table gives the median ms per step of each and their ratio.

Candidates:

- ``micro-K``: the batch of 256 cut into micro-batches of K images, forward + backward each (its
  activations then fit the 8 MB L3 better: ~37 MB for 256 images), gradients accumulated with weight
  K/256, one Adam step: the same update to float rounding (checked here before timing).

    python benchmarks/step_changes.py --threads 1 --rounds 5 --steps 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import FASHION_DIR  # noqa: E402

from convolab import fastpath  # noqa: E402


class MicroBatchStep:
    """``step`` (a ``fastpath.TrainStep``) over micro-batches of ``k`` images, one optimizer step."""

    def __init__(self, step: fastpath.TrainStep, k: int) -> None:
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


def same_update(work: Path, data_dir: str, k: int, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Max |weight difference| after one step of the product step and of its micro-batched twin."""
    a, b = trainer(work / f"a{k}", data_dir, 2048), trainer(work / f"b{k}", data_dir, 2048)
    a.step_fn(*batch)
    MicroBatchStep(b.step_fn, k)(*batch)
    for t in (a, b):
        t.log.close()
    pa, pb = a.model.state_dict(), b.model.state_dict()
    return max(float((pa[n] - pb[n]).abs().max()) for n in pa)


def main(argv: list[str] | None = None) -> list[tuple[str, float, float, float]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6, help="steps per variant per round")
    ap.add_argument("--micro", default="64,128", help="micro-batch sizes to try")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=str(FASHION_DIR))
    ap.add_argument("--limit", type=int, default=4096)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = trainer(work / "base", a.data_dir, a.limit)
        batches = [(x, t) for x, t, _ in base.source.batches(0, 0, base.steps_per_epoch())][: a.steps]
        for k in map(int, a.micro.split(",")):
            diff = same_update(work, a.data_dir, k, batches[0])
            cand = MicroBatchStep(trainer(work / f"m{k}", a.data_dir, a.limit).step_fn, k)
            times: dict[str, list[float]] = {"base": [], "cand": []}
            for r in range(a.rounds):
                for name in ("base", "cand") if r % 2 == 0 else ("cand", "base"):
                    fn = base.step_fn if name == "base" else cand
                    fn(*batches[0])  # warm
                    t0 = time.perf_counter()
                    for x, t in batches:
                        fn(x, t)
                    times[name].append((time.perf_counter() - t0) * 1e3 / len(batches))
            mb, mc = statistics.median(times["base"]), statistics.median(times["cand"])
            rows.append((f"micro-batches of {k}", mb, mc, diff))
            print(f"micro {k}: product {mb:.1f} ms, candidate {mc:.1f} ms ({mb / mc:.2f}x); "
                  f"max |dw| after one step {diff:.2e}; per round {times}", flush=True)  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
