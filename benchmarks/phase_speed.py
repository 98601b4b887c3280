"""Training-step time of the zoo's upsampling models with the plan's phase-convolution rewrites on/off.

Each variant is a ``TrainStep`` (Adam, BCE with logits, channels_last via ``engine.device.prepare``)
whose forward is ``build_plan`` with the variant's flags; rounds of ``--steps`` steps run variant
after variant, ``--rounds`` times (interleaved, so load from other processes hits all alike), after
``--warmup`` steps each. Prints the median ms per step, and the speed-up over the first variant as
the median over rounds of the ratio within each round (robust to load that drifts between rounds).

    python benchmarks/phase_speed.py --threads 2 --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from convolab.engine import plan as fastplan
from convolab.engine.allocator import configure_allocator
from convolab.engine.device import prepare
from convolab.engine.optimizer import make_adam
from convolab.engine.step import TrainStep
from convolab.model.sequential import Sequential

VARIANTS: dict[str, dict] = {
    "all off (subpixel=False, transpose=False)": dict(subpixel=False, transpose=False),
    "subpixel only": dict(transpose=False),
    "transpose only": dict(subpixel=False),
    "all on (default)": dict(),
    "all on + STRIDED_TRANSPOSE": dict(strided=True),
}
MODELS = ("seed-upsampling", "seed-transpose", "bed-of-nails", "strided-transpose")


class PlanStep(TrainStep):
    """``TrainStep`` whose forward is the model's plan built with the given ``build_plan`` flags."""

    def __init__(self, model, optimizer, flags: dict) -> None:
        super().__init__(model, optimizer, "bce")
        self.flags = dict(flags)

    def forward(self) -> Callable[..., torch.Tensor]:
        if self._forward is None:
            strided = self.flags.pop("strided", fastplan.STRIDED_TRANSPOSE)
            saved, fastplan.STRIDED_TRANSPOSE = fastplan.STRIDED_TRANSPOSE, strided
            try:
                plan = fastplan.build_plan(self.model, **self.flags)
            finally:
                fastplan.STRIDED_TRANSPOSE = saved
            assert plan is not None
            self._forward = lambda x, logits=False: fastplan.run_plan(plan, x, logits=logits)
        return self._forward


def make_step(name: str, flags: dict, batch: torch.Tensor) -> Callable[[], None]:
    torch.manual_seed(0)
    model = prepare(Sequential.from_spec(name), "cpu")
    step = PlanStep(model, make_adam(model, 1e-3), flags)
    return lambda: step(batch, batch)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    configure_allocator("cpu")
    batch = torch.rand(args.batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    out: dict[str, dict[str, float]] = {}
    for name in args.models:
        variants = {
            v: f
            for v, f in VARIANTS.items()
            if name == "strided-transpose" or not {"strided", "specialised"} & set(f)
        }
        steps = {v: make_step(name, f, batch) for v, f in variants.items()}
        for run in steps.values():
            for _ in range(args.warmup):
                run()
        times: dict[str, list[float]] = {v: [] for v in steps}
        for _ in range(args.rounds):
            for v, run in steps.items():
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    run()
                times[v].append((time.perf_counter() - t0) * 1e3 / args.steps)
        med = {v: statistics.median(t) for v, t in times.items()}
        base = next(iter(times.values()))
        print(f"\n{name} (batch {args.batch}, {args.threads} threads, median of {args.rounds} rounds)")
        for v, m in med.items():
            ratio = statistics.median(b / t for b, t in zip(base, times[v], strict=True))
            print(f"  {v:45s} {m:7.2f} ms/step  {ratio:5.2f}x")
        out[name] = med
    return out


if __name__ == "__main__":
    main()
