# ruff: noqa: E501  (a table: one hostile input per line reads better than wrapped ones)
"""Issue 26's hostile inputs on the surfaces added since issue 12: ``--config`` files (and the checks a
start must make before it creates its run folder), and interrupted endings (a folder left by a failed
start, a kill while the figures are drawn, a log that cannot be written).

Every refusal keeps the suite's contract (exit 2, one ``error:`` line, nothing written, in bounds);
``VALID`` lists the inputs that must now succeed, writing only where they say.
"""

from __future__ import annotations

from fuzz.files_issue26 import CONFIGS
from fuzz.harness import Case, api, cli

TRAIN = "training"
CONFIG, ENDINGS = "config files", "interrupted endings"
TRAIN_CFG = "train --config {f} -q --no-figures"
TRAIN_ARGS = "--model tiny.json --dataset folder:data --epochs 1 --batch-size 16 -q --no-figures --device cpu"
#: config files whose cases run in CI (the rest with -m fuzz_full)
CI_CONFIGS = {"brace_lr.yaml", "key_int.yaml", "batch_1e21.yaml", "extra_binary.yaml", "model_3ch.yaml"}


#: what the error line of a config file's case must say (the field, and what is wrong with it)
LINK = ("--out", "symbolic link")
SAYS = {
    "brace_loss.yaml": ("--loss", "{oops}"),
    "brace_lr.yaml": ("--lr", "{'a': 1}"),
    "key_int.yaml": ("1 (int)",),
    "key_mixed.yaml": ("3 (int)",),
    "out_int.yaml": ("--out", "5"),
    "out_list.yaml": ("--out",),
    "data_dir_list.yaml": ("--data-dir",),
    "data_dir_int.yaml": ("--data-dir",),
    "seed_huge.yaml": ("--seed", "limits"),
    "out_dangling.yaml": LINK,
    "out_loop.yaml": LINK,
    "out_nul.json": ("--out", "NUL"),
    "out_empty.yaml": ("--out",),
    "batch_1e21.yaml": ("--batch-size", "limits"),
    "extra_binary.yaml": ("extra", "bytes"),
    "extra_date.yaml": ("extra", "date"),
    "extra_set.yaml": ("extra",),
    "extra_list.yaml": ("extra",),
    "model_3ch.yaml": ("tiny3.json", "(3, 8, 8)"),
}


def _config_cases() -> list[Case]:
    out = []
    for name in CONFIGS:
        stem, f = name.split(".")[0], "cfg.json" if name.endswith(".json") else "cfg.yaml"
        out.append(
            cli(
                f"cfg-{stem}",
                CONFIG,
                TRAIN,
                TRAIN_CFG.format(f=f),
                "tiny_data",
                f"cfg:{name}",
                ci=name in CI_CONFIGS,
                says=SAYS[name],
            )
        )
    return out


C = "from convolab.train import TrainConfig; "
CASES: list[Case] = [
    *_config_cases(),
    cli("cfg-dev-zero", CONFIG, TRAIN, TRAIN_CFG.format(f="/dev/zero"), ci=True),
    cli("cfg-dev-urandom", CONFIG, TRAIN, TRAIN_CFG.format(f="/dev/urandom")),
    cli("cfg-fifo", CONFIG, TRAIN, TRAIN_CFG.format(f="fifo.yaml"), "fifo", ci=True),
    cli(
        "cfg-batch-flag-1e21",
        CONFIG,
        TRAIN,
        f"train {TRAIN_ARGS} --batch-size 1000000000000000000000 --out out",
        "tiny_data",
        says=("--batch-size", "limits"),
    ),
    cli(
        "cfg-seed-flag-1e30",
        CONFIG,
        TRAIN,
        f"train {TRAIN_ARGS} --seed 1000000000000000000000000000000 --out out",
        "tiny_data",
        says=("--seed",),
    ),
    cli(
        "train-out-empty",
        "bad paths",
        TRAIN,
        f"train {TRAIN_ARGS} --out ''",
        "tiny_data",
        ci=True,
        says=("--out",),
    ),
    cli(
        "cfg-out-flag-loop",
        CONFIG,
        TRAIN,
        f"train {TRAIN_ARGS} --out loop",
        "tiny_data",
        "cfg:out_loop.yaml",
        says=LINK,
    ),
    cli(
        "cfg-out-flag-dangling",
        CONFIG,
        TRAIN,
        f"train {TRAIN_ARGS} --out dangling",
        "tiny_data",
        "cfg:out_dangling.yaml",
        says=LINK,
    ),
    cli(
        "cfg-model-3ch-flags",
        CONFIG,
        TRAIN,
        f"train {TRAIN_ARGS} --model tiny3.json --loss mse --out out",
        "tiny_data",
        "cfg:model_3ch.yaml",
    ),
    cli(
        "data-show-data-dir-empty",
        "bad paths",
        "cli/filters/data/keras",
        "data show fashion-mnist --data-dir emptydata -o grid.png",
        "empty_data_dir",
        ci=True,
        says=("emptydata",),
    ),
    api(
        "cfg-api-lr-dict",
        CONFIG,
        TRAIN,
        C + "TrainConfig(lr={'a': 1}).validate()",
        ci=True,
        says=("lr", "{'a': 1}"),
    ),
    api(
        "cfg-api-device-dict", CONFIG, TRAIN, C + "TrainConfig(device={'x': 1}).validate()", says=("device",)
    ),
    api(
        "cfg-api-loss-brace",
        CONFIG,
        TRAIN,
        C + "TrainConfig(loss='{field}{0}').validate()",
        says=("loss", "'{field}{0}'"),
    ),
    api("cfg-api-from-file-dev-zero", CONFIG, TRAIN, C + "TrainConfig.from_file('/dev/zero')"),
    api("cfg-api-from-file-fifo", CONFIG, TRAIN, C + "TrainConfig.from_file('fifo.yaml')", "fifo"),
    api("cfg-api-out-int", CONFIG, TRAIN, C + "TrainConfig(out=5).validate()", says=("out",)),
    api(
        "cfg-api-extra-bytes", CONFIG, TRAIN, C + "TrainConfig(extra={'b': b'x'}).validate()", says=("extra",)
    ),
    # interrupted endings: what a kill or a failed start left must not block the next command
    cli(
        "end-retry-lock-only",
        ENDINGS,
        TRAIN,
        f"train {TRAIN_ARGS} --out out",
        "tiny_data",
        "lock_only",
        ci=True,
    ),
    cli(
        "end-retry-no-checkpoint",
        ENDINGS,
        TRAIN,
        f"train {TRAIN_ARGS} --out out",
        "tiny_data",
        "no_checkpoint",
    ),
    cli("end-resume-figures-missing", ENDINGS, TRAIN, "train --resume run -q", "run"),
    cli("end-resume-figures-partial", ENDINGS, TRAIN, "train --resume run -q", "partial_figures", ci=True),
    cli(
        "end-resume-no-figures-flag",
        ENDINGS,
        TRAIN,
        "train --resume run -q --no-figures",
        "partial_figures",
        says=("convolab figures run",),
    ),
    cli(
        "end-tensorboard-unwritable",
        ENDINGS,
        TRAIN,
        "train --resume run --epochs 2 -q --no-figures --device cpu",
        "tensorboard_file",
        ci=True,
    ),
]

#: inputs that must succeed (in bounds), writing only under these paths (of the case's root)
VALID: dict[str, tuple[str, ...]] = {
    "end-retry-lock-only": ("work/out",),  # the folder of a failed start is reused
    "end-retry-no-checkpoint": ("work/out",),
    "end-resume-figures-missing": ("work/run",),  # a finished run: its missing figures redrawn
    "end-resume-figures-partial": ("work/run",),
    "end-tensorboard-unwritable": ("work/run",),  # one warning line; the run goes on without TensorBoard
}
