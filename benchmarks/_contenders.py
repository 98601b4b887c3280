"""The contenders of train_speed.py, each run in its own process: `convolab train` (the product), the
lecture's Keras code (TensorFlow's default and ``TF_ENABLE_ONEDNN_OPTS=1``) and the plain PyTorch loop.

Every runner returns one :class:`Result`: the per-epoch training times (validation excluded), the test
BCE after the run (and after every epoch where the contender measures it), and the load average of the
machine when the run started. All of them train on the very images `convolab train` trains on (its
seeded train/validation split, written once as .npy for the others) and test on the same 10,000.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass
class Result:
    """One run of one contender."""

    name: str
    epoch_s: list[float]
    test_bce: float
    test_bce_per_epoch: list[float] = field(default_factory=list)
    load: float = 0.0  # 1-minute load average when the run started
    wall_s: float = 0.0  # the whole process, start-up and evaluation included
    extra: dict = field(default_factory=dict)

    @property
    def median_epoch_s(self) -> float:
        return statistics.median(self.epoch_s[1:] or self.epoch_s)  # the first epoch warms up


@dataclass
class Data:
    """What every contender trains and tests on."""

    cli_args: list[str]  # --dataset ... for `convolab train`
    train_npy: Path
    test_npy: Path
    n_train: int
    n_test: int


def prepare_data(data_dir: str, work: Path, limit: int | None = None) -> Data:
    """The split `convolab train` makes (seed 0, --val-fraction 0.1), saved for the other contenders.

    ``data_dir='synthetic'``: smooth blobs written as a PNG folder dataset (the smoke test).
    """
    import numpy as np

    from convolab.train import TrainConfig
    from convolab.train.run_data import load_run_data

    if data_dir == "synthetic":
        from _common import load_images
        from PIL import Image

        n_tr, n_te = limit or 512, max(64, (limit or 512) // 4)
        xtr, xte = load_images(None, n_tr, n_te)
        for split, xs in (("train", xtr), ("test", xte)):
            (work / "synth" / split).mkdir(parents=True, exist_ok=True)
            for i, x in enumerate(xs):
                Image.fromarray((x * 255).round().astype(np.uint8)).save(
                    work / "synth" / split / f"{i:05d}.png"
                )
        cli = ["--dataset", f"folder:{work / 'synth'}", "--stream", "off"]
        cfg = TrainConfig(dataset=f"folder:{work / 'synth'}", stream="off")
    else:
        cli = ["--dataset", "fashion-mnist", "--data-dir", data_dir]
        cfg = TrainConfig(dataset="fashion-mnist", data_dir=data_dir)
    if limit and data_dir != "synthetic":
        cli += ["--limit", str(limit)]
        cfg.limit = limit
    data = load_run_data(cfg)
    train, test = work / "train.npy", work / "test.npy"
    np.save(train, data.train[:, 0].numpy())
    np.save(test, data.eval_images[:, 0].numpy())
    return Data(cli, train, test, int(data.train.shape[0]), int(data.eval_images.shape[0]))


def _env(threads: int, **extra: str) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # TensorFlow's default unless a contender sets it
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return {**env, **extra}


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def run_cli(
    name: str,
    data: Data,
    *,
    epochs: int,
    threads: int,
    batch: int = 256,
    lr: float = 1e-3,
    lr_schedule: str = "constant",
    warmup: float | None = None,
    amp: str = "none",
    device: str = "cpu",
    timeout: float = 3600,
) -> Result:
    """`python -m convolab train` in its own process; epoch times from its log.jsonl, BCE from summary.

    ``lr_schedule`` and ``warmup``: its ``--lr-schedule`` and ``--warmup`` (``warmup`` None: not passed).
    """
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="convolab-bench-") as tmp:
        out = Path(tmp) / "run"
        cmd = [
            sys.executable,
            "-m",
            "convolab",
            "train",
            *data.cli_args,
            "--epochs",
            str(epochs),
            "--batch-size",
            str(batch),
            "--lr",
            f"{lr:g}",
            "--lr-schedule",
            lr_schedule,
            "--amp",
            amp,
            "--device",
            device,
            "--out",
            str(out),
            "--quiet",
            "--no-figures",
        ]
        if warmup is not None:
            cmd += ["--warmup", f"{warmup:g}"]
        if threads:
            cmd += ["--threads", str(threads)]
        wall = _run(cmd, _env(threads), timeout)
        log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
        summary = json.loads((out / "summary.json").read_text())
    epochs_ = [e for e in log if e.get("kind") == "epoch"]
    return Result(
        name,
        [float(e["seconds"]) for e in epochs_],
        float(summary["metrics"]["bce"]),
        load=load,
        wall_s=wall,
        extra={
            "val_bce": [e["val"]["bce"] for e in epochs_],
            "batch": batch,
            "lr": lr,
            "lr_schedule": lr_schedule,
            "warmup": warmup,
        },
    )


def run_keras(
    name: str, data: Data, *, epochs: int, threads: int, onednn: bool, python: str, timeout: float = 3600
) -> Result:
    """benchmarks/keras_lecture.py in its own process; ``onednn``: with ``TF_ENABLE_ONEDNN_OPTS=1``."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="convolab-keras-") as tmp:
        out = Path(tmp) / "keras.json"
        cmd = [
            python,
            str(HERE / "keras_lecture.py"),
            "--epochs",
            str(epochs),
            "--out",
            str(out),
            "--train-npy",
            str(data.train_npy),
            "--test-npy",
            str(data.test_npy),
            "--data-dir",
            "synthetic",
            "--train-size",
            "1",
            "--test-size",
            "1",
            "--threads",
            str(threads),
        ]
        env = _env(threads, **({"TF_ENABLE_ONEDNN_OPTS": "1"} if onednn else {}))
        wall = _run(cmd, env, timeout)
        k = json.loads(out.read_text())
    return Result(
        name,
        k["epoch_train_s"],
        k["test_bce"][-1],
        k["test_bce"],
        load,
        wall,
        {"tensorflow": k["tensorflow"], "keras": k["keras"], "val_s": k["epoch_val_s"]},
    )


def run_torch(
    name: str, data: Data, *, epochs: int, threads: int, device: str = "cpu", timeout: float = 3600
) -> Result:
    """benchmarks/torch_plain.py (the plain PyTorch loop) in its own process."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="convolab-torch-") as tmp:
        out = Path(tmp) / "torch.json"
        cmd = [
            sys.executable,
            str(HERE / "torch_plain.py"),
            "--train-npy",
            str(data.train_npy),
            "--test-npy",
            str(data.test_npy),
            "--epochs",
            str(epochs),
            "--threads",
            str(threads),
            "--device",
            device,
            "--out",
            str(out),
        ]
        wall = _run(cmd, _env(threads), timeout)
        t = json.loads(out.read_text())
    return Result(name, t["epoch_train_s"], t["test_bce"][-1], t["test_bce"], load, wall)


def keras_python(explicit: str | None) -> str | None:
    """A Python that imports tensorflow: ``explicit`` (--keras-python), $CONVOLAB_TF_PYTHON, or this one."""
    candidates = [explicit, os.environ.get("CONVOLAB_TF_PYTHON"), sys.executable]
    for py in filter(None, candidates):
        if Path(py).exists():
            if subprocess.run([py, "-c", "import tensorflow"], capture_output=True).returncode == 0:
                return py
            if py == explicit:
                raise SystemExit(f"error: --keras-python {py} cannot import tensorflow")
    return None
