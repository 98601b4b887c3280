# ruff: noqa: E501  (tables of hostile files: one per line)
"""Hostile files of issue 26's new surfaces: ``--config`` files and run folders left by interrupted endings.

``cfg:NAME`` writes ``cfg.yaml`` (or ``cfg.json``) into a case's cwd: the tiny run's settings (the
``tiny_data`` builder's ``tiny.json`` on ``folder:data``) with one hostile field. The run-folder builders
copy the session's tiny run (``files.template_dir()``) and leave it as a kill or a failed start would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

BASE = "model: tiny.json\ndataset: folder:data\nepochs: 1\nbatch_size: 16\ndevice: cpu\n"

#: config file name -> its text (YAML unless the name ends in .json)
CONFIGS: dict[str, str] = {
    "brace_loss.yaml": BASE + "loss: '{oops}'\nout: out\n",
    "brace_lr.yaml": BASE + "lr: {a: 1}\nout: out\n",
    "key_int.yaml": BASE + "1: 2\nout: out\n",
    "key_mixed.yaml": BASE + "3: x\nnope: 1\nout: out\n",
    "out_int.yaml": BASE + "out: 5\n",
    "out_list.yaml": BASE + "out: [a, b]\n",
    "data_dir_list.yaml": BASE + "data_dir: [a]\nout: out\n",
    "data_dir_int.yaml": BASE + "data_dir: 7\nout: out\n",
    "seed_huge.yaml": BASE + "seed: 1000000000000000000000000000000\nout: out\n",
    "out_dangling.yaml": BASE + "out: dangling\n",
    "out_loop.yaml": BASE + "out: loop\n",
    "out_nul.json": json.dumps(
        {
            "model": "tiny.json",
            "dataset": "folder:data",
            "epochs": 1,
            "batch_size": 16,
            "device": "cpu",
            "out": "a\0b",
        }
    ),
    "out_empty.yaml": BASE + "out: ''\n",
    "batch_1e21.yaml": BASE.replace("batch_size: 16", "batch_size: 1000000000000000000000") + "out: out\n",
    "extra_binary.yaml": BASE + "extra: {blob: !!binary aGVsbG8=}\nout: out\n",
    "extra_date.yaml": BASE + "extra: {when: 2024-01-01}\nout: out\n",
    "extra_set.yaml": BASE + "extra: !!set {a, b}\nout: out\n",
    "extra_list.yaml": BASE + "extra: [1, 2]\nout: out\n",
    "model_3ch.yaml": BASE.replace("tiny.json", "tiny3.json") + "loss: mse\nout: out\n",
}


def _config(name: str) -> Callable[[Path], None]:
    def build(work: Path) -> None:
        suffix = ".json" if name.endswith(".json") else ".yaml"
        (work / f"cfg{suffix}").write_text(CONFIGS[name])
        if name == "out_dangling.yaml":
            (work / "dangling").symlink_to("nowhere/at/all")
        if name == "out_loop.yaml":
            (work / "loop").symlink_to("loop")
        if name == "model_3ch.yaml":  # the tiny model with 3 output channels, on 1-channel data
            spec = json.loads((work / "tiny.json").read_text())
            spec["layers"][-1]["filters"] = 3
            (work / "tiny3.json").write_text(json.dumps(spec))

    return build


def _copy_run(work: Path) -> Path:
    from fuzz import files

    shutil.copytree(files.template_dir() / "run", work / "run")
    return work / "run"


def _lock_only(work: Path) -> None:
    """The folder an old failed start left: only ``.lock`` (the config did not serialise)."""
    (work / "out").mkdir()
    (work / "out" / ".lock").write_text("12345\n")


def _no_checkpoint(work: Path) -> None:
    """A start that failed after its config and log (no checkpoint, no summary): config.json, log.jsonl, tensorboard/."""
    run = _copy_run(work)
    shutil.move(run, work / "out")
    for name in ("last", "best", "summary.json", "metrics.csv"):
        target = work / "out" / name
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    (work / "out" / "tensorboard").mkdir(exist_ok=True)


def _partial_figures(work: Path) -> None:
    """A finished run killed while its figures were drawn: 2 of them written, a temp file of the third."""
    run = _copy_run(work)
    for name in ("reconstructions.png", "curves.png"):
        (run / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    (run / ".feature_maps.png.tmp").write_bytes(b"\x89PNG")


def _tensorboard_file(work: Path) -> None:
    """A run whose ``tensorboard`` entry is a file: TensorBoard cannot write there."""
    run = _copy_run(work)
    shutil.rmtree(run / "tensorboard", ignore_errors=True)
    (run / "tensorboard").write_text("not a folder\n")


def _empty_data_dir(work: Path) -> None:
    (work / "emptydata").mkdir()
    (work / "emptydata" / "readme.txt").write_text("no dataset here\n")


BUILDERS: dict[str, Callable[[Path], None]] = {
    **{f"cfg:{name}": _config(name) for name in CONFIGS},
    "lock_only": _lock_only,
    "no_checkpoint": _no_checkpoint,
    "partial_figures": _partial_figures,
    "tensorboard_file": _tensorboard_file,
    "empty_data_dir": _empty_data_dir,
}
#: builders that copy the session's tiny run (the conftest builds it first)
NEEDS_TEMPLATE = {"no_checkpoint", "partial_figures", "tensorboard_file"}
