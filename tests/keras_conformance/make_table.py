"""Print the Keras conformance table of docs/keras.md (needs TensorFlow: the `keras` extra).

    python tests/keras_conformance/make_table.py --cases 100 --fashion /usr/share/datasets/fashion-mnist

Every row: a layer type, how many random configurations were run in Keras and in convolab, what those
configurations covered, and the largest absolute output difference (float32). Then the trained models:
each Keras-expressible zoo autoencoder is trained one epoch in Keras on Fashion-MNIST, saved as .keras,
.h5 and .weights.h5, imported, and its reconstructions of test images compared with Keras's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for keras_conformance

from keras_conformance.cases import GENERATORS, draw_cases, run_case  # noqa: E402
from keras_conformance.lecture import KERAS_ZOO, fashion_subset, train_and_save  # noqa: E402


def coverage(cases) -> str:
    """What the configurations covered: value ranges of each argument and of the input sizes."""
    seen: dict[str, set] = {}
    sizes: set[int] = set()
    for case in cases:
        sizes.update(case.input_shape[:2] if len(case.input_shape) == 3 else case.input_shape)
        for _, kw in case.layers[-1:] if case.layers[0][0] != "Dense" else case.layers[:1]:
            for key in ("kernel_size", "strides", "pool_size", "size", "dilation_rate", "output_padding"):
                if key in kw:
                    vals = kw[key] if isinstance(kw[key], list) else [kw[key]]
                    seen.setdefault(key, set()).update("None" if v is None else v for v in vals)
            for key in ("padding", "interpolation", "activation", "units"):
                if key in kw:
                    seen.setdefault(key, set()).add(kw[key])
    parts = [f"{k} {_span(v)}" for k, v in seen.items()]
    return "; ".join(parts + [f"sizes {min(sizes)}-{max(sizes)}"])


def _span(values: set) -> str:
    nums = sorted(v for v in values if isinstance(v, int))
    words = sorted(str(v) for v in values if not isinstance(v, int))
    text = [f"{nums[0]}-{nums[-1]}" if len(nums) > 1 else str(nums[0])] if nums else []
    return "/".join(text + words)


def layer_rows(n: int) -> list[str]:
    rows = ["| layer | configurations | covered | max abs diff |", "|---|---:|---|---:|"]
    for kind in GENERATORS:
        cases = draw_cases(kind, n, seed=1000 + sum(map(ord, kind)))
        worst = max(run_case(case, seed=i) for i, case in enumerate(cases))
        rows.append(f"| {kind} | {len(cases)} | {coverage(cases)} | {worst:.1e} |")
        print(rows[-1], file=sys.stderr)
    return rows


def model_rows(fashion: Path, n_train: int, n_test: int) -> list[str]:
    import torch

    from convolab.keras_io import import_keras

    x_train, x_test = fashion_subset(fashion, n_train, n_test)
    rows = [
        "| model | Keras params | .keras | .h5 | .weights.h5 + spec | test images |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name in KERAS_ZOO:
            model, paths = train_and_save(name, x_train, Path(tmp) / name)
            want = np.asarray(model(x_test, training=False))
            x = torch.from_numpy(x_test).permute(0, 3, 1, 2)  # (N, 1, 28, 28)
            diffs = []
            for kind in ("keras", "h5", "weights"):
                imp = import_keras(paths[kind], spec=name if kind == "weights" else None)
                with torch.no_grad():
                    got = imp.model(x).permute(0, 2, 3, 1).numpy()  # (N, 28, 28, 1)
                diffs.append(float(np.abs(got - want).max()))
            cells = " | ".join(f"{d:.1e}" for d in diffs)
            rows.append(f"| {name} | {model.count_params():,} | {cells} | {len(x_test)} |")
            print(rows[-1], file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100, help="random configurations per layer type")
    parser.add_argument("--fashion", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--train", type=int, default=4096, help="Fashion-MNIST training images (1 epoch)")
    parser.add_argument("--test", type=int, default=1000, help="test images compared")
    args = parser.parse_args()
    t0 = time.time()
    print("\n".join(layer_rows(args.cases)))
    print()
    print("\n".join(model_rows(args.fashion, args.train, args.test)))
    print(f"\n({time.time() - t0:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
