"""Record Keras's outputs for the conformance cases, so the comparison needs no TensorFlow kernel.

    TF_ENABLE_ONEDNN_OPTS=1 python tests/keras_conformance/record.py          # rewrites tests/data/...
    python tests/keras_conformance/record.py --check                         # compare, write nothing

What is recorded (``tests/data/keras_conformance.npz``, ``np.load(..., allow_pickle=False)``): for every
layer kind of ``cases.GENERATORS``, the first ``CASES_PER_KIND`` cases of ``draw_cases(kind, n,
seed=kind_seed(kind))`` (the same cases the live test draws), each run by ``cases.keras_run(case,
seed=i)``: the Keras layers' class names and ``get_config()`` (JSON), their weights, the input batch and
Keras's output. ``meta`` (a JSON string) says which TensorFlow, Keras and NumPy made them, the
``TF_ENABLE_ONEDNN_OPTS`` setting and the CPU.

The current file was made with TensorFlow 2.21.0, Keras 3.15.1, NumPy 2.4.6, ``TF_ENABLE_ONEDNN_OPTS=1``
(oneDNN on) on an Intel Xeon with AVX-512: that kernel computes dilated Conv2DTranspose, which the plain
CPU kernel (oneDNN off: AMD EPYC/AVX2 or ``TF_ENABLE_ONEDNN_OPTS=0``) refuses. Recording refuses to run
with oneDNN off, and fails if TensorFlow refuses any case: every case must be recorded.

Seeds: cases of kind ``k`` come from ``numpy.random.default_rng(sum(map(ord, k)))``; case ``i``'s weights
and input from ``numpy.random.default_rng(i)``. Nothing else is random (no hypothesis).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for keras_conformance

from keras_conformance.cases import GENERATORS, Case, KerasRun, draw_cases, keras_run  # noqa: E402

#: random cases per layer kind (the live test runs the first 12 of them: the same draws)
CASES_PER_KIND = 24
FORMAT = 1
RECORDING = Path(__file__).resolve().parents[1] / "data" / "keras_conformance.npz"


def kind_seed(kind: str) -> int:
    return sum(map(ord, kind))


@dataclasses.dataclass
class Recorded:
    """One recorded case: the drawn ``case`` (its kind and index) and what Keras did on it."""

    kind: str
    index: int
    case: Case
    run: KerasRun


def case_json(case: Case) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(case)))  # tuples -> lists, as stored


def _cpu() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    return f"{name} ({'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else 'no AVX2'})"


def record(n: int = CASES_PER_KIND) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    import keras
    import tensorflow as tf

    meta: dict[str, Any] = {
        "format": FORMAT,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)"),
        "cpu": _cpu(),
        "cases_per_kind": n,
        "seeds": "cases: default_rng(sum(map(ord, kind))); case i: default_rng(i)",
        "cases": [],
    }
    arrays: dict[str, np.ndarray] = {}
    for kind in GENERATORS:
        for i, case in enumerate(draw_cases(kind, n, seed=kind_seed(kind))):
            run = keras_run(case, seed=i)  # TFRefused propagates: a recording must hold every case
            c = len(meta["cases"])
            meta["cases"].append(
                {
                    "kind": kind,
                    "index": i,
                    "case": case_json(case),
                    "input_shape": list(run.input_shape),
                    "layers": [
                        {"class_name": cls, "config": cfg, "weights": len(ws)} for cls, cfg, ws in run.layers
                    ],
                }
            )
            arrays[f"c{c}_x"], arrays[f"c{c}_y"] = run.x, run.y
            for li, (_, _, ws) in enumerate(run.layers):
                for wi, w in enumerate(ws):
                    arrays[f"c{c}_l{li}_w{wi}"] = w
    return meta, arrays


def save(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    os.replace(tmp, path)


def load(path: Path = RECORDING) -> tuple[dict[str, Any], list[Recorded]]:
    """The recorded cases (no TensorFlow needed)."""
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT}")
        out = []
        for c, entry in enumerate(meta["cases"]):
            layers = [
                (lay["class_name"], lay["config"], [npz[f"c{c}_l{li}_w{wi}"] for wi in range(lay["weights"])])
                for li, lay in enumerate(entry["layers"])
            ]
            cj = entry["case"]
            case = Case(cj["label"], tuple(cj["input_shape"]), [(cls, kw) for cls, kw in cj["layers"]])
            run = KerasRun(tuple(entry["input_shape"]), layers, npz[f"c{c}_x"], npz[f"c{c}_y"])
            out.append(Recorded(entry["kind"], entry["index"], case, run))
    return meta, out


def check(path: Path) -> None:
    """Run every recorded case in this TensorFlow and print the largest difference from the recording."""
    from keras_conformance.cases import TFRefused

    _, recorded = load(path)
    worst, refused = 0.0, 0
    for r in recorded:
        try:
            worst = max(worst, float(np.abs(keras_run(r.case, seed=r.index).y - r.run.y).max()))
        except TFRefused:
            refused += 1
    print(
        f"{len(recorded)} recorded cases, {refused} refused by this TensorFlow's CPU kernel; "
        f"largest difference from the recording: {worst:.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RECORDING)
    parser.add_argument("--cases", type=int, default=CASES_PER_KIND, help="random cases per layer kind")
    parser.add_argument("--check", action="store_true", help="compare with the recording, write nothing")
    args = parser.parse_args()
    if not args.check and os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        sys.exit("error: record with oneDNN on (TF_ENABLE_ONEDNN_OPTS=1): the plain kernel refuses cases")
    if args.check:
        check(args.out)
        return
    meta, arrays = record(args.cases)
    save(args.out, meta, arrays)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({len(meta['cases'])} cases, {size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
