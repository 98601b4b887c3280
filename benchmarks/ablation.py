"""Which of convolab's speed-ups buys what: training-step time of each variant, measured interleaved.

Every variant trains the lecture's first autoencoder (seed-upsampling) on the same batches; rounds of
``--steps`` steps run variant after variant, ``--rounds`` times, so load from other processes hits all
of them alike. Reports the median ms per step and the ratio to the plain PyTorch loop.

    python benchmarks/ablation.py --threads 2 --rounds 7
    python benchmarks/ablation.py --compile     # adds torch.compile variants (slow to compile)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _torch_runs as R  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _common import FASHION_DIR, load_images  # noqa: E402

from convolab.engine import plan as fastplan  # noqa: E402
from convolab.engine.allocator import configure_allocator  # noqa: E402
from convolab.engine.device import prepare  # noqa: E402
from convolab.engine.optimizer import make_adam  # noqa: E402


def convolab_step(
    *, channels_last=True, logits=True, fused_adam=True, pool_first=True, subpixel=True, compile_mode=None
):
    """A training step built from the chosen ingredients (each one switchable)."""
    model = R.convolab_model()
    if channels_last:
        configure_allocator("cpu")  # the Trainer's heap tuning (prepare did it when this was measured)
        model = prepare(model, "cpu")
    opt = make_adam(model, 1e-3, fused=fused_adam or None)  # the product's Adam (Keras eps 1e-7)
    plan = fastplan.build_plan(model, pool_first=pool_first, subpixel=subpixel)

    def forward(x, lg):
        return fastplan.run_plan(plan, x, logits=lg)

    if compile_mode is not None:
        forward = torch.compile(forward, mode=None if compile_mode == "default" else compile_mode)
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def step(xb):
        xb = xb.contiguous(memory_format=fmt)
        if logits:
            loss = F.binary_cross_entropy_with_logits(forward(xb, True), xb)
        else:
            loss = F.binary_cross_entropy(forward(xb, False), xb)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


# Each row switches on exactly one more ingredient than the row before (tests/test_benchmarks.py).
ABLATION = [
    ("convolab Sequential, NCHW, layer by layer",
     dict(channels_last=False, logits=False, fused_adam=False, pool_first=False, subpixel=False)),
    ("+ channels_last", dict(logits=False, fused_adam=False, pool_first=False, subpixel=False)),
    ("+ BCE from logits", dict(fused_adam=False, pool_first=False, subpixel=False)),
    ("+ fused Adam", dict(pool_first=False, subpixel=False)),
    ("+ pool before ReLU (in place)", dict(subpixel=False)),
    ("+ sub-pixel upsample+conv", dict()),
]  # fmt: skip


def product_step():
    """Exactly the step and optimizer ``convolab train`` runs: ``Trainer`` builds them this way."""
    from convolab.train.context import LocalContext

    configure_allocator("cpu")  # as the Trainer does
    model = prepare(R.convolab_model(), "cpu")
    step_fn = LocalContext().train_step(model, make_adam(model, 1e-3), "bce", None)
    return lambda xb: step_fn(xb, xb)


def variants(with_compile: bool) -> dict:
    v = {"PyTorch plain loop (NCHW, sigmoid + BCE, Adam defaults)": lambda: R.plain_variant().build()[0]}
    for name, kw in ABLATION:
        v[name] = lambda kw=kw: convolab_step(**kw)
    v["= the Trainer's step (convolab train)"] = product_step
    if with_compile:
        v["fastpath + torch.compile (default)"] = lambda: convolab_step(compile_mode="default")
        v["fastpath + torch.compile (max-autotune-no-cudagraphs)"] = lambda: convolab_step(
            compile_mode="max-autotune-no-cudagraphs"
        )
    return v


def main(argv: list[str] | None = None) -> list[tuple[str, float, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: usable cores)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=5, help="steps per variant per round")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--compile", action="store_true", help="also measure torch.compile variants")
    ap.add_argument("--data-dir", default=str(FASHION_DIR), help="Fashion-MNIST folder or 'synthetic'")
    args = ap.parse_args(argv)
    import os

    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    data = None if args.data_dir == "synthetic" else Path(args.data_dir)
    xtr, _ = load_images(data, args.batch_size * (args.steps + 3), 1)
    batches = R.to_tensor(xtr).split(args.batch_size)
    steps, times = {}, {}
    for name, make in variants(args.compile).items():
        torch.manual_seed(0)
        t0 = time.perf_counter()
        steps[name] = make()
        for xb in batches[:3]:  # warm-up (and compilation)
            steps[name](xb)
        print(f"built {name} (warm-up {time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        times[name] = []
    for _ in range(args.rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for xb in batches[3:]:
                step(xb)
            times[name].append((time.perf_counter() - t0) / (len(batches) - 3) * 1e3)
    base = statistics.median(next(iter(times.values())))
    rows = [(n, statistics.median(t), base / statistics.median(t)) for n, t in times.items()]
    print(
        f"| variant ({torch.get_num_threads()} threads, batch {args.batch_size}) | ms per step | speed-up |"
    )
    print("|---|---|---|")
    for n, ms, r in rows:
        print(f"| {n} | {ms:.1f} | {r:.2f}x |")
    return rows


if __name__ == "__main__":
    main()
