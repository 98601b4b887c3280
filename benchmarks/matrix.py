"""The benchmark matrix: every zoo model, the wide model and an RGB 64x64 model, each against the same
model in Keras and the plain PyTorch loop, at default settings; one command regenerates BENCHMARKS.md's
"Matrix" section.

    python benchmarks/matrix.py --write                 # the whole matrix (long: see BENCHMARKS.md)
    python benchmarks/matrix.py --models seed-transpose,wide --rounds 2 --epochs 3
    python benchmarks/matrix.py --quick                 # smoke test: tiny synthetic data, 1 epoch

Models: ``convolab.model.zoo.list_models()`` on Fashion-MNIST; ``wide`` (benchmarks/specs/wide.yaml:
seed-upsampling's structure with 32-64-128 channels) on Fashion-MNIST's first 20,000 images (18,000
trained per epoch); ``rgb64`` (benchmarks/specs/rgb64.yaml) on a folder dataset of 4,000 + 1,000
synthetic RGB 64x64 images of smooth shapes that the benchmark writes into a temporary folder.

Contenders, each its own process, paired in rounds (the order reversed every other round): ``convolab
train`` (the CLI, its defaults: batch 256, Adam 1e-3, BCE, its thread policy), the same spec built in
Keras (benchmarks/keras_spec.py) under TensorFlow's default and ``TF_ENABLE_ONEDNN_OPTS=1`` (the faster
is the anchor; skipped where Keras lacks a layer), and the plain PyTorch loop (benchmarks/torch_spec.py).
TensorFlow: ``--keras-python``, ``$CONVOLAB_TF_PYTHON`` or this Python; without one the Keras contenders
are reported as skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _matrix_runs as R  # noqa: E402
from _contenders import ROOT, keras_python  # noqa: E402
from _matrix_data import Split, prepare, write_shapes  # noqa: E402
from _matrix_report import MARKER, ModelRuns, render  # noqa: E402
from _report import write  # noqa: E402
from keras_spec import missing_layers  # noqa: E402

SPECS = {"wide": HERE / "specs" / "wide.yaml", "rgb64": HERE / "specs" / "rgb64.yaml"}
DEFAULT_LIMIT = {"wide": 20_000}  # 18,000 training images per epoch, as issue 25 timed it
RGB_IMAGES, QUICK_GRAY, QUICK_RGB = (4_000, 1_000), (256, 64), (64, 16)


@dataclass
class Model:
    name: str
    spec_arg: str  # what `convolab train --model` takes
    spec: dict  # the raw spec dict (Keras and the plain loop build from it)
    rgb: bool
    limit: int | None


def all_models() -> list[str]:
    from convolab.model.zoo import list_models

    return [*list_models(), *SPECS]


def load_model(name: str, limit: int | None) -> Model:
    if name in SPECS:
        import yaml

        spec = yaml.safe_load(SPECS[name].read_text())
        rgb = spec["input_shape"][0] == 3
        return Model(name, str(SPECS[name]), spec, rgb, limit or DEFAULT_LIMIT.get(name))
    from convolab.model.zoo import get_spec

    return Model(name, name, get_spec(name), False, limit)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=None, help="comma-separated names [every zoo model, wide, rgb64]")
    ap.add_argument("--rounds", type=int, default=None, help="paired rounds [2; --quick: 1]")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per run [3; --quick: 1]")
    ap.add_argument(
        "--limit",
        type=int,
        default=None,
        help="the first N images of each split, as `convolab train --limit` (0.9 N trained per "
        "epoch) [all; wide: 20,000]",
    )
    ap.add_argument("--threads", type=int, default=0, help="threads, every contender [0: each its default]")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny synthetic data, 1 epoch, 1 round")
    ap.add_argument("--data-dir", default=None, help="Fashion-MNIST's folder [convolab's search]")
    ap.add_argument("--keras-python", default=None, help="Python with TensorFlow [$CONVOLAB_TF_PYTHON, this]")
    ap.add_argument("--no-keras", action="store_true", help="leave the Keras contenders out (reported)")
    ap.add_argument("--write", action="store_true", help="replace the Matrix section of --out")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="[BENCHMARKS.md]")
    ap.add_argument("--json", type=Path, default=None, help="also write every raw result here")
    args = ap.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.epochs = args.epochs or (1 if args.quick else 3)
    names = args.models.split(",") if args.models else all_models()
    unknown = sorted(set(names) - set(all_models()))
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(all_models())}")
    args.model_names = names
    return args


def recorded_command(argv: list[str]) -> str:
    """The command line as BENCHMARKS.md shows it: where raw results went left out."""
    keep, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--json", "--out"):
            skip = True
        elif not a.startswith(("--json=", "--out=")):
            keep.append(a)
    return " ".join(["python benchmarks/matrix.py", *keep])


def splits(args: argparse.Namespace, work: Path) -> Callable[[Model], Split]:
    """The split of each model's dataset, made once per (dataset, limit)."""
    cache: dict[tuple[bool, int | None], Split] = {}

    def get(model: Model) -> Split:
        key = (model.rgb, model.limit)
        if key not in cache:
            folder = work / f"data-{'rgb' if model.rgb else 'gray'}-{model.limit}"
            if model.rgb:
                n_train, n_test = QUICK_RGB if args.quick else RGB_IMAGES
                dataset = write_shapes(work / "shapes-rgb64", n_train, n_test, 64, 3)
            elif args.quick:
                dataset = write_shapes(work / "shapes-gray28", *QUICK_GRAY, 28, 1)
            else:
                dataset = "fashion-mnist"
            cache[key] = prepare(dataset, args.data_dir, model.limit, folder)
        return cache[key]

    return get


def keras_skips(args: argparse.Namespace, model: Model, python: str | None) -> str | None:
    missing = missing_layers(model.spec)
    if missing:
        return f"Keras has no {', '.join(missing)}"
    if args.no_keras:
        return "--no-keras"
    return None if python else "no Python with TensorFlow (--keras-python, $CONVOLAB_TF_PYTHON)"


def run_one(name: str, model: Model, split: Split, args: argparse.Namespace, python: str | None):
    kw = {"epochs": args.epochs, "threads": args.threads}
    if name == R.CONVOLAB:
        return R.run_convolab(model.spec_arg, split, **kw)
    if name == R.TORCH:
        return R.run_torch(model.spec, split, **kw)
    if python is None:  # keras_skips leaves Keras out without one
        raise RuntimeError("no Python with TensorFlow")
    return R.run_keras(name, model.spec, split, python=python, **kw)


def run_model(
    model: Model, split: Split, args: argparse.Namespace, python: str | None, probes: list[dict]
) -> ModelRuns:
    """Every round of one model: a peak probe, then each contender, the order reversed every other round."""
    import convolab

    a = convolab.analyze(model.spec)
    params = sum(layer.params for layer in a.layers)
    runs = ModelRuns(model.name, split.n_train, float(a.total_macs * 2 * 3))
    why = keras_skips(args, model, python)
    runs.skipped = dict.fromkeys(R.KERAS, why) if why else {}
    active = [c for c in R.CONTENDERS if c not in runs.skipped]
    for r in range(args.rounds):
        probes.append(R.conv_probe(args.threads, quick=args.quick))
        for name in active if r % 2 == 0 else active[::-1]:
            print(f"[matrix] {model.name}, round {r + 1}: {name}", file=sys.stderr, flush=True)
            res = run_one(name, model, split, args, python)
            if res.extra.get("params", params) != params:
                got = res.extra["params"]
                raise RuntimeError(f"{name}'s {model.name} has {got:,} parameters, not {params:,}")
            runs.results.setdefault(name, []).append(res)
    return runs


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    import torch

    import convolab

    python = None if args.no_keras else keras_python(args.keras_python)
    probes: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="convolab-matrix-") as tmp:
        get_split = splits(args, Path(tmp))
        models = [load_model(n, args.limit) for n in args.model_names]
        all_runs = [run_model(m, get_split(m), args, python, probes) for m in models]
    versions = {"convolab": convolab.__version__, "torch": torch.__version__}
    keras_run = next((r for m in all_runs for k in R.KERAS for r in m.results.get(k, [])), None)
    if keras_run:
        versions.update({k: keras_run.extra[k] for k in ("tensorflow", "keras")})
    threads = (
        f"{args.threads} for every contender"
        if args.threads
        else (
            "each contender's default (`convolab train`'s thread policy, TensorFlow's, torch's "
            f"{torch.get_num_threads()})"
        )
    )
    info = {
        "cpu": R.cpu(),
        "probes": probes,
        "versions": versions,
        "command": recorded_command(argv),
        "threads": threads,
    }
    body = render(all_runs, info)
    print(body)
    if args.write:
        write(args.out, body, "cpu", MARKER)
    out = {**info, "models": [_as_dict(m) for m in all_runs], "markdown": body}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return out


def _as_dict(m: ModelRuns) -> dict:
    results = {k: [dataclasses.asdict(r) for r in rs] for k, rs in m.results.items()}
    return {
        "name": m.name,
        "n_train": m.n_train,
        "flop_per_image": m.flop_per_image,
        "results": results,
        "skipped": m.skipped,
    }


if __name__ == "__main__":
    main()
