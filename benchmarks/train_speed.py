"""Train the lecture's first autoencoder with Keras, a plain PyTorch loop and convolab; compare speed.

One command reproduces BENCHMARKS.md:

    python benchmarks/train_speed.py            # full: 60,000 Fashion-MNIST images, 10 epochs each
    python benchmarks/train_speed.py --quick    # seconds: synthetic data, tiny sizes, no Keras

Keras runs in a subprocess with ``--keras-python`` (default: $CONVOLAB_TF_PYTHON, /work/venv-tf, or this
interpreter if it imports tensorflow); without TensorFlow that column is skipped with a note. Per-epoch
times exclude the validation pass (reported separately) and the untimed quality evaluation; the first
epoch is left out of the median (warm-up). Absolute times on a shared machine are noise: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _report  # noqa: E402
import _torch_runs as R  # noqa: E402
import torch  # noqa: E402
from _common import FASHION_DIR, TRAIN_FLOP_PER_IMAGE, load_images  # noqa: E402

from convolab import fastpath  # noqa: E402


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10, help="epochs per contender at batch 256 (10)")
    ap.add_argument("--train-size", type=int, default=60000)
    ap.add_argument("--test-size", type=int, default=10000)
    ap.add_argument("--data-dir", default=str(FASHION_DIR), help="Fashion-MNIST IDX folder, or 'synthetic'")
    ap.add_argument("--only", default="keras,torch,convolab", help="comma list of contenders to run")
    ap.add_argument("--keras-python", default=None, help="python with tensorflow for the Keras run")
    ap.add_argument("--ttq-batch", type=int, default=256, help="convolab's batch for time-to-quality")
    ap.add_argument("--ttq-lr", type=float, default=3e-3, help="convolab's Adam lr for time-to-quality")
    ap.add_argument("--ttq-max-epochs", type=int, default=10)
    ap.add_argument("--ttq-evals", type=int, default=4, help="quality checks per epoch in the ttq run")
    ap.add_argument("--profile-steps", type=int, default=12, help="training steps profiled (0: none)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (GPU variants: bf16, CUDA graphs)")
    ap.add_argument("--cl-only", action="store_true", help="also train 'convolab, channels_last only'")
    ap.add_argument("--no-bf16", action="store_true", help="skip 'convolab bf16' (CPU, when supported)")
    ap.add_argument("--threads", type=int, default=0, help="threads for every contender (0: defaults)")
    ap.add_argument("--out", default=str(HERE.parent / "BENCHMARKS.md"), help="markdown to update")
    ap.add_argument("--json", default=None, help="also dump raw results here")
    ap.add_argument("--quick", action="store_true", help="smoke test: synthetic 1024/256 images, 2 epochs")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.train_size, args.test_size = 2, 512, 128
        args.data_dir, args.ttq_max_epochs, args.profile_steps, args.ttq_batch = "synthetic", 2, 2, 128
        if "--only" not in " ".join(argv or sys.argv):
            args.only = "torch,convolab"
    return args


def keras_python(explicit: str | None) -> str | None:
    candidates = [explicit, os.environ.get("CONVOLAB_TF_PYTHON"), "/work/venv-tf/bin/python", sys.executable]
    for py in filter(None, candidates):
        if Path(py).exists():
            ok = subprocess.run([py, "-c", "import tensorflow"], capture_output=True).returncode == 0
            if ok:
                return py
            if py == explicit:
                raise SystemExit(f"error: --keras-python {py} cannot import tensorflow")
    return None


def run_keras(args: argparse.Namespace) -> dict | None:
    py = keras_python(args.keras_python)
    if py is None:
        print(
            "note: TensorFlow not found (pip install -e '.[bench]' or set CONVOLAB_TF_PYTHON): Keras skipped"
        )
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "keras.json"
        cmd = [
            py,
            str(HERE / "keras_lecture.py"),
            "--epochs",
            str(args.epochs),
            "--out",
            str(out),
            "--train-size",
            str(args.train_size),
            "--test-size",
            str(args.test_size),
            "--data-dir",
            args.data_dir,
            "--threads",
            str(args.threads),
        ]
        print("running Keras:", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        return json.loads(out.read_text())


def keras_run(k: dict) -> R.Run:
    run = R.Run("Keras (lecture code, TF CPU)", 256, 1e-3)
    run.epoch_train_s, run.epoch_val_s = k["epoch_train_s"], k["epoch_val_s"]
    run.test_bce, run.test_mse = k["test_bce"], k["test_mse"]
    run.predict_images_per_s = k["predict_images_per_s"]["1024"]
    return run


def ttq_from_history(run: R.Run, target: float) -> None:
    """Time-to-quality from a run's per-epoch history: training time up to the first epoch at target."""
    elapsed = 0.0
    for i, (secs, bce) in enumerate(zip(run.epoch_train_s, run.test_bce, strict=True)):
        elapsed += secs
        if bce <= target:
            run.ttq_s, run.ttq_epochs = elapsed, float(i + 1)
            return


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    only = set(args.only.split(","))
    data_dir = None if args.data_dir == "synthetic" else Path(args.data_dir)
    xtr, xte = load_images(data_dir, args.train_size, args.test_size)
    dev = args.device
    x_train, x_test = R.to_tensor(xtr).to(dev), R.to_tensor(xte).to(dev)  # resident on the device
    peak = R.measure_peak_gflops(256 if args.quick else 8192 if dev == "cuda" else 2048, device=dev)
    runs: list[R.Run] = []
    k = run_keras(args) if "keras" in only and dev == "cpu" else None
    if k:
        runs.append(keras_run(k))
    variants = []
    if "torch" in only:
        variants.append(R.plain_variant(device=dev))
    if "convolab" in only and dev == "cpu":
        if args.cl_only:
            variants.append(R.convolab_variant("convolab, channels_last only", fuse=False))
        variants.append(R.convolab_variant("convolab fastpath"))
        if fastpath.bf16_supported("cpu") and not args.no_bf16:
            variants.append(R.convolab_variant("convolab fastpath bf16", amp="bf16"))
    elif "convolab" in only:
        variants.append(R.convolab_variant("convolab fastpath fp32", device=dev))
        variants.append(R.convolab_variant("convolab fastpath bf16", device=dev, amp="bf16"))
        variants.append(
            R.convolab_variant(
                "convolab fastpath bf16 + CUDA graphs", device=dev, amp="bf16", compile="reduce-overhead"
            )
        )
    for v in variants:
        print(f"training: {v.name}", flush=True)
        runs.append(R.train(v, x_train, x_test, args.epochs))
    ref = runs[0]
    at = min(10, args.epochs) - 1
    target = ref.test_bce[at]
    for run in runs:
        ttq_from_history(run, target)
    ttq_runs = []
    if "convolab" in only:
        v = R.convolab_variant(
            f"convolab fastpath, batch {args.ttq_batch}, lr {args.ttq_lr:g}",
            lr=args.ttq_lr,
            batch_size=args.ttq_batch,
        )
        print(f"time-to-quality: {v.name}", flush=True)
        ttq_runs.append(
            R.train(
                v, x_train, x_test, args.ttq_max_epochs, target_bce=target, evals_per_epoch=args.ttq_evals
            )
        )
    profile = (
        R.profile_table(variants[-1], x_train, args.profile_steps) if args.profile_steps and variants else []
    )
    versions = {"torch": torch.__version__}
    if dev == "cuda":
        versions["GPU"] = torch.cuda.get_device_name()
    if k:
        versions.update(tensorflow=k["tensorflow"], keras=k["keras"])
    command = "python benchmarks/train_speed.py " + " ".join(sys.argv[1:] if argv is None else argv)
    md = render(args, runs, ttq_runs, ref, target, at, peak, profile, k, command.strip(), versions)
    print(md)
    _report.write(Path(args.out), md, section=dev)
    result = {"runs": [r.__dict__ for r in runs + ttq_runs], "target_bce": target, "peak_gflops": peak}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


def render(args, runs, ttq_runs, ref, target, at, peak, profile, k, command, versions) -> str:
    n = args.train_size
    parts = [_report.header(command, versions, peak)]
    parts.append(
        f"### Training, batch 256, Adam lr 1e-3, {args.epochs} epochs of {n:,} images "
        f"({TRAIN_FLOP_PER_IMAGE / 1e6:.2f} MFLOP per image trained)\n"
    )
    rows = []
    for r in runs:
        val = sorted(r.epoch_val_s)[len(r.epoch_val_s) // 2]
        rows.append(
            [
                r.name,
                r.median_epoch_s,
                val,
                r.images_per_s(n),
                ref.median_epoch_s / r.median_epoch_s,
                r.test_bce[-1],
                r.test_mse[-1],
                r.gflops(n),
                100 * r.gflops(n) / peak,
            ]
        )
    hdr = [
        "contender",
        "epoch s (median)",
        "validation s",
        "images/s",
        f"speed-up vs {ref.name.split(' (')[0]}",
        "test BCE",
        "test MSE",
        "GFLOP/s",
        "% of peak",
    ]
    parts.append(_report.table(hdr, rows))
    parts.append(
        f"\n### Time-to-quality: test BCE <= {target:.4f} ({ref.name}'s BCE after {at + 1} epochs)\n"
    )
    rows = []
    for r in runs + ttq_runs:
        ok = r.ttq_s is not None
        rows.append(
            [
                r.name,
                r.batch_size,
                f"{r.lr:g}",
                f"{r.ttq_epochs:.2f}" if ok else "not reached",
                r.ttq_s if ok else "-",
                ref.ttq_s / r.ttq_s if ok and ref.ttq_s else "-",
            ]
        )
    parts.append(_report.table(["contender", "batch", "lr", "epochs", "training s", "speed-up"], rows))
    parts.append("\n### Inference on the test set (images/s, median of 3)\n")
    rows = [
        [
            r.name,
            1024 if r is ref and k else 2048 if "convolab" in r.name else 256,
            r.predict_images_per_s,
            r.predict_images_per_s / ref.predict_images_per_s,
        ]
        for r in runs
    ]
    if k:
        rows.insert(
            1,
            [
                "Keras predict, default batch 32 (the lecture's call)",
                32,
                k["predict_images_per_s"]["32"],
                k["predict_images_per_s"]["32"] / ref.predict_images_per_s,
            ],
        )
    parts.append(_report.table(["contender", "batch", "images/s", "ratio"], rows))
    parts.append("\n### Test BCE after each epoch\n")
    parts.append(
        _report.table(
            ["contender", *[str(i + 1) for i in range(args.epochs)]], [[r.name, *r.test_bce] for r in runs]
        )
    )
    if profile:
        parts.append(
            f"\n### Where convolab's training step goes (torch.profiler, {args.profile_steps} steps, "
            "self CPU time by op)\n"
        )
        parts.append(
            _report.table(
                ["op", "ms per step", "% of total", "calls per step"], [list(row) for row in profile]
            )
        )
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    main()
