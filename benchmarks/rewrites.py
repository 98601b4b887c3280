"""What each rewrite and each C kernel buys, model by model: training-step time with exactly one switched off.

For every model of the matrix (every zoo model, ``wide``, ``rgb64``), the product's training step
(``convolab.engine.step.TrainStep`` on a ``prepare``-d model, ``make_adam``, BCE from logits, batch 256:
what ``convolab train`` runs) is timed with everything on, then with exactly one change undone:

- one of the plan's rewrites off (each keyword flag of ``convolab.engine.plan.build_plan``);
- one C kernel off (``native`` = every kernel but that one); all of them off;
- the whole plan off (``fuse=False``: the layer-by-layer model, channels_last and fused Adam kept).

A variant whose plan is the same as everything-on's (``convolab.engine.explain.explain`` lists, per layer,
the rewrite and the kernels that ran) is not timed: that change does nothing for that model, and the
table says so. Variants run interleaved in rounds, so load from other processes hits all alike;
the table reports median ms per step and "bought" = variant / everything-on (above 1: the change
pays). The CPU is named.

    python benchmarks/rewrites.py                       # the whole matrix, 2 threads
    python benchmarks/rewrites.py --models unpool,seed-transpose --rounds 9
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import FASHION_DIR, load_images  # noqa: E402
from _matrix_data import _shape_image  # noqa: E402
from _matrix_runs import cpu  # noqa: E402

from convolab.engine import native as native_kernels  # noqa: E402
from convolab.engine import plan as engine_plan  # noqa: E402
from convolab.engine.allocator import configure_allocator  # noqa: E402
from convolab.engine.device import prepare  # noqa: E402
from convolab.engine.explain import explain  # noqa: E402
from convolab.engine.optimizer import make_adam  # noqa: E402
from convolab.engine.step import TrainStep  # noqa: E402
from convolab.model.sequential import Sequential  # noqa: E402
from convolab.model.zoo import list_models  # noqa: E402

SPECS = {"wide": HERE / "specs" / "wide.yaml", "rgb64": HERE / "specs" / "rgb64.yaml"}
ALL_ON = "everything on"
NO_PLAN = "no plan (layer by layer)"
NO_NATIVE = "no C kernel"


def plan_flags() -> list[str]:
    """The rewrites ``build_plan`` can switch off one at a time: its boolean keyword flags."""
    params = inspect.signature(engine_plan.build_plan).parameters
    flags = (n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and isinstance(p.default, bool))
    return [n for n in flags if n != "native"]


class _FlagStep(TrainStep):
    """``TrainStep`` with the plan built by ``build_plan(**flags)``: the product's step otherwise."""

    def __init__(self, model, optimizer, flags: dict[str, bool], native) -> None:
        super().__init__(model, optimizer, "bce", native=native)
        self._flags = flags

    def forward(self) -> Callable[..., torch.Tensor]:
        if self._forward is None:
            plan = engine_plan.build_plan(self.model, native=self.native, **self._flags)
            if plan is None:
                self._forward = lambda x, logits: self.model(x, logits=logits)
            else:
                self._forward = lambda x, logits: engine_plan.run_plan(plan, x, logits=logits)
        return self._forward


def variants() -> dict[str, dict]:
    """Variant name -> ``{"flags", "native", "fuse"}``; the first is everything on."""
    out: dict[str, dict] = {ALL_ON: {"flags": {}, "native": True, "fuse": True}}
    for flag in plan_flags():
        out[f"rewrite {flag} off"] = {"flags": {flag: False}, "native": True, "fuse": True}
    for name in native_kernels.NAMES:
        rest = tuple(n for n in native_kernels.NAMES if n != name)
        out[f"kernel {name} off"] = {"flags": {}, "native": rest, "fuse": True}
    out[NO_NATIVE] = {"flags": {}, "native": False, "fuse": True}
    out[NO_PLAN] = {"flags": {}, "native": False, "fuse": False}
    return out


def build_model(name: str) -> Sequential:
    torch.manual_seed(0)
    return Sequential.from_spec(str(SPECS[name]) if name in SPECS else name)


def images(name: str, model: Sequential, n: int, data_dir: Path | None) -> torch.Tensor:
    """``n`` training images for ``name``: Fashion-MNIST (28x28 gray), or the matrix's synthetic shapes."""
    c, h, w = model.input_shape
    if (c, h, w) == (1, 28, 28):
        train, _ = load_images(data_dir, n, 1)
        return torch.from_numpy(train).unsqueeze(1)
    rng = np.random.default_rng(0)
    batch = np.stack([_shape_image(rng, h, c) for _ in range(n)]).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))


def make_step(name: str, variant: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    model = prepare(build_model(name), "cpu")
    opt = make_adam(model, 1e-3)
    if not variant["fuse"]:
        step = TrainStep(model, opt, "bce", fuse=False, native=False)
    else:
        step = _FlagStep(model, opt, variant["flags"], variant["native"])
    return lambda xb: step(xb, xb)


def signature(name: str, variant: dict) -> tuple | None:
    """What runs for this variant (``explain``'s rows), or None where no plan is built."""
    if not variant["fuse"]:
        return None
    model = prepare(build_model(name), "cpu")  # the layout training uses: kernels check it
    rows = explain(model, native=variant["native"], **variant["flags"])
    return None if rows is None else tuple(rows)


def measure(name: str, args: argparse.Namespace) -> list[tuple[str, str, float | None, float | None]]:
    """``[(model, variant, ms per step or None, bought)]`` for one model."""
    chosen, seen, every = {}, {}, variants()
    for vname, variant in every.items():
        sig = signature(name, variant)
        key = ("plan", sig) if variant["fuse"] else ("no plan",)
        if key in seen:  # the same plan as an earlier variant: timed once (as everything on: no change)
            chosen[vname] = seen[key]
            continue
        seen[key] = vname
        chosen[vname] = vname
    timed = [v for v, same in chosen.items() if same == v]
    model = build_model(name)
    data = images(name, model, args.batch_size * (args.steps + 2), args.data_dir)
    batches = list(data.split(args.batch_size))
    steps = {}
    for vname in timed:
        torch.manual_seed(0)
        steps[vname] = make_step(name, every[vname])
        for xb in batches[:2]:  # warm-up: oneDNN picks its kernels, C kernels load
            steps[vname](xb)
    times: dict[str, list[float]] = {v: [] for v in timed}
    for r in range(args.rounds):
        for vname in timed if r % 2 == 0 else reversed(timed):
            t0 = time.perf_counter()
            for xb in batches[2:]:
                steps[vname](xb)
            times[vname].append((time.perf_counter() - t0) / (len(batches) - 2) * 1e3)
    base = statistics.median(times[ALL_ON])
    rows = []
    for vname, same in chosen.items():
        if same == ALL_ON and vname != ALL_ON:  # this change does nothing for this model
            rows.append((name, vname, None, None))
            continue
        ms = statistics.median(times[same])  # another variant's plan: that variant's times
        rows.append((name, vname, ms, ms / base))
    return rows


def table(rows: list[tuple[str, str, float | None, float | None]], threads: int, batch: int) -> str:
    lines = [
        f"| model | variant ({threads} threads, batch {batch}) | ms per step | bought (variant / all on) |",
        "|---|---|---|---|",
    ]
    for model, vname, ms, bought in rows:
        if ms is None:
            lines.append(f"| {model} | {vname} | (same plan as everything on) | 1 (not used here) |")
        else:
            lines.append(f"| {model} | {vname} | {ms:.1f} | {bought:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[tuple[str, str, float | None, float | None]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join([*list_models(), *SPECS]), help="comma-separated names")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=4, help="steps per variant per round")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--data-dir", default=str(FASHION_DIR), help="Fashion-MNIST folder, or 'synthetic'")
    args = ap.parse_args(argv)
    args.data_dir = None if args.data_dir == "synthetic" else Path(args.data_dir)
    torch.set_num_threads(args.threads)
    configure_allocator("cpu")  # as a training run does (train.run_model.ready_model)
    info = cpu()
    print(f"CPU: {info['model']} ({', '.join(info['flags']) or 'no AVX2'}), {info['cores']} cores")
    rows = []
    for name in args.models.split(","):
        t0 = time.perf_counter()
        rows += measure(name, args)
        print(f"measured {name} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    print(table(rows, torch.get_num_threads(), args.batch_size))
    return rows


if __name__ == "__main__":
    main()
