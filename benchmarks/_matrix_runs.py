"""The contenders of benchmarks/matrix.py, each in its own process, and what the matrix measures beside them.

- ``run_convolab``: ``python -m convolab train --model SPEC ...`` at its default settings
  (``_contenders.run_cli``: epoch times from the run's log.jsonl, test BCE from its summary.json);
- ``run_keras``: benchmarks/keras_spec.py (the same spec built in Keras), TF's default or
  ``TF_ENABLE_ONEDNN_OPTS=1``;
- ``run_torch``: benchmarks/torch_spec.py (the plain PyTorch loop over convolab's layer-by-layer model);
- ``conv_probe``: the fp32 peak of this machine now (torch conv2d, best of a few), ``cpu``: the CPU named.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _contenders import HERE, Result, _env, _run, run_cli
from _matrix_data import Split

CONVOLAB = "convolab train"
KERAS_TF = "Keras, TF default"
KERAS_ONEDNN = "Keras, TF_ENABLE_ONEDNN_OPTS=1"
TORCH = "PyTorch plain loop"
CONTENDERS = (CONVOLAB, KERAS_TF, KERAS_ONEDNN, TORCH)
KERAS = (KERAS_TF, KERAS_ONEDNN)
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu() -> dict:
    """The CPU: lscpu's model name (else /proc/cpuinfo's), the ISA flags that matter, usable cores."""
    model, flags = "unknown CPU", set()
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = re.search(r"Model name:\s*(.+)", text).group(1).strip()  # type: ignore[union-attr]
    except (OSError, subprocess.SubprocessError, AttributeError):
        pass
    try:
        info = Path("/proc/cpuinfo").read_text()
        flags = set(re.search(r"flags\s*:\s*(.+)", info).group(1).split())  # type: ignore[union-attr]
        if model == "unknown CPU":
            model = re.search(r"model name\s*:\s*(.+)", info).group(1).strip()  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "flags": [f for f in ISA_FLAGS if f in flags], "cores": cores}


def conv_probe(threads: int = 0, *, quick: bool = False, tries: int = 5) -> dict:
    """GFLOP/s of a compute-bound fp32 convolution (3x3, 64 -> 64 channels, 56x56, channels_last: the
    oneDNN kernels the models use; torch's matmul may not use AVX-512 on AMD CPUs), best of ``tries``,
    in this process at ``threads`` (0: torch's default); and the 1-minute load average before it."""
    import torch
    import torch.nn.functional as F

    load = os.getloadavg()[0]
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    n, c, hw = (4, 64, 28) if quick else (32, 64, 56)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, hw, hw, generator=gen).to(memory_format=torch.channels_last)
    w = torch.randn(c, c, 3, 3, generator=gen).to(memory_format=torch.channels_last)
    flop = 2 * n * hw * hw * c * c * 9
    with torch.no_grad():
        F.conv2d(x, w, padding=1)  # warm-up: oneDNN picks and caches its kernel
        best = float("inf")
        for _ in range(tries):
            t0 = time.perf_counter()
            F.conv2d(x, w, padding=1)
            best = min(best, time.perf_counter() - t0)
    used = torch.get_num_threads()
    torch.set_num_threads(before)
    return {"gflops": flop / best / 1e9, "threads": used, "load": load, "shape": [n, c, hw, hw]}


def run_convolab(spec_arg: str, split: Split, *, epochs: int, threads: int) -> Result:
    """`convolab train --model SPEC` on the split, its default settings (batch 256, Adam 1e-3, BCE)."""
    data = _cli_data(split, spec_arg)
    res = run_cli(CONVOLAB, data, epochs=epochs, threads=threads)
    res.extra["threads"] = threads or "default policy"
    return res


def _cli_data(split: Split, spec_arg: str):
    from _contenders import Data

    return Data(
        ["--model", spec_arg, *split.cli_args], split.train_npy, split.test_npy, split.n_train, split.n_test
    )


def _child(
    script: str,
    name: str,
    spec: dict,
    split: Split,
    epochs: int,
    threads: int,
    python: str,
    env_extra: dict[str, str],
    timeout: float,
) -> Result:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="convolab-matrix-") as tmp:
        spec_path, out = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec))
        cmd = [
            python,
            str(HERE / script),
            "--spec",
            str(spec_path),
            "--train-npy",
            str(split.train_npy),
            "--test-npy",
            str(split.test_npy),
            "--epochs",
            str(epochs),
            "--threads",
            str(threads),
            "--out",
            str(out),
        ]
        wall = _run(cmd, _env(threads, **env_extra), timeout)
        k = json.loads(out.read_text())
    extra = {key: k[key] for key in ("params", "threads", "tensorflow", "keras", "torch") if key in k}
    return Result(name, k["epoch_train_s"], k["test_bce"][-1], k["test_bce"], load, wall, extra)


def run_keras(
    name: str, spec: dict, split: Split, *, epochs: int, threads: int, python: str, timeout: float = 3600
) -> Result:
    """benchmarks/keras_spec.py; ``name`` KERAS_ONEDNN sets ``TF_ENABLE_ONEDNN_OPTS=1``."""
    env = {"TF_ENABLE_ONEDNN_OPTS": "1"} if name == KERAS_ONEDNN else {}
    return _child("keras_spec.py", name, spec, split, epochs, threads, python, env, timeout)


def run_torch(spec: dict, split: Split, *, epochs: int, threads: int, timeout: float = 3600) -> Result:
    """benchmarks/torch_spec.py: the plain PyTorch loop."""
    return _child("torch_spec.py", TORCH, spec, split, epochs, threads, sys.executable, {}, timeout)
