# ruff: noqa: E501  (a table: one hostile input per line reads better than wrapped ones)
"""The table of hostile inputs: one case per line (id, category, area that must fix it, input, setup).

``cli(id, category, area, "ARGS", *setup)`` runs ``convolab ARGS``; ``api(...)`` runs a Python snippet.
``@TPL`` in an input is the session's template folder (``files.template_dir()``: a tiny trained run and
its ``folder:`` dataset). Categories follow issue 12; ``ci=True`` puts a case in the default selection,
the rest run with ``pytest -m fuzz_full``. Areas: core/spec+analysis, training, cli/filters/data/keras,
lab.
"""

from __future__ import annotations

import dataclasses

from fuzz import cases_issue26
from fuzz.files import SPECS
from fuzz.harness import Case, api, cli

CORE, TRAIN, CLI, LAB = "core/spec+analysis", "training", "cli/filters/data/keras", "lab"

SPEC_CATEGORY = {
    "alias_bomb.yaml": "yaml alias bomb",
    "deep.yaml": "deep nesting",
    "deep.json": "deep nesting",
    "deep_arg.json": "deep nesting",
    "layers_5k.json": "100k-layer specs",
    "layers_100k.yaml": "100k-layer specs",
    "big_comment.yaml": "huge sizes",
    "rf_blowup.json": "per-pixel RF blow-up",
    "rf_bon_tconv.json": "per-pixel RF blow-up",
    "grow_chain.json": "huge factors/sizes",
    "up_nan.yaml": "overflowing numbers",
    "up_inf.yaml": "overflowing numbers",
    "stride_1e20.json": "overflowing numbers",
    "input_nan.json": "overflowing numbers",
    "up_neg.json": "overflowing numbers",
    "input_neg.json": "overflowing numbers",
    "input_zero.json": "overflowing numbers",
}
#: the spec files whose cases run in CI (the rest with -m fuzz_full)
CI_SPECS = {
    "alias_bomb.yaml",
    "deep.json",
    "layers_100k.yaml",
    "up_1e8.json",
    "rf_blowup.json",
    "stride_1e20.json",
    "kernel_1e5.json",
    "input_huge.json",
    "up_nan.yaml",
    "python_tag.yaml",
}


def _spec_cat(name: str) -> str:
    return SPEC_CATEGORY.get(name, "huge factors/sizes" if any(ch.isdigit() for ch in name) else "bad specs")


def _spec_cases() -> list[Case]:
    out = []
    train = "train --model {f} --dataset folder:data --epochs 1 --batch-size 16 -q --no-figures --device cpu --out out"
    for f in SPECS:
        stem = f.split(".")[0] + ("-yaml" if f == "deep.yaml" else "")
        cat, ci, s = _spec_cat(f), f in CI_SPECS, f"spec:{f}"
        out += [
            cli(f"summary-{stem}", cat, CORE, f"summary {f}", s, ci=ci),
            cli(
                f"train-model-{stem}",
                cat,
                TRAIN,
                train.format(f=f),
                s,
                "tiny_data",
                ci=ci and stem in {"alias_bomb", "up_1e8", "input_huge"},
            ),
            api(
                f"load_spec-{stem}",
                cat,
                CORE,
                f"import convolab; convolab.load_spec({f!r})",
                s,
                ci=ci and stem != "layers_100k",
            ),
            api(
                f"analyze-{stem}",
                cat,
                CORE,
                f"import convolab; convolab.analyze({f!r})",
                s,
                ci=ci and stem in {"rf_blowup", "up_1e8", "input_huge"},
            ),
            api(
                f"build_model-{stem}",
                cat,
                CORE,
                f"import convolab; convolab.build_model({f!r})",
                s,
                ci=ci and stem in {"input_huge", "kernel_1e5"},
            ),
        ]
    for f in ("alias_bomb.yaml", "deep.json", "up_1e8.json", "input_huge.json", "layers_100k.yaml"):
        stem = f.split(".")[0]
        out.append(cli(f"summary-json-{stem}", _spec_cat(f), CORE, f"summary {f} --json", f"spec:{f}"))
        out.append(
            cli(
                f"import-keras-spec-{stem}",
                _spec_cat(f),
                CLI,
                f"import-keras w.weights.h5 --spec {f} -o out",
                f"spec:{f}",
                "keras",
                ci=stem == "alias_bomb",
            )
        )
    return out


SUMMARY = [
    cli(
        "summary-input-huge",
        "huge factors/sizes",
        CORE,
        "summary seed-upsampling --input 1,3000000,3000000",
        ci=True,
    ),
    cli(
        "summary-input-neg", "overflowing numbers", CORE, "summary seed-upsampling --input 1,-28,28", ci=True
    ),
    cli(
        "summary-input-1e20",
        "overflowing numbers",
        CORE,
        "summary seed-upsampling --input 1,100000000000000000000,28",
    ),
    cli("summary-input-text", "bad arguments", CORE, "summary seed-upsampling --input a,b,c"),
    cli("summary-input-2d", "bad arguments", CORE, "summary seed-upsampling --input 28,28"),
    cli("summary-batch-neg", "overflowing numbers", CORE, "summary seed-upsampling --batch -3", ci=True),
    cli(
        "summary-batch-1e30",
        "overflowing numbers",
        CORE,
        "summary seed-upsampling --batch 1000000000000000000000000000000",
    ),
    cli("summary-batch-float", "bad arguments", CORE, "summary seed-upsampling --batch 1e8", ci=True),
    cli("summary-unknown-model", "bad paths", CORE, "summary nosuch-model"),
    cli("summary-missing-file", "bad paths", CORE, "summary missing.yaml", ci=True),
    cli("summary-dir", "bad paths", CORE, "summary dir.yaml", "dirs"),
    cli("summary-fifo", "FIFOs", CORE, "summary fifo.yaml", "fifo", ci=True),
    cli("summary-dev-zero", "huge sizes", CORE, "summary /dev/zero"),
    cli("summary-dev-urandom", "huge sizes", CORE, "summary /dev/urandom"),
    cli("summary-no-arg", "bad arguments", CLI, "summary", ci=True),
    cli("summary-bad-option", "bad arguments", CLI, "summary seed-upsampling --bogus"),
    cli("layers-unknown", "bad arguments", CORE, "layers NoSuchLayer", ci=True),
    cli("layers-long", "huge sizes", CORE, "layers " + "X" * 100_000),
    cli("layers-extra", "bad arguments", CLI, "layers Conv2D Dense"),
    cli("unknown-command", "bad arguments", CLI, "no-such-command", ci=True),
    cli("top-bad-option", "bad arguments", CLI, "--bogus"),
]

FILTER = [
    cli("filter-bomb", "big/odd images", CLI, "filter bomb.png -k sobel_x -o out.png", "bomb.png", ci=True),
    cli("filter-wide-89M", "big/odd images", CLI, "filter wide.png -k sobel_x -o out.png", "wide.png"),
    cli(
        "filter-wide-lecture",
        "big/odd images",
        CLI,
        "filter wide.png --lecture -o out.png",
        "wide.png",
        ci=True,
    ),
    cli("filter-tall-rgb", "big/odd images", CLI, "filter tall.png -k gaussian -o out.png", "tall.png"),
    cli("filter-tall-lecture", "big/odd images", CLI, "filter tall.png --lecture -o out.png", "tall.png"),
    cli("filter-fifo", "FIFOs", CLI, "filter fifo.png -k sobel_x -o out.png", "fifo", ci=True),
    cli("filter-dev-zero", "FIFOs", CLI, "filter /dev/zero -k sobel_x -o out.png"),
    cli("filter-dir", "bad paths", CLI, "filter dir.png -k sobel_x -o out.png", "dirs"),
    cli("filter-missing", "bad paths", CLI, "filter missing.png -k sobel_x -o out.png", ci=True),
    cli(
        "filter-truncated",
        "big/odd images",
        CLI,
        "filter truncated.png -k sobel_x -o out.png",
        "truncated.png",
        ci=True,
    ),
    cli("filter-text", "big/odd images", CLI, "filter text.png -k sobel_x -o out.png", "text.png"),
    cli("filter-empty", "big/odd images", CLI, "filter empty.png -k sobel_x -o out.png", "empty.png"),
    cli(
        "filter-unknown-kernel",
        "bad arguments",
        CLI,
        "filter small.png -k nosuch -o out.png",
        "small.png",
        ci=True,
    ),
    cli(
        "filter-size-1e5",
        "kernels size/sigma",
        CLI,
        "filter small.png -k gaussian --size 100001 -o out.png",
        "small.png",
        ci=True,
    ),
    cli(
        "filter-box-size-1e5",
        "kernels size/sigma",
        CLI,
        "filter small.png -k box --size 100000 -o out.png",
        "small.png",
    ),
    cli(
        "filter-sigma-1e5",
        "kernels size/sigma",
        CLI,
        "filter small.png -k gaussian --sigma 100000 -o out.png",
        "small.png",
        ci=True,
    ),
    cli(
        "filter-log-sigma-1e5",
        "kernels size/sigma",
        CLI,
        "filter small.png -k log --sigma 100000 -o out.png",
        "small.png",
    ),
    cli(
        "filter-sigma-nan",
        "overflowing numbers",
        CLI,
        "filter small.png -k gaussian --sigma nan -o out.png",
        "small.png",
    ),
    cli(
        "filter-sigma-inf",
        "overflowing numbers",
        CLI,
        "filter small.png -k gaussian --sigma inf -o out.png",
        "small.png",
    ),
    cli(
        "filter-sigma-neg",
        "overflowing numbers",
        CLI,
        "filter small.png -k gaussian --sigma -1 -o out.png",
        "small.png",
    ),
    cli(
        "filter-sigma-zero",
        "overflowing numbers",
        CLI,
        "filter small.png -k gaussian --sigma 0 -o out.png",
        "small.png",
    ),
    cli(
        "filter-size-even",
        "kernels size/sigma",
        CLI,
        "filter small.png -k gaussian --size 4 -o out.png",
        "small.png",
    ),
    cli(
        "filter-size-neg",
        "overflowing numbers",
        CLI,
        "filter small.png -k box --size -3 -o out.png",
        "small.png",
    ),
    cli(
        "filter-stride-0",
        "overflowing numbers",
        CLI,
        "filter small.png -k sobel_x --stride 0 -o out.png",
        "small.png",
        ci=True,
    ),
    cli(
        "filter-stride-neg",
        "overflowing numbers",
        CLI,
        "filter small.png -k sobel_x --stride -2 -o out.png",
        "small.png",
    ),
    cli(
        "filter-stride-1e20",
        "overflowing numbers",
        CLI,
        "filter small.png -k sobel_x --stride 100000000000000000000 -o out.png",
        "small.png",
    ),
    cli(
        "filter-stride-float",
        "bad arguments",
        CLI,
        "filter small.png -k sobel_x --stride 1e20 -o out.png",
        "small.png",
    ),
    cli(
        "filter-padding",
        "bad arguments",
        CLI,
        "filter small.png -k sobel_x --padding bogus -o out.png",
        "small.png",
    ),
    cli(
        "filter-border",
        "bad arguments",
        CLI,
        "filter small.png -k sobel_x --border bogus -o out.png",
        "small.png",
    ),
    cli(
        "filter-dataset-unknown",
        "unknown datasets",
        CLI,
        "filter --dataset imagenet -k sobel_x -o out.png",
        ci=True,
    ),
    cli(
        "filter-dataset-index-neg",
        "overflowing numbers",
        CLI,
        "filter --dataset folder:@TPL/data --index -1 -k sobel_x -o out.png",
        ci=True,
    ),
    cli(
        "filter-dataset-index-1e20",
        "overflowing numbers",
        CLI,
        "filter --dataset folder:@TPL/data --index 100000000000000000000 -k sobel_x -o out.png",
    ),
    cli(
        "filter-dataset-split",
        "bad arguments",
        CLI,
        "filter --dataset folder:@TPL/data --split bogus -k sobel_x -o out.png",
    ),
    cli(
        "filter-dataset-bombset",
        "big/odd images",
        CLI,
        "filter --dataset folder:bombset -k sobel_x -o out.png",
        "bombset",
        ci=True,
    ),
    cli(
        "filter-data-dir-missing",
        "bad paths",
        CLI,
        "filter --dataset mnist --data-dir missing -k sobel_x -o out.png",
    ),
    cli(
        "filter-output-ext", "bad paths", CLI, "filter small.png -k sobel_x -o out.exe", "small.png", ci=True
    ),
    cli(
        "filter-output-missing-dir",
        "bad paths",
        CLI,
        "filter small.png -k sobel_x -o nowhere/out.png",
        "small.png",
    ),
    cli(
        "filter-output-is-dir",
        "bad paths",
        CLI,
        "filter small.png -k sobel_x -o dir.png",
        "small.png",
        "dirs",
    ),
    cli("filter-no-image", "bad arguments", CLI, "filter -k sobel_x -o out.png"),
    cli(
        "filter-both-image-dataset",
        "bad arguments",
        CLI,
        "filter small.png --dataset mnist -k sobel_x -o out.png",
        "small.png",
    ),
    cli(
        "filter-many-kernels",
        "huge sizes",
        CLI,
        "filter small.png " + "-k sobel_x " * 5000 + "-o out.png",
        "small.png",
    ),
]

KERNELS = [
    cli("kernels-size-1e5", "kernels size/sigma", CLI, "kernels --size 100001", ci=True),
    cli("kernels-sigma-1e5", "kernels size/sigma", CLI, "kernels --sigma 100000", ci=True),
    cli("kernels-sigma-1e300", "overflowing numbers", CLI, "kernels --sigma 1e300"),
    cli("kernels-size-1e20", "overflowing numbers", CLI, "kernels --size 100000000000000000000"),
    cli("kernels-size-0", "overflowing numbers", CLI, "kernels --size 0", ci=True),
    cli("kernels-size-neg", "overflowing numbers", CLI, "kernels --size -5"),
    cli("kernels-size-even", "kernels size/sigma", CLI, "kernels --size 4"),
    cli("kernels-sigma-nan", "overflowing numbers", CLI, "kernels --sigma nan"),
    cli("kernels-sigma-inf", "overflowing numbers", CLI, "kernels --sigma inf"),
    cli("kernels-sigma-neg", "overflowing numbers", CLI, "kernels --sigma -1"),
    cli("kernels-sigma-zero", "overflowing numbers", CLI, "kernels --sigma 0"),
    cli("kernels-sigma-text", "bad arguments", CLI, "kernels --sigma big"),
]

DATA = [
    cli("data-list-data-dir-missing", "bad paths", CLI, "data list --data-dir missing", ci=True),
    cli("data-list-data-dir-file", "bad paths", CLI, "data list --data-dir notes.txt", "user_file"),
    cli("data-list-fifo", "FIFOs", CLI, "data list --data-dir fifo.png", "fifo"),
    cli("data-fetch-unknown", "unknown datasets", CLI, "data fetch imagenet", ci=True),
    cli("data-fetch-offline", "bad paths", CLI, "data fetch mnist --retries 0 --timeout 2", ci=True),
    cli("data-fetch-timeout-neg", "overflowing numbers", CLI, "data fetch mnist --timeout -1"),
    cli("data-fetch-timeout-nan", "overflowing numbers", CLI, "data fetch mnist --timeout nan"),
    cli("data-fetch-timeout-inf", "overflowing numbers", CLI, "data fetch mnist --timeout inf"),
    cli(
        "data-fetch-retries-1e12",
        "overflowing numbers",
        CLI,
        "data fetch mnist --retries 1000000000000 --timeout 1",
    ),
    cli("data-fetch-retries-neg", "overflowing numbers", CLI, "data fetch mnist --retries -1"),
    cli("data-fetch-data-dir-file", "bad paths", CLI, "data fetch mnist --data-dir notes.txt", "user_file"),
    cli("data-fetch-folder", "unknown datasets", CLI, "data fetch folder:/etc"),
    cli("data-verify-unknown", "unknown datasets", CLI, "data verify imagenet", ci=True),
    cli("data-verify-missing", "bad paths", CLI, "data verify mnist --data-dir missing"),
    cli(
        "data-verify-corrupt",
        "bad paths",
        CLI,
        "data verify mnist --data-dir mnistdir",
        "mnist_corrupt",
        ci=True,
    ),
    cli("data-verify-empty-name", "unknown datasets", CLI, "data verify ''"),
    cli("data-show-unknown", "unknown datasets", CLI, "data show imagenet -o grid.png", ci=True),
    cli(
        "data-show-n-1e8",
        "huge factors/sizes",
        CLI,
        "data show folder:@TPL/data --n 100000000 -o grid.png",
        ci=True,
    ),
    cli("data-show-n-1e8-float", "bad arguments", CLI, "data show folder:@TPL/data --n 1e8 -o grid.png"),
    cli("data-show-n-0", "overflowing numbers", CLI, "data show folder:@TPL/data --n 0 -o grid.png"),
    cli("data-show-n-neg", "overflowing numbers", CLI, "data show folder:@TPL/data --n -3 -o grid.png"),
    cli(
        "data-show-image-size-1e5",
        "huge factors/sizes",
        CLI,
        "data show folder:@TPL/data --image-size 100000 -o grid.png",
        ci=True,
    ),
    cli(
        "data-show-image-size-0",
        "overflowing numbers",
        CLI,
        "data show folder:@TPL/data --image-size 0 -o grid.png",
    ),
    cli("data-show-seed-neg", "overflowing numbers", CLI, "data show folder:@TPL/data --seed -1 -o grid.png"),
    cli(
        "data-show-seed-1e30",
        "overflowing numbers",
        CLI,
        "data show folder:@TPL/data --seed 1000000000000000000000000000000 -o grid.png",
    ),
    cli(
        "data-show-bombset", "big/odd images", CLI, "data show folder:bombset -o grid.png", "bombset", ci=True
    ),
    cli("data-show-folder-missing", "bad paths", CLI, "data show folder:missing -o grid.png"),
    cli("data-show-folder-file", "bad paths", CLI, "data show folder:notes.txt -o grid.png", "user_file"),
    cli("data-show-output-ext", "bad paths", CLI, "data show folder:@TPL/data -o grid.exe"),
    cli("data-show-output-dir", "bad paths", CLI, "data show folder:@TPL/data -o dir.png", "dirs"),
    cli("data-show-offline", "bad paths", CLI, "data show mnist --no-download -o grid.png", ci=True),
    cli("data-show-split", "bad arguments", CLI, "data show folder:@TPL/data --split bogus -o grid.png"),
    cli("data-no-subcommand-arg", "bad arguments", CLI, "data show"),
    cli("data-unknown-subcommand", "bad arguments", CLI, "data bogus"),
]

TRAIN_ARGS = "--model tiny.json --dataset folder:data --epochs 1 --batch-size 16 -q --no-figures --device cpu --out out"
TRAIN_OPTIONS = {
    "epochs-neg": ("--epochs -5", "overflowing numbers", True),
    "epochs-0": ("--epochs 0", "overflowing numbers", False),
    "epochs-1e20": ("--epochs 100000000000000000000", "overflowing numbers", False),
    "batch-0": ("--batch-size 0", "overflowing numbers", True),
    "batch-neg": ("--batch-size -16", "overflowing numbers", False),
    "batch-1e12": ("--batch-size 1000000000000", "huge factors/sizes", True),
    "lr-nan": ("--lr nan", "overflowing numbers", False),
    "lr-inf": ("--lr inf", "overflowing numbers", False),
    "lr-neg": ("--lr -1", "overflowing numbers", False),
    "noise-inf": ("--noise inf", "overflowing numbers", True),
    "noise-nan": ("--noise nan", "overflowing numbers", False),
    "noise-neg": ("--noise -0.5", "overflowing numbers", False),
    "val-fraction-2": ("--val-fraction 2", "overflowing numbers", True),
    "val-fraction-nan": ("--val-fraction nan", "overflowing numbers", False),
    "val-fraction-0": ("--val-fraction 0", "overflowing numbers", False),
    "limit-neg": ("--limit -1", "overflowing numbers", False),
    "limit-0": ("--limit 0", "overflowing numbers", False),
    "checkpoint-every-neg": ("--checkpoint-every -1", "overflowing numbers", False),
    "checkpoint-seconds-nan": ("--checkpoint-seconds nan", "overflowing numbers", False),
    "checkpoint-seconds-neg": ("--checkpoint-seconds -1", "overflowing numbers", False),
    "log-every-0": ("--log-every 0", "overflowing numbers", False),
    "log-every-neg": ("--log-every -5", "overflowing numbers", False),
    "memory-budget-neg": ("--memory-budget -1", "overflowing numbers", False),
    "memory-budget-nan": ("--memory-budget nan", "overflowing numbers", False),
    "memory-budget-inf": ("--memory-budget inf", "overflowing numbers", False),
    "workers-neg": ("--workers -1", "overflowing numbers", False),
    "workers-1e6": ("--workers 1000000", "huge factors/sizes", False),
    "nproc-0": ("--nproc 0", "overflowing numbers", False),
    "nproc-neg": ("--nproc -2", "overflowing numbers", False),
    "nproc-1e6": ("--nproc 1000000", "huge factors/sizes", True),
    "seed-neg": ("--seed -1", "overflowing numbers", False),
    "seed-1e30": ("--seed 1000000000000000000000000000000", "overflowing numbers", False),
    "device-bogus": ("--device bogus", "bad arguments", True),
    "device-cuda-99": ("--device cuda:99", "bad arguments", False),
    "amp-bogus": ("--amp fp8", "bad arguments", False),
    "loss-bogus": ("--loss hinge", "bad arguments", False),
    "stream-on-mnist": ("--stream on --dataset mnist", "bad arguments", False),
}


def _train_cases() -> list[Case]:
    out = [
        cli(f"train-{k}", cat, TRAIN, f"train {TRAIN_ARGS} {opt}", "tiny_data", ci=ci)
        for k, (opt, cat, ci) in TRAIN_OPTIONS.items()
    ]
    base = "train --epochs 1 --batch-size 16 -q --no-figures --device cpu"
    out += [
        cli(
            "train-nproc-bad-model",
            "bad specs",
            TRAIN,
            f"{base} --nproc 2 --model nosuch --dataset folder:data --out out",
            "tiny_data",
            ci=True,
        ),
        cli(
            "train-dataset-unknown",
            "unknown datasets",
            TRAIN,
            f"{base} --model tiny.json --dataset nosuch --out out",
            "tiny_data",
            ci=True,
        ),
        cli(
            "train-dataset-imagenet",
            "unknown datasets",
            TRAIN,
            f"{base} --model tiny.json --dataset imagenet --out out",
            "tiny_data",
        ),
        cli(
            "train-dataset-folder-missing",
            "bad paths",
            TRAIN,
            f"{base} --model tiny.json --dataset folder:missing --out out",
            "tiny_data",
        ),
        cli(
            "train-dataset-bombset",
            "big/odd images",
            TRAIN,
            f"{base} --model tiny.json --dataset folder:bombset --out out",
            "tiny_data",
            "bombset",
            ci=True,
        ),
        cli(
            "train-dataset-bombset-stream",
            "big/odd images",
            TRAIN,
            f"{base} --model tiny.json --dataset folder:bombset --stream on --workers 0 --out out",
            "tiny_data",
            "bombset",
        ),
        cli(
            "train-data-dir-file",
            "bad paths",
            TRAIN,
            f"{base} --model tiny.json --dataset mnist --data-dir tiny.json --out out",
            "tiny_data",
        ),
        cli(
            "train-data-dir-corrupt",
            "bad paths",
            TRAIN,
            f"{base} --model tiny.json --dataset mnist --train-split test --data-dir mnistdir --out out",
            "tiny_data",
            "mnist_corrupt",
        ),
        cli(
            "train-model-missing",
            "bad paths",
            TRAIN,
            f"{base} --model missing.yaml --dataset folder:data --out out",
            "tiny_data",
        ),
        cli(
            "train-model-fifo",
            "FIFOs",
            TRAIN,
            f"{base} --model fifo.yaml --dataset folder:data --out out",
            "tiny_data",
            "fifo",
            ci=True,
        ),
        cli(
            "train-overwrite-foreign",
            "overwrite of foreign folders",
            TRAIN,
            f"{base} --model tiny.json --dataset folder:data --out foreign --overwrite",
            "tiny_data",
            "foreign",
            ci=True,
        ),
        cli(
            "train-overwrite-cwd",
            "overwrite of foreign folders",
            TRAIN,
            f"{base} --model tiny.json --dataset folder:data --out . --overwrite",
            "tiny_data",
            "user_file",
        ),
        cli(
            "train-out-existing-run",
            "overwrite of foreign folders",
            TRAIN,
            f"{base} --model tiny.json --dataset folder:data --out run",
            "tiny_data",
            "run",
        ),
        cli(
            "train-out-foreign",
            "overwrite of foreign folders",
            TRAIN,
            f"{base} --model tiny.json --dataset folder:data --out foreign",
            "tiny_data",
            "foreign",
        ),
        cli(
            "train-out-file",
            "bad paths",
            TRAIN,
            f"{base} --model tiny.json --dataset folder:data --out notes.txt",
            "tiny_data",
            "user_file",
        ),
        cli(
            "train-out-run-last",
            "overwrite run checkpoints",
            TRAIN,
            f"{base} --model tiny.json --dataset folder:data --out run/last --overwrite",
            "tiny_data",
            "run",
            ci=True,
        ),
        cli(
            "train-bad-model-bad-data",
            "bad specs",
            TRAIN,
            f"{base} --model up_1e8.json --dataset folder:data --out out",
            "tiny_data",
            "spec:up_1e8.json",
        ),
        cli("train-resume-missing", "bad paths", TRAIN, "train --resume missing -q"),
        cli("train-resume-foreign", "bad paths", TRAIN, "train --resume foreign -q", "foreign", ci=True),
        cli(
            "train-resume-finished",
            "bad state.json fields",
            TRAIN,
            "train --resume run -q --no-figures",
            "run",
            ci=True,
        ),
        cli(
            "train-resume-epochs-1e20",
            "overflowing numbers",
            TRAIN,
            "train --resume run --epochs 100000000000000000000 -q --no-figures",
            "run",
        ),
        cli(
            "train-resume-epochs-neg",
            "overflowing numbers",
            TRAIN,
            "train --resume run --epochs -3 -q --no-figures",
            "run",
        ),
        cli("train-resume-and-out", "bad arguments", TRAIN, "train --resume run --out other -q", "run"),
        cli(
            "train-resume-no-state",
            "bad state.json fields",
            TRAIN,
            "train --resume run --epochs 2 -q --no-figures",
            "no_state",
        ),
        cli(
            "train-resume-weights-garbage",
            "bad state.json fields",
            TRAIN,
            "train --resume run --epochs 2 -q --no-figures",
            "weights_garbage",
            ci=True,
        ),
        cli(
            "train-resume-symlink-best",
            "bad paths",
            TRAIN,
            "train --resume run --epochs 2 -q --no-figures",
            "symlink_best",
        ),
    ]
    return out


RUN_CMDS = {  # command on a run folder -> (argv, CI state variants)
    "resume": (
        "train --resume run --epochs 2 -q --no-figures --device cpu",
        {"epoch_neg", "step_1e30", "format_version_str", "deep_json"},
    ),
    "evaluate": ("evaluate run --device cpu", {"spec_bomb", "spec_path", "not_json", "format_version_str"}),
    "figures": ("figures run", {"spec_huge_input"}),
    "export": ("export run --format torchscript -o model.pt", {"spec_filters_1e9"}),
    "reconstruct": ("reconstruct run --dataset folder:@TPL/data -o recon.png --device cpu", {"spec_bomb"}),
}
ONLY_RESUME = {
    "epoch_neg",
    "step_1e30",
    "step_neg",
    "global_step_str",
    "no_seconds",
    "rng_short",
    "rng_missing",
    "history_str",
    "history_bad_entry",
    "epoch_loss_short",
    "config_epochs_1e20",
    "config_batch_neg",
    "best_nan",
    "nan_epoch",
    "config_dataset_folder_etc",
    "config_missing",
}


def _state_cases() -> list[Case]:
    from fuzz.files import STATES

    out = []
    for cmd, (argv, ci_states) in RUN_CMDS.items():
        for state in STATES:
            if (
                cmd != "resume"
                and state in ONLY_RESUME
                and state not in {"config_dataset_folder_etc", "best_nan"}
            ):
                continue
            cat = (
                "huge factors/sizes"
                if state.startswith("spec_") and state != "spec_path"
                else "bad state.json fields"
            )
            out.append(cli(f"{cmd}-state-{state}", cat, TRAIN, argv, f"state:{state}", ci=state in ci_states))
    return out


RUNS = [
    cli("evaluate-missing", "bad paths", TRAIN, "evaluate missing", ci=True),
    cli("evaluate-foreign", "bad paths", TRAIN, "evaluate foreign", "foreign"),
    cli(
        "evaluate-dataset-imagenet",
        "unknown datasets",
        TRAIN,
        "evaluate run --dataset imagenet --device cpu",
        "run",
        ci=True,
    ),
    cli(
        "evaluate-dataset-bombset",
        "big/odd images",
        TRAIN,
        "evaluate run --dataset folder:bombset --device cpu",
        "run",
        "bombset",
    ),
    cli("evaluate-checkpoint-bogus", "bad arguments", CLI, "evaluate run --checkpoint middle", "run"),
    cli("evaluate-device-bogus", "bad arguments", TRAIN, "evaluate run --device bogus", "run"),
    cli("evaluate-weights-nan", "overflowing numbers", TRAIN, "evaluate run --device cpu", "weights_nan"),
    cli("evaluate-symlink-best", "bad paths", TRAIN, "evaluate run --device cpu", "symlink_best"),
    cli(
        "reconstruct-n-neg",
        "overflowing numbers",
        CLI,
        "reconstruct run --dataset folder:@TPL/data --n -3 -o recon.png",
        "run",
        ci=True,
    ),
    cli(
        "reconstruct-n-0",
        "overflowing numbers",
        CLI,
        "reconstruct run --dataset folder:@TPL/data --n 0 -o recon.png",
        "run",
    ),
    cli(
        "reconstruct-n-1e9",
        "huge factors/sizes",
        CLI,
        "reconstruct run --dataset folder:@TPL/data --n 1000000000 -o recon.png",
        "run",
    ),
    cli(
        "reconstruct-images-bomb",
        "big/odd images",
        CLI,
        "reconstruct run --images bomb.png -o recon.png",
        "run",
        "bomb.png",
        ci=True,
    ),
    cli(
        "reconstruct-images-wide",
        "big/odd images",
        CLI,
        "reconstruct run --images wide.png -o recon.png",
        "run",
        "wide.png",
    ),
    cli(
        "reconstruct-images-fifo",
        "FIFOs",
        CLI,
        "reconstruct run --images fifo.png -o recon.png",
        "run",
        "fifo",
    ),
    cli(
        "reconstruct-images-text",
        "big/odd images",
        CLI,
        "reconstruct run --images text.png -o recon.png",
        "run",
        "text.png",
    ),
    cli(
        "reconstruct-dataset-unknown",
        "unknown datasets",
        CLI,
        "reconstruct run --dataset imagenet -o recon.png",
        "run",
    ),
    cli(
        "reconstruct-out-weights",
        "overwrite run checkpoints",
        CLI,
        "reconstruct run --dataset folder:@TPL/data -o run/last/model.safetensors",
        "run",
        ci=True,
    ),
    cli(
        "reconstruct-out-ext",
        "bad paths",
        CLI,
        "reconstruct run --dataset folder:@TPL/data -o recon.exe",
        "run",
    ),
    cli("reconstruct-no-out", "bad arguments", CLI, "reconstruct run --dataset folder:@TPL/data", "run"),
    cli("compare-n-neg", "overflowing numbers", CLI, "compare run run --n -3 -o cmp.png", "run", ci=True),
    cli("compare-n-1e9", "huge factors/sizes", CLI, "compare run run --n 1000000000 -o cmp.png", "run"),
    cli("compare-missing", "bad paths", CLI, "compare missing run -o cmp.png", "run", ci=True),
    cli("compare-foreign", "bad paths", CLI, "compare foreign run -o cmp.png", "run", "foreign"),
    cli(
        "compare-bad-state",
        "bad state.json fields",
        TRAIN,
        "compare run -o cmp.png",
        "state:format_version_str",
    ),
    cli(
        "compare-out-weights",
        "overwrite run checkpoints",
        CLI,
        "compare run -o run/best/model.safetensors",
        "run",
    ),
    cli("compare-many-runs", "huge sizes", CLI, "compare " + "run " * 2000 + "-o cmp.png", "run"),
    cli("figures-missing", "bad paths", TRAIN, "figures missing", ci=True),
    cli("figures-foreign", "bad paths", TRAIN, "figures foreign", "foreign"),
    cli("figures-checkpoint-bogus", "bad arguments", CLI, "figures run --checkpoint middle", "run"),
    cli(
        "export-out-weights",
        "overwrite run checkpoints",
        CLI,
        "export run --format torchscript -o run/last/model.safetensors",
        "run",
        ci=True,
    ),
    cli(
        "export-out-state",
        "overwrite run checkpoints",
        CLI,
        "export run --format torchscript -o run/best/state.json",
        "run",
    ),
    cli(
        "export-out-run-dir",
        "overwrite run checkpoints",
        CLI,
        "export run --format torchscript -o run",
        "run",
    ),
    cli("export-format-bogus", "bad arguments", CLI, "export run --format pickle -o m.pkl", "run"),
    cli("export-missing", "bad paths", CLI, "export missing -o m.onnx", ci=True),
    cli("export-foreign", "bad paths", CLI, "export foreign -o m.onnx", "foreign"),
    cli("export-out-missing-dir", "bad paths", CLI, "export run --format torchscript -o nowhere/m.pt", "run"),
    cli(
        "export-weights-nan",
        "overflowing numbers",
        CLI,
        "export run --format torchscript -o m.pt",
        "weights_nan",
    ),
]

KERAS = [
    cli("import-keras-missing", "bad paths", CLI, "import-keras missing.keras -o out", ci=True),
    cli("import-keras-text", "bad paths", CLI, "import-keras text.keras -o out", "keras"),
    cli("import-keras-fifo", "FIFOs", CLI, "import-keras fifo.keras -o out", "fifo", ci=True),
    cli("import-keras-dir", "bad paths", CLI, "import-keras dir.yaml -o out", "dirs"),
    cli("import-keras-deep", "deep nesting", CLI, "import-keras deep.keras -o out", "keras"),
    cli("import-keras-zipbomb", "huge sizes", CLI, "import-keras zipbomb.keras -o out", "keras", ci=True),
    cli(
        "import-keras-upsampling-1e5",
        "huge factors/sizes",
        CLI,
        "import-keras up.keras -o out",
        "keras",
        ci=True,
    ),
    cli(
        "import-keras-nan-weights",
        "overflowing numbers",
        CLI,
        "import-keras nan.keras -o out",
        "keras",
        ci=True,
    ),
    cli(
        "import-keras-dataset-imagenet",
        "unknown datasets",
        CLI,
        "import-keras ok.keras -o out --dataset imagenet",
        "keras",
        ci=True,
    ),
    cli(
        "import-keras-out-cwd",
        "overwrite of foreign folders",
        CLI,
        "import-keras ok.keras -o .",
        "keras",
        ci=True,
    ),
    cli(
        "import-keras-out-run",
        "overwrite run checkpoints",
        CLI,
        "import-keras ok.keras -o run",
        "keras",
        "run",
        ci=True,
    ),
    cli(
        "import-keras-out-foreign",
        "overwrite of foreign folders",
        CLI,
        "import-keras ok.keras -o foreign",
        "keras",
        "foreign",
    ),
    cli(
        "import-keras-out-file", "bad paths", CLI, "import-keras ok.keras -o notes.txt", "keras", "user_file"
    ),
    cli(
        "import-keras-name-slash", "bad paths", CLI, "import-keras ok.keras -o out --name ../../evil", "keras"
    ),
    cli(
        "import-keras-name-huge",
        "huge sizes",
        CLI,
        "import-keras ok.keras -o out --name " + "n" * 100_000,
        "keras",
    ),
    cli(
        "import-keras-spec-unknown",
        "bad specs",
        CLI,
        "import-keras w.weights.h5 --spec nosuch -o out",
        "keras",
    ),
    cli("import-keras-weights-no-spec", "bad arguments", CLI, "import-keras w.weights.h5 -o out", "keras"),
    cli("import-keras-no-out", "bad arguments", CLI, "import-keras ok.keras", "keras"),
]

LAB_CLI = [
    cli("lab-port-0", "bad arguments", LAB, "lab --port 0", ci=True),
    cli("lab-port-70000", "overflowing numbers", LAB, "lab --port 70000"),
    cli("lab-port-neg", "overflowing numbers", LAB, "lab --port -1"),
    cli("lab-port-text", "bad arguments", LAB, "lab --port http"),
    cli("lab-host-foreign", "bad arguments", LAB, "lab --host 203.0.113.7 --port 8799", ci=True),
    cli("lab-host-garbage", "bad arguments", LAB, "lab --host 'not a host' --port 8799"),
    cli(
        "lab-runs-fifo", "FIFOs", LAB, "lab --runs fifo.png", "fifo", ci=True
    ),  # (a missing --runs is valid: created later)
    cli("lab-runs-file", "bad paths", LAB, "lab --runs notes.txt", "user_file"),
    cli("lab-data-dir-missing", "bad paths", LAB, "lab --data-dir missing"),
]

# ---------------------------------------------------------------------------------------------------
# API entry points (each snippet must raise a ValueError with a one-line message)

C = "import convolab as c; "
#: the API contract (issue 12, decided by the lead): a Python entry may raise ``TypeError`` for an
#: argument of the wrong type and an ``OSError`` subclass (``FileNotFoundError``, ``IsADirectoryError``)
#: for a path that is missing or a folder, as Python's own functions do, with a one-line message naming
#: the argument or path; the cases that probe exactly that say so (``raises=``), every other one wants
#: a ``ValueError``
WRONG_TYPE = ("builtins.TypeError",)
N = "import numpy as np; import convolab as c; "
API = [
    api(
        "api-load_spec-huge-string",
        "huge sizes",
        CORE,
        C + "c.load_spec('layers: [' + '{type: Flatten},' * 300000 + ']')",
        ci=True,
    ),
    api(
        "api-load_spec-alias-string",
        "yaml alias bomb",
        CORE,
        C + "import pathlib; c.load_spec(pathlib.Path('alias_bomb.yaml').read_text())",
        "spec:alias_bomb.yaml",
    ),
    api(
        "api-load_spec-deep-dict",
        "deep nesting",
        CORE,
        C
        + "d = {}\nx = d\nfor _ in range(100000): x['a'] = {}; x = x['a']\nc.load_spec({'name': 'x', 'input_shape': [1, 8, 8], 'layers': [{'type': 'Flatten', 'k': d}]})",
        ci=True,
    ),
    api(
        "api-load_spec-cyclic",
        "deep nesting",
        CORE,
        C + "l = [];\nl.append(l)\nc.load_spec({'name': 'x', 'input_shape': [1, 8, 8], 'layers': l})",
        ci=True,
    ),
    api("api-load_spec-none", "bad arguments", CORE, C + "c.load_spec(None)", raises=WRONG_TYPE),
    api("api-load_spec-int", "bad arguments", CORE, C + "c.load_spec(42)", raises=WRONG_TYPE),
    api("api-load_spec-fifo", "FIFOs", CORE, C + "c.load_spec('fifo.yaml')", "fifo", ci=True),
    api("api-load_spec-dev-zero", "huge sizes", CORE, C + "c.load_spec('/dev/zero')"),
    api(
        "api-analyze-input-huge",
        "huge factors/sizes",
        CORE,
        C + "c.analyze('seed-upsampling', (1, 3000000, 3000000))",
        ci=True,
    ),
    api(
        "api-analyze-input-1e20",
        "overflowing numbers",
        CORE,
        C + "c.analyze('seed-upsampling', (1, 10**20, 10**20))",
    ),
    api(
        "api-analyze-input-nan",
        "overflowing numbers",
        CORE,
        C + "c.analyze('seed-upsampling', (1, float('nan'), 28))",
    ),
    api(
        "api-analyze-input-neg", "overflowing numbers", CORE, C + "c.analyze('seed-upsampling', (1, -28, 28))"
    ),
    api(
        "api-analyze-batch-neg",
        "overflowing numbers",
        CORE,
        C + "c.analyze('seed-upsampling', batch=-1)",
        ci=True,
    ),
    api(
        "api-analyze-batch-1e30",
        "overflowing numbers",
        CORE,
        C + "c.analyze('seed-upsampling', batch=10**30)",
    ),
    api(
        "api-analyze-pixel-field",
        "per-pixel RF blow-up",
        CORE,
        C + "a = c.analyze('rf_blowup.json')\nprint(a.layers[-1].pixel_field(10**9, 10**9))",
        "spec:rf_blowup.json",
    ),
    api(
        "api-sequential-up-1e6",
        "huge factors/sizes",
        CORE,
        C + "c.Sequential([c.UpSampling2D(10**6)], (1, 28, 28))",
        ci=True,
    ),
    api(
        "api-sequential-bon-1e6",
        "huge factors/sizes",
        CORE,
        C + "c.Sequential([c.BedOfNails2D(10**6)], (1, 28, 28))",
    ),
    api(
        "api-sequential-input-huge",
        "huge factors/sizes",
        CORE,
        C + "c.Sequential([c.Conv2D(1, 3)], (1, 3000000, 3000000))",
    ),
    api(
        "api-sequential-empty-input",
        "overflowing numbers",
        CORE,
        C + "c.Sequential([c.Flatten()], (1, 0, 28))",
    ),
    api(
        "api-sequential-100k",
        "100k-layer specs",
        CORE,
        C + "c.Sequential([c.Activation('relu') for _ in range(100000)], (1, 8, 8))",
        ci=True,
    ),
    api(
        "api-conv-filters-1e9",
        "huge factors/sizes",
        CORE,
        C + "c.Sequential([c.Conv2D(10**9, 3)], (1, 8, 8))",
        ci=True,
    ),
    api(
        "api-conv-kernel-1e5",
        "huge factors/sizes",
        CORE,
        C + "c.Sequential([c.Conv2D(1, 100001)], (1, 8, 8))",
    ),
    api("api-conv-stride-1e20", "overflowing numbers", CORE, C + "c.Conv2D(1, 3, strides=10**20)", ci=True),
    api("api-conv-stride-0", "overflowing numbers", CORE, C + "c.Conv2D(1, 3, strides=0)"),
    api("api-conv-filters-neg", "overflowing numbers", CORE, C + "c.Conv2D(-1, 3)"),
    api("api-conv-kernel-nan", "overflowing numbers", CORE, C + "c.Conv2D(1, float('nan'))"),
    api("api-conv-padding", "bad arguments", CORE, C + "c.Conv2D(1, 3, padding='bogus')"),
    api(
        "api-conv-dilation-1e6",
        "huge factors/sizes",
        CORE,
        C + "c.Sequential([c.Conv2D(1, 3, dilation_rate=10**6, padding='same')], (1, 8, 8))",
    ),
    api("api-conv-activation", "bad arguments", CORE, C + "c.Conv2D(1, 3, activation='eval')"),
    api(
        "api-tconv-stride-1e5",
        "huge factors/sizes",
        CORE,
        C + "c.Sequential([c.Conv2DTranspose(1, 3, strides=100000)], (1, 28, 28))",
        ci=True,
    ),
    api(
        "api-tconv-strided-dilated",
        "bad arguments",
        CORE,
        C + "c.Sequential([c.Conv2DTranspose(1, 3, strides=2, dilation_rate=2)], (1, 8, 8))",
        ci=True,
    ),
    api(
        "api-pixel-field-out-of-range",
        "per-pixel RF blow-up",
        CORE,
        C
        + "a = c.analyze([c.BedOfNails2D(2), c.Conv2D(1, 2, padding='same', dilation_rate=2)], (1, 2, 2))\na.layers[-1].pixel_field(4, 0)",
        ci=True,
    ),
    api(
        "api-tconv-output-padding",
        "huge factors/sizes",
        CORE,
        C + "c.Conv2DTranspose(1, 3, strides=2, output_padding=10**6)",
    ),
    api(
        "api-dense-1e12",
        "huge factors/sizes",
        CORE,
        C + "c.Sequential([c.Flatten(), c.Dense(10**12)], (1, 8, 8))",
        ci=True,
    ),
    api("api-dense-neg", "overflowing numbers", CORE, C + "c.Dense(-1)"),
    api("api-dense-inf", "overflowing numbers", CORE, C + "c.Dense(float('inf'))"),
    api("api-up-0", "overflowing numbers", CORE, C + "c.UpSampling2D(0)"),
    api("api-up-neg", "overflowing numbers", CORE, C + "c.UpSampling2D(-2)"),
    api("api-up-interpolation", "bad arguments", CORE, C + "c.UpSampling2D(2, interpolation='bogus')"),
    api("api-pool-0", "overflowing numbers", CORE, C + "c.MaxPool2D(0)"),
    api("api-pool-1e6", "huge factors/sizes", CORE, C + "c.Sequential([c.MaxPool2D(10**6)], (1, 8, 8))"),
    api("api-avgpool-stride-neg", "overflowing numbers", CORE, C + "c.AvgPool2D(2, strides=-1)"),
    api(
        "api-reshape-huge",
        "huge factors/sizes",
        CORE,
        C + "c.Sequential([c.Flatten(), c.Reshape((1, 10**6, 10**6))], (1, 8, 8))",
    ),
    api("api-activation-bogus", "bad arguments", CORE, C + "c.Activation('eval')"),
    api("api-unpool-unknown", "bad specs", CORE, C + "c.Sequential([c.MaxUnpool2D('nosuch')], (1, 8, 8))"),
    api("api-build_model-unknown", "bad specs", CORE, C + "c.build_model('nosuch-model')"),
    api(
        "api-filter2d-broadcast-1e8",
        "big/odd images",
        CLI,
        N + "c.filter2d(np.broadcast_to(np.float32(0), (1, 10**8)), 'gaussian')",
        ci=True,
    ),
    api(
        "api-filter2d-broadcast-1e10",
        "big/odd images",
        CLI,
        N + "c.filter2d(np.broadcast_to(np.float32(0), (100000, 100000)), 'sobel_x')",
    ),
    api(
        "api-filter2d-kernel-huge",
        "kernels size/sigma",
        CLI,
        N + "c.filter2d(np.zeros((8, 8)), np.broadcast_to(np.float32(1), (20001, 20001)))",
    ),
    api(
        "api-filter2d-stride-0",
        "overflowing numbers",
        CLI,
        N + "c.filter2d(np.zeros((8, 8)), 'sobel_x', stride=0)",
        ci=True,
    ),
    api(
        "api-filter2d-stride-1e20",
        "overflowing numbers",
        CLI,
        N + "c.filter2d(np.zeros((8, 8)), 'sobel_x', stride=10**20)",
    ),
    api(
        "api-filter2d-padding",
        "bad arguments",
        CLI,
        N + "c.filter2d(np.zeros((8, 8)), 'sobel_x', padding='bogus')",
    ),
    api(
        "api-filter2d-border",
        "bad arguments",
        CLI,
        N + "c.filter2d(np.zeros((8, 8)), 'sobel_x', border='bogus')",
    ),
    api("api-filter2d-1d", "bad arguments", CLI, N + "c.filter2d(np.zeros(8), 'sobel_x')"),
    api("api-filter2d-5d", "bad arguments", CLI, N + "c.filter2d(np.zeros((1, 1, 1, 8, 8)), 'sobel_x')"),
    api("api-filter2d-unknown-kernel", "bad arguments", CLI, N + "c.filter2d(np.zeros((8, 8)), 'nosuch')"),
    api(
        "api-get_kernel-size-1e5",
        "kernels size/sigma",
        CLI,
        C + "c.get_kernel('gaussian', size=100001)",
        ci=True,
    ),
    api(
        "api-get_kernel-sigma-1e5",
        "kernels size/sigma",
        CLI,
        C + "c.get_kernel('gaussian', sigma=100000)",
        ci=True,
    ),
    api("api-get_kernel-log-sigma-1e5", "kernels size/sigma", CLI, C + "c.get_kernel('log', sigma=100000)"),
    api("api-get_kernel-box-1e5", "kernels size/sigma", CLI, C + "c.get_kernel('box', size=100000)"),
    api(
        "api-get_kernel-sigma-nan",
        "overflowing numbers",
        CLI,
        C + "c.get_kernel('gaussian', sigma=float('nan'))",
    ),
    api(
        "api-get_kernel-sigma-inf",
        "overflowing numbers",
        CLI,
        C + "c.get_kernel('gaussian', sigma=float('inf'))",
    ),
    api("api-get_kernel-sigma-neg", "overflowing numbers", CLI, C + "c.get_kernel('gaussian', sigma=-1)"),
    api("api-get_kernel-size-1e20", "overflowing numbers", CLI, C + "c.get_kernel('box', size=10**20)"),
    api("api-get_kernel-size-0", "overflowing numbers", CLI, C + "c.get_kernel('box', size=0)"),
    api("api-get_kernel-unknown", "bad arguments", CLI, C + "c.get_kernel('nosuch')"),
    api("api-load_image-bomb", "big/odd images", CLI, C + "c.load_image('bomb.png')", "bomb.png", ci=True),
    api("api-load_image-wide", "big/odd images", CLI, C + "c.load_image('wide.png')", "wide.png"),
    api("api-load_image-tall", "big/odd images", CLI, C + "c.load_image('tall.png')", "tall.png"),
    api("api-load_image-fifo", "FIFOs", CLI, C + "c.load_image('fifo.png')", "fifo", ci=True),
    api("api-load_image-dev-zero", "FIFOs", CLI, C + "c.load_image('/dev/zero')"),
    api(
        "api-load_image-truncated",
        "big/odd images",
        CLI,
        C + "c.load_image('truncated.png')",
        "truncated.png",
    ),
    api("api-load_image-text", "big/odd images", CLI, C + "c.load_image('text.png')", "text.png"),
    api(
        "api-load_image-dir",
        "bad paths",
        CLI,
        C + "c.load_image('dir.png')",
        "dirs",
        raises=("builtins.IsADirectoryError",),
    ),
    api(
        "api-load_image-missing",
        "bad paths",
        CLI,
        C + "c.load_image('missing.png')",
        raises=("builtins.FileNotFoundError",),
    ),
    api(
        "api-load_image-alpha",
        "bad arguments",
        CLI,
        C + "c.load_image('small.png', alpha='bogus')",
        "small.png",
    ),
    api("api-load_dataset-unknown", "unknown datasets", CLI, C + "c.load_dataset('imagenet')", ci=True),
    api(
        "api-load_dataset-split",
        "bad arguments",
        CLI,
        C + "c.load_dataset('folder:@TPL/data', split='bogus')",
    ),
    api(
        "api-load_dataset-limit-neg",
        "overflowing numbers",
        CLI,
        C + "c.load_dataset('folder:@TPL/data', limit=-1)",
    ),
    api(
        "api-load_dataset-limit-1e20",
        "overflowing numbers",
        CLI,
        C + "c.load_dataset('folder:@TPL/data', limit=10**20, split='test')",
    ),
    api(
        "api-load_dataset-image-size-1e5",
        "huge factors/sizes",
        CLI,
        C + "c.load_dataset('folder:@TPL/data', image_size=100000)",
        ci=True,
    ),
    api(
        "api-load_dataset-image-size-0",
        "overflowing numbers",
        CLI,
        C + "c.load_dataset('folder:@TPL/data', image_size=0)",
    ),
    api(
        "api-load_dataset-color",
        "bad arguments",
        CLI,
        C + "c.load_dataset('folder:@TPL/data', color='bogus')",
    ),
    api(
        "api-load_dataset-bombset",
        "big/odd images",
        CLI,
        C + "c.load_dataset('folder:bombset')",
        "bombset",
        ci=True,
    ),
    api("api-load_dataset-offline", "bad paths", CLI, C + "c.load_dataset('mnist', split='test')", ci=True),
    api(
        "api-load_dataset-data-dir-missing",
        "bad paths",
        CLI,
        C + "c.load_dataset('mnist', data_dir='missing', download=False)",
    ),
    api(
        "api-load_dataset-corrupt",
        "bad paths",
        CLI,
        C + "c.load_dataset('mnist', split='test', data_dir='mnistdir', download=False)",
        "mnist_corrupt",
    ),
    api(
        "api-read_idx-huge-count",
        "huge factors/sizes",
        CLI,
        C + "c.read_idx('huge-idx3-ubyte')",
        "idx",
        ci=True,
    ),
    api("api-read_idx-huge-dims", "huge factors/sizes", CLI, C + "c.read_idx('dims-idx3-ubyte')", "idx"),
    api("api-read_idx-magic", "bad paths", CLI, C + "c.read_idx('magic-idx3-ubyte')", "idx"),
    api("api-read_idx-truncated", "bad paths", CLI, C + "c.read_idx('trunc-idx3-ubyte')", "idx"),
    api("api-read_idx-ndim-255", "huge factors/sizes", CLI, C + "c.read_idx('ndim-idx3-ubyte')", "idx"),
    api("api-read_idx-dtype", "bad paths", CLI, C + "c.read_idx('dtype-idx3-ubyte')", "idx"),
    api(
        "api-read_idx-gzip-bomb", "huge sizes", CLI, C + "c.read_idx('gzbomb-idx3-ubyte.gz')", "idx", ci=True
    ),
    api(
        "api-read_idx-max-bytes-neg",
        "overflowing numbers",
        CLI,
        C + "c.read_idx('huge-idx3-ubyte', max_bytes=-1)",
        "idx",
    ),
    api("api-read_idx-fifo", "FIFOs", CLI, C + "c.read_idx('fifo-idx3-ubyte')", "fifo"),
    api("api-read_idx-dev-zero", "FIFOs", CLI, C + "c.read_idx('/dev/zero')"),
    api(
        "api-trainconfig-epochs-neg",
        "overflowing numbers",
        TRAIN,
        C + "c.TrainConfig(epochs=-5).validate()",
        ci=True,
    ),
    api(
        "api-trainconfig-batch-0", "overflowing numbers", TRAIN, C + "c.TrainConfig(batch_size=0).validate()"
    ),
    api(
        "api-trainconfig-lr-nan",
        "overflowing numbers",
        TRAIN,
        C + "c.TrainConfig(lr=float('nan')).validate()",
        ci=True,
    ),
    api(
        "api-trainconfig-noise-inf",
        "overflowing numbers",
        TRAIN,
        C + "c.TrainConfig(noise=float('inf')).validate()",
    ),
    api(
        "api-trainconfig-val-fraction",
        "overflowing numbers",
        TRAIN,
        C + "c.TrainConfig(val_fraction=2.0).validate()",
    ),
    api("api-trainconfig-limit-neg", "overflowing numbers", TRAIN, C + "c.TrainConfig(limit=-1).validate()"),
    api(
        "api-trainconfig-workers-neg",
        "overflowing numbers",
        TRAIN,
        C + "c.TrainConfig(workers=-1).validate()",
    ),
    api(
        "api-trainconfig-budget-nan",
        "overflowing numbers",
        TRAIN,
        C + "c.TrainConfig(memory_budget=float('nan')).validate()",
    ),
    api(
        "api-trainconfig-ckpt-seconds-neg",
        "overflowing numbers",
        TRAIN,
        C + "c.TrainConfig(checkpoint_seconds=-1.0).validate()",
    ),
    api(
        "api-trainconfig-epochs-1e20",
        "overflowing numbers",
        TRAIN,
        C + "c.TrainConfig(epochs=10**20).validate()",
    ),
    api("api-trainconfig-batch-str", "bad arguments", TRAIN, C + "c.TrainConfig(batch_size='16').validate()"),
    api(
        "api-train-dataset-unknown",
        "unknown datasets",
        TRAIN,
        C
        + "from convolab.train import train\ntrain(c.TrainConfig(model='tiny.json', dataset='nosuch', out='out', device='cpu'), quiet=True)",
        "tiny_data",
        ci=True,
    ),
    api(
        "api-train-overwrite-foreign",
        "overwrite of foreign folders",
        TRAIN,
        C
        + "from convolab.train import train\ntrain(c.TrainConfig(model='tiny.json', dataset='folder:data', epochs=1, batch_size=16, out='foreign', device='cpu'), overwrite=True, quiet=True, figures=False)",
        "tiny_data",
        "foreign",
    ),
    api(
        "api-train-model-bomb",
        "huge factors/sizes",
        TRAIN,
        C
        + "from convolab.train import train\ntrain(c.TrainConfig(model='up_1e8.json', dataset='folder:data', epochs=1, out='out', device='cpu'), quiet=True, figures=False)",
        "tiny_data",
        "spec:up_1e8.json",
    ),
    api(
        "api-resume-step-1e30",
        "bad state.json fields",
        TRAIN,
        C + "from convolab.train import resume\nresume('run', overrides={'epochs': 2}, quiet=True)",
        "state:step_1e30",
    ),
    api(
        "api-resume-epoch-neg",
        "bad state.json fields",
        TRAIN,
        C + "from convolab.train import resume\nresume('run', overrides={'epochs': 2}, quiet=True)",
        "state:epoch_neg",
    ),
    api("api-load_run-missing", "bad paths", TRAIN, C + "c.load_run('missing')", ci=True),
    api("api-load_run-which", "bad arguments", TRAIN, C + "c.load_run('run', which='middle')", "run"),
    api("api-load_run-device", "bad arguments", TRAIN, C + "c.load_run('run', device='bogus')", "run"),
    api(
        "api-load_run-format-version",
        "bad state.json fields",
        TRAIN,
        C + "c.load_run('run')",
        "state:format_version_str",
        ci=True,
    ),
    api(
        "api-load_run-spec-bomb",
        "huge factors/sizes",
        TRAIN,
        C + "c.load_run('run')",
        "state:spec_bomb",
        ci=True,
    ),
    api("api-load_run-spec-path", "bad state.json fields", TRAIN, C + "c.load_run('run')", "state:spec_path"),
    api("api-load_run-deep-json", "deep nesting", TRAIN, C + "c.load_run('run')", "state:deep_json"),
    api("api-load_run-symlink-best", "bad paths", TRAIN, C + "c.load_run('run')", "symlink_best"),
    api(
        "api-load_run-weights-garbage",
        "bad state.json fields",
        TRAIN,
        C + "c.load_run('run')",
        "weights_garbage",
    ),
    api(
        "api-load_checkpoint-state-list",
        "bad state.json fields",
        TRAIN,
        C + "c.load_checkpoint('run/last')",
        "state:list_json",
    ),
    api(
        "api-compare_runs-n-neg",
        "overflowing numbers",
        TRAIN,
        C + "c.compare_runs(['run'], n=-3)",
        "run",
        ci=True,
    ),
    api(
        "api-evaluate_run-dataset",
        "unknown datasets",
        TRAIN,
        C + "c.evaluate_run('run', dataset='imagenet', device='cpu')",
        "run",
    ),
    api(
        "api-import_keras-text",
        "bad paths",
        CLI,
        "from convolab.keras_io import import_keras\nimport_keras('text.keras')",
        "keras",
    ),
    api(
        "api-import_keras-deep",
        "deep nesting",
        CLI,
        "from convolab.keras_io import import_keras\nimport_keras('deep.keras')",
        "keras",
        ci=True,
    ),
    api(
        "api-import_keras-zipbomb",
        "huge sizes",
        CLI,
        "from convolab.keras_io import import_keras\nimport_keras('zipbomb.keras')",
        "keras",
        ci=True,
    ),
    api(
        "api-import_keras-nan",
        "overflowing numbers",
        CLI,
        "from convolab.keras_io import import_keras\nimport_keras('nan.keras')",
        "keras",
        ci=True,
    ),
    api(
        "api-import_keras-up",
        "huge factors/sizes",
        CLI,
        "from convolab.keras_io import import_keras\nimport_keras('up.keras')",
        "keras",
    ),
    api(
        "api-import_keras-spec-bomb",
        "yaml alias bomb",
        CLI,
        "from convolab.keras_io import import_keras\nimport_keras('w.weights.h5', spec='alias_bomb.yaml')",
        "keras",
        "spec:alias_bomb.yaml",
    ),
    api(
        "api-write_run-cwd",
        "overwrite of foreign folders",
        CLI,
        "from convolab.keras_io import import_keras, write_run\nwrite_run(import_keras('ok.keras'), '.')",
        "keras",
        ci=True,
    ),
    api(
        "api-write_run-existing-run",
        "overwrite run checkpoints",
        CLI,
        "from convolab.keras_io import import_keras, write_run\nwrite_run(import_keras('ok.keras'), 'run')",
        "keras",
        "run",
    ),
    api(
        "api-write_run-dataset",
        "unknown datasets",
        CLI,
        "from convolab.keras_io import import_keras, write_run\nwrite_run(import_keras('ok.keras'), 'out', dataset='imagenet')",
        "keras",
    ),
    api(
        "api-export_model-over-weights",
        "overwrite run checkpoints",
        CLI,
        C
        + "from convolab.keras_io.export import export_model\nexport_model(c.load_run('run').model, 'run/last/model.safetensors', 'torchscript')",
        "run",
        ci=True,
    ),
    api(
        "api-export_model-format",
        "bad arguments",
        CLI,
        C
        + "from convolab.keras_io.export import export_model\nexport_model(c.load_run('run').model, 'm.pkl', 'pickle')",
        "run",
    ),
]

# The Python API as a notebook calls it (issue 26 item 3): arrays that are not plain data, option values
# of the wrong kind, a folder: dataset that cannot be listed, a state.json past its cap.
F = "c.fit('seed-upsampling', {x}, out='out', quiet=True, figures=False, device='cpu'{kw})"
NT = N + "import torch; "
PYAPI = [
    api(
        "api-fit-broadcast-1e6",
        "Python API",
        TRAIN,
        N + F.format(x="np.broadcast_to(np.uint8(0), (10**6, 28, 28))", kw=""),
        ci=True,
    ),
    api(
        "api-fit-broadcast-nhwc-1e6",
        "Python API",
        TRAIN,
        N + F.format(x="np.broadcast_to(np.float64(0), (10**6, 28, 28, 1))", kw=""),
    ),
    api(
        "api-predict-broadcast-1e6",
        "Python API",
        TRAIN,
        N
        + "c.Sequential.from_spec('seed-upsampling').predict(np.broadcast_to(np.uint8(0), (10**6, 28, 28)))",
    ),
    api(
        "api-fit-meta", "Python API", TRAIN, NT + F.format(x="torch.zeros(64, 28, 28, device='meta')", kw="")
    ),
    api("api-fit-sparse", "Python API", TRAIN, NT + F.format(x="torch.zeros(64, 28, 28).to_sparse()", kw="")),
    api(
        "api-fit-masked",
        "Python API",
        TRAIN,
        N + F.format(x="np.ma.masked_array(np.zeros((64, 28, 28), np.uint8), mask=True)", kw=""),
        ci=True,
    ),
    api(
        "api-fit-validation-masked",
        "Python API",
        TRAIN,
        N
        + F.format(
            x="np.zeros((64, 28, 28), np.uint8)",
            kw=", validation_data=np.ma.masked_array(np.zeros((8, 28, 28), np.uint8), mask=True)",
        ),
    ),
    api(
        "api-fit-out-int",
        "Python API",
        TRAIN,
        N + F.format(x="np.zeros((64, 28, 28), np.uint8)", kw="").replace("out='out'", "out=5"),
    ),
    api("api-fit-folder-proc", "Python API", TRAIN, C + F.format(x="'folder:/proc'", kw="")),
    api(
        "api-fit-lr-dict",
        "Python API",
        TRAIN,
        N + F.format(x="np.zeros((64, 28, 28), np.uint8)", kw=", lr={'a': 1}"),
    ),
    api(
        "api-fit-device-dict",
        "Python API",
        TRAIN,
        N
        + F.format(x="np.zeros((64, 28, 28), np.uint8)", kw=", device={'a': 1}").replace(
            ", device='cpu'", "", 1
        ),
    ),
    api(
        "api-evaluate-masked",
        "Python API",
        TRAIN,
        N
        + "c.Sequential.from_spec('seed-upsampling').evaluate(np.ma.masked_array(np.zeros((8, 28, 28), np.uint8), mask=True))",
    ),
    api(
        "api-model-call-numpy",
        "Python API",
        CORE,
        N + "c.Sequential.from_spec('seed-upsampling')(np.zeros((2, 1, 28, 28), np.float32))",
        raises=WRONG_TYPE,
        ci=True,
    ),
    api(
        "api-model-call-uint8",
        "Python API",
        CORE,
        NT + "c.Sequential.from_spec('seed-upsampling')(torch.zeros((2, 1, 28, 28), dtype=torch.uint8))",
    ),
    api(
        "api-load_run-state-100mb", "Python API", TRAIN, C + "c.load_run('run')", "state:huge_100mb", ci=True
    ),
]

#: inputs that turned out valid on the hardened tree: they must succeed in bounds (``Case.valid``:
#: the paths they may write). The receptive-field walk is closed-form now, so the largest allowed maps
#: (65536 x 65536) analyse in 0.3 s; load_spec only parses; Python ints do not overflow a MAC count.
VALID: dict[str, tuple[str, ...]] = {
    **{
        f"{what}-{spec}": ()
        for what in ("summary", "load_spec", "analyze", "build_model")
        for spec in ("rf_blowup", "rf_bon_tconv")
    },
    "load_spec-grow_chain": (),
    "load_spec-reshape_huge": (),  # parsed only; analyze/build refuse them
    "api-load_dataset-limit-1e20": (),  # a limit above the split's size keeps it all
    "train-batch-1e12": ("work/out",),  # one batch of the whole (tiny) split, as Keras does
    "data-show-seed-neg": ("work/grid.png",),  # any int seeds the sample choice
    "export-state-config_dataset_folder_etc": ("work/model.pt",),  # export reads no dataset
    "import-keras-name-slash": ("work/out",),
    "import-keras-name-huge": ("work/out",),  # a name, not a path
    "resume-state-config_epochs_1e20": ("work/run",),  # --epochs 2 replaces the stored count
    "resume-state-no_seconds": ("work/run",),  # epoch_seconds is optional (old runs lack it)
    "evaluate-symlink-best": (),
    "api-load_run-symlink-best": (),  # best/ incomplete: last/ is used
}

CASES: list[Case] = [
    *_spec_cases(),
    *SUMMARY,
    *FILTER,
    *KERNELS,
    *DATA,
    *_train_cases(),
    *_state_cases(),
    *RUNS,
    *KERAS,
    *LAB_CLI,
    *API,
    *PYAPI,
    *cases_issue26.CASES,
]
VALID.update(cases_issue26.VALID)
assert set(VALID) <= {c.id for c in CASES}, sorted(set(VALID) - {c.id for c in CASES})
CASES = [dataclasses.replace(c, valid=VALID[c.id]) if c.id in VALID else c for c in CASES]
_ids = [c.id for c in CASES]
assert len(_ids) == len(set(_ids)), sorted({i for i in _ids if _ids.count(i) > 1})

# ---------------------------------------------------------------------------------------------------
# the issue's list (issue 12, "Why" 1-10): which item each hostile input belongs to, for the counts

ISSUE_ITEMS = {
    1: "one request stalls the lab or runs it out of memory (lab command, unbounded factors)",
    2: "the lab trusts run folders (symlinks, a stored spec path, a run's dataset outside the data dirs)",
    3: "YAML alias bombs and 100k-layer specs",
    4: "unbounded work (analysis, model build, kernels, images, FIFOs, counts)",
    5: "resume reads a run's state (hand-edited counters, checkpoints)",
    6: "data destroyed without a guard (--overwrite, import/export over runs and foreign folders)",
    7: "a traceback where one error line belongs (deep nesting, overflow, bombs, bad state, bad values)",
    8: "dilated Conv2DTranspose (the kernel TF lacks on some CPUs)",
    9: "receptive fields of dilation over holes (pixel_field)",
    10: "layers before build (constructor arguments)",
}
_LAYER_CTORS = (
    "api-conv-",
    "api-dense-",
    "api-up-",
    "api-pool-",
    "api-avgpool-",
    "api-activation-",
    "api-tconv-output",
)


def issue_item(case: Case) -> int:
    """The item of issue 12's list (1-10) that ``case`` probes (see ``ISSUE_ITEMS``)."""
    cid, cat = case.id, case.category
    if case.area == LAB:
        return 1
    if any(k in cid for k in ("symlink", "spec_path", "dataset_folder_etc")):
        return 2
    if cid.startswith("resume-") or cid.startswith(("train-resume", "api-resume")):
        return 5
    if cat in ("yaml alias bomb", "100k-layer specs"):
        return 3
    if cat in ("overwrite of foreign folders", "overwrite run checkpoints"):
        return 6
    if cid == "api-tconv-strided-dilated":
        return 8
    if "pixel-field" in cid:
        return 9
    if cid.startswith(_LAYER_CTORS) and "Sequential" not in case.code:
        return 10
    if "bomb" in cid and cat == "big/odd images":
        return 7  # PIL's DecompressionBombError, a traceback in the issue
    if cat in (
        "huge factors/sizes",
        "huge sizes",
        "per-pixel RF blow-up",
        "kernels size/sigma",
        "big/odd images",
        "FIFOs",
    ):
        return 4
    return 7
