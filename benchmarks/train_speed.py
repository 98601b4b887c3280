"""Time what `convolab train` runs against the lecture's Keras code and a plain PyTorch loop.

Every contender runs in its own process, on the same images (the training split `convolab train`
makes, 54,000 of Fashion-MNIST's 60,000; the 10,000 test images), batch 256, Adam 1e-3, BCE:

- ``convolab train`` itself (``python -m convolab train``), epoch times read from its log.jsonl, test
  BCE from its summary.json; ``--amp bf16`` too where bf16 is native;
- the lecture's Keras code (benchmarks/keras_lecture.py) twice: TensorFlow's default, and with
  ``TF_ENABLE_ONEDNN_OPTS=1``; the faster of the two is the anchor of every ratio;
- the plain PyTorch loop (benchmarks/torch_plain.py), fewer epochs (it is the slowest).

The contenders are interleaved, ``--rounds`` times (the order reversed every other round), with a peak
probe (fp32 matmul and convolution) before each round; the tables give medians over rounds and the load
average at each run's start. Then time-to-quality runs of `convolab train` with the options a user can
pass, the profile of the Trainer's step (torch.profiler), and BENCHMARKS.md's generated section.

    python benchmarks/train_speed.py --threads 1 --rounds 2      # ~20 min on 2 shared cores
    python benchmarks/train_speed.py --quick                     # smoke test: synthetic data, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _contenders as C  # noqa: E402
import _report  # noqa: E402
import _torch_runs as R  # noqa: E402
import torch  # noqa: E402
from _common import FASHION_DIR, TRAIN_FLOP_PER_IMAGE  # noqa: E402

from convolab.engine.device import bf16_supported  # noqa: E402

KERAS = ("Keras, TF default", "Keras, TF_ENABLE_ONEDNN_OPTS=1")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10, help="epochs per run of Keras and convolab (10)")
    ap.add_argument("--torch-epochs", type=int, default=3, help="epochs per run of the plain loop (3)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repetitions of every contender")
    ap.add_argument("--limit", type=int, default=None, help="first N images of each split (all)")
    ap.add_argument("--data-dir", default=str(FASHION_DIR), help="Fashion-MNIST IDX folder, or 'synthetic'")
    ap.add_argument("--only", default="keras,torch,convolab", help="comma list of contenders to run")
    ap.add_argument("--keras-python", default=None, help="python with tensorflow for the Keras runs")
    ap.add_argument(
        "--ttq",
        default="64:1.5e-2:1:onecycle:0.5,128:4e-2:1:onecycle:0.5",
        help="time-to-quality recipes BATCH:LR:EPOCHS[:SCHEDULE[:WARMUP]] of `convolab train` "
        "(SCHEDULE: its --lr-schedule, constant when left out; WARMUP: onecycle's --warmup; '' for none)",
    )
    ap.add_argument("--ttq-batch", type=int, default=None, help="(benchmarks/gpu.sh) one recipe's batch")
    ap.add_argument("--ttq-lr", type=float, default=None, help="(benchmarks/gpu.sh) one recipe's lr")
    ap.add_argument("--ttq-max-epochs", type=int, default=None, help="(benchmarks/gpu.sh) its epochs")
    ap.add_argument("--profile-steps", type=int, default=12, help="Trainer steps profiled (0: none)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--no-bf16", action="store_true", help="skip `convolab train --amp bf16`")
    ap.add_argument("--threads", type=int, default=0, help="threads for every contender (0: defaults)")
    ap.add_argument("--out", default=str(HERE.parent / "BENCHMARKS.md"), help="markdown to update")
    ap.add_argument("--json", default=None, help="also dump raw results here")
    ap.add_argument("--quick", action="store_true", help="smoke test: synthetic 512 images, 2 epochs")
    ap.add_argument(
        "--from-log",
        default=None,
        help="take the rounds from an interrupted run's printed "
        "log (its completed runs), then do the rest (peak probe, time-to-quality, profile)",
    )
    args = ap.parse_args(argv)
    if args.ttq_batch or args.ttq_lr or args.ttq_max_epochs:
        args.ttq = f"{args.ttq_batch or 256}:{args.ttq_lr or 3e-3:g}:{args.ttq_max_epochs or 3}"
    if args.quick:
        args.epochs, args.torch_epochs, args.rounds, args.limit = 2, 2, 1, 512
        args.data_dir, args.profile_steps, args.ttq = "synthetic", 2, "128:3e-3:1:onecycle"
        if "--only" not in " ".join(argv or sys.argv):
            args.only = "torch,convolab"
    try:
        args.recipes = [recipe(r) for r in filter(None, args.ttq.split(","))]
    except ValueError as exc:
        ap.error(f"--ttq: {exc}")
    return args


def recipe(text: str) -> dict:
    """``BATCH:LR:EPOCHS[:SCHEDULE[:WARMUP]]`` as `run_cli`'s keyword arguments (checked by `convolab
    train` itself when it runs; here only the form)."""
    parts = text.split(":")
    if not 3 <= len(parts) <= 5:
        raise ValueError(f"{text!r} is not BATCH:LR:EPOCHS[:SCHEDULE[:WARMUP]]")
    try:
        out = {"batch": int(parts[0]), "lr": float(parts[1]), "epochs": int(parts[2])}
        out["lr_schedule"] = parts[3] if len(parts) > 3 else "constant"
        out["warmup"] = float(parts[4]) if len(parts) > 4 else None
    except ValueError:
        raise ValueError(f"{text!r}: BATCH and EPOCHS are integers, LR and WARMUP numbers") from None
    return out


def recipe_name(r: dict) -> str:
    """The `convolab train` options of a recipe, as a user types them."""
    name = f"convolab train --batch-size {r['batch']} --lr {r['lr']:g} --epochs {r['epochs']}"
    if r["lr_schedule"] != "constant":
        name += f" --lr-schedule {r['lr_schedule']}"
    return name + (f" --warmup {r['warmup']:g}" if r["warmup"] is not None else "")


def contenders(args: argparse.Namespace, data: C.Data) -> list[tuple[str, object]]:
    """(name, run()) for every contender of this run."""
    only, t, e, dev = set(args.only.split(",")), args.threads, args.epochs, args.device
    out: list[tuple[str, object]] = []
    py = C.keras_python(args.keras_python) if "keras" in only and dev == "cpu" else None
    if "keras" in only and py is None:
        print("note: TensorFlow not found (set CONVOLAB_TF_PYTHON or --keras-python): Keras skipped")
    if py:
        for name, onednn in zip(KERAS, (False, True), strict=True):
            out.append(
                (
                    name,
                    lambda n=name, o=onednn: C.run_keras(n, data, epochs=e, threads=t, onednn=o, python=py),
                )
            )
    if "convolab" in only:
        out.append(
            ("convolab train", lambda: C.run_cli("convolab train", data, epochs=e, threads=t, device=dev))
        )
        if bf16_supported(dev) and not args.no_bf16:
            name = "convolab train --amp bf16"
            out.append((name, lambda: C.run_cli(name, data, epochs=e, threads=t, amp="bf16", device=dev)))
    if "torch" in only:
        te = args.torch_epochs
        out.append(
            (
                "PyTorch plain loop",
                lambda: C.run_torch("PyTorch plain loop", data, epochs=te, threads=t, device=dev),
            )
        )
    return out


def peak_probe(device: str, quick: bool) -> dict[str, float]:
    """GFLOP/s of a large fp32 matmul and of a compute-bound fp32 convolution, measured now."""
    size = 256 if quick else 8192 if device == "cuda" else 2048
    return {
        "matmul": R.measure_peak_gflops(size, device=device),
        "conv": R.measure_conv_gflops(device=device),
    }


def run_rounds(args: argparse.Namespace, data: C.Data) -> tuple[dict[str, list[C.Result]], list[dict]]:
    plan = contenders(args, data)
    results: dict[str, list[C.Result]] = {name: [] for name, _ in plan}
    peaks = []
    for r in range(args.rounds):
        peaks.append({**peak_probe(args.device, args.quick), "load": os.getloadavg()[0]})
        for name, run in plan if r % 2 == 0 else plan[::-1]:
            print(f"round {r + 1}/{args.rounds}: {name} (load {os.getloadavg()[0]:.2f})", flush=True)
            res = run()  # type: ignore[operator]
            print(f"  epoch s {[round(s, 2) for s in res.epoch_s]}, test BCE {res.test_bce:.4f}", flush=True)
            results[name].append(res)
    return results, peaks


def from_log(args: argparse.Namespace) -> tuple[dict[str, list[C.Result]], list[dict]]:
    """The completed runs printed by an interrupted run (``round r/n: NAME (load L)`` + its result line)."""
    import ast
    import re

    results: dict[str, list[C.Result]] = {}
    head = None
    for line in Path(args.from_log).read_text().splitlines():
        if m := re.match(r"round \d+/\d+: (.+) \(load ([\d.]+)\)$", line):
            head = (m.group(1), float(m.group(2)))
        elif head and (m := re.match(r"  epoch s (\[.*\]), test BCE ([\d.]+)$", line)):
            results.setdefault(head[0], []).append(
                C.Result(head[0], ast.literal_eval(m.group(1)), float(m.group(2)), load=head[1])
            )
            head = None
    args.rounds = max(len(rs) for rs in results.values())
    return results, [{**peak_probe(args.device, args.quick), "load": os.getloadavg()[0]}]


def ttq_runs(args: argparse.Namespace, data: C.Data, target: float | None) -> list[C.Result]:
    out = []
    for r in args.recipes:
        name = recipe_name(r)
        print(f"time-to-quality: {name}", flush=True)
        res = C.run_cli(name, data, threads=args.threads, device=args.device, **r)
        res.extra["reached"] = target is not None and res.test_bce <= target
        out.append(res)
    return out


def recorded_args(argv: list[str]) -> list[str]:
    """The arguments as BENCHMARKS.md records them: without ``--json PATH`` (where this machine's raw
    results went: an output location, not a setting, and no folder a reader has)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--json":
            skip = True
        elif not arg.startswith("--json="):
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    if args.threads:
        from convolab import set_threads

        set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="convolab-speed-") as tmp:
        work = Path(tmp)
        data = C.prepare_data(args.data_dir, work, args.limit)
        results, peaks = from_log(args) if args.from_log else run_rounds(args, data)
        for name, run in contenders(args, data) if args.from_log else []:
            if not results.get(name):  # not reached before the interruption: one run now
                print(f"{name} (load {os.getloadavg()[0]:.2f})", flush=True)
                results[name] = [run()]  # type: ignore[operator]
        keras = [n for n in KERAS if results.get(n)]
        anchor = min(keras, key=lambda n: med(results[n])) if keras else next(iter(results))
        target = results[anchor][0].test_bce if results.get(anchor) else None
        ttq = ttq_runs(args, data, target)
        profile, step_ms = ([], 0.0)
        if args.profile_steps:
            cli = {
                "dataset": data.cli_args[1],
                "data_dir": None if "folder:" in data.cli_args[1] else args.data_dir,
                "limit": args.limit,
                "device": args.device,
                "stream": "off",
            }
            profile, step_ms = R.profile_trainer(cli, work, args.profile_steps)
    versions = {"torch": torch.__version__}
    for rs in results.values():
        if rs and "tensorflow" in rs[0].extra:
            versions.update(tensorflow=rs[0].extra["tensorflow"], keras=rs[0].extra["keras"])
    if any(n in results for n in KERAS) and "tensorflow" not in versions and (py := C.keras_python(None)):
        import subprocess

        code = "import tensorflow as tf, keras; print(tf.__version__, keras.__version__)"
        tfv, kv = subprocess.run([py, "-c", code], capture_output=True, text=True).stdout.split()[-2:]
        versions.update(tensorflow=tfv, keras=kv)
    given = sys.argv[1:] if argv is None else argv
    command = "python benchmarks/train_speed.py " + " ".join(recorded_args(given))
    md = _report.render_product(
        args,
        data.n_train,
        results,
        anchor,
        ttq,
        target,
        peaks,
        profile,
        step_ms,
        command.strip(),
        versions,
        TRAIN_FLOP_PER_IMAGE,
    )
    print(md)
    _report.write(Path(args.out), md, section=args.device)
    raw = {
        "results": {n: [r.__dict__ for r in rs] for n, rs in results.items()},
        "anchor": anchor,
        "target_bce": target,
        "peaks": peaks,
        "ttq": [r.__dict__ for r in ttq],
        "profile": profile,
        "profile_step_ms": step_ms,
        "n_train": data.n_train,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return raw


def med(runs: list[C.Result]) -> float:
    return statistics.median(r.median_epoch_s for r in runs)


if __name__ == "__main__":
    main()
