"""How `convolab train`'s cost grows with the work: image size, batch, channels, processes, in memory
and streamed (issue 15, item 4).

Every measurement is the product itself: `python -m convolab train` in its own process, on folder
datasets of PNGs this script writes, timed from the run's log.jsonl (the last epoch's images/s, so
the first epoch's warm-up is left out) and with the peak RSS of the largest process of the run (the
`ru_maxrss` of RUSAGE_CHILDREN, read by a small wrapper process that starts only that one run).

    python benchmarks/scaling.py --quick            # a few runs (about two minutes on 2 cores)
    python benchmarks/scaling.py --grid medium --budget-px 2e6 --write scaling.md   # docs/scaling.md's table
    python benchmarks/scaling.py                    # the full grid (sizes x models x modes x batches x nproc)
    python benchmarks/scaling.py --quick --write docs/scaling.md

Models: ``lecture`` is the zoo's seed-upsampling (16-8-4 channels) at 28 px and the same structure at
other sizes (the decoder's one 'valid' conv, which takes 16 to 14 at 28 px, is 'same' when the size is
a multiple of 8); ``wide`` is the same structure with 32-64-128 channels.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CHANNELS = {"lecture": (16, 8, 4), "wide": (32, 64, 128)}
# Peak RSS of a run as a wrapper process sees it: the largest ru_maxrss among the processes it waited for.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def write_folder(root: Path, n_train: int, n_test: int, size: int, seed: int = 0) -> Path:
    """A folder dataset root/train/*.png, root/test/*.png of gray size x size images (smooth noise)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        d = root / split
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            small = rng.random((max(2, size // 4), max(2, size // 4)))
            img = Image.fromarray((small * 255).astype(np.uint8))
            img = img.resize((size, size), Image.Resampling.BILINEAR)
            img.save(d / f"{i:06d}.png")
    return root


def spec_for(model: str, size: int) -> dict:
    """The lecture's structure at this size with the channels of `model` (see the module docstring)."""
    c1, c2, c3 = CHANNELS[model]
    if size != 28 and size % 8:
        raise ValueError(f"size {size}: use 28 or a multiple of 8")

    def conv(name: str, f: int, padding: str = "same", act: str = "relu") -> dict:
        return {
            "type": "Conv2D",
            "name": name,
            "filters": f,
            "kernel_size": 3,
            "padding": padding,
            "activation": act,
        }

    def pool(name: str) -> dict:
        return {"type": "MaxPool2D", "name": name, "pool_size": 2, "padding": "same"}

    def up(name: str) -> dict:
        return {"type": "UpSampling2D", "name": name, "size": 2}

    layers = [
        conv("enc_conv1", c1), pool("enc_pool1"), conv("enc_conv2", c2), pool("enc_pool2"),
        conv("enc_conv3", c3), pool("enc_pool3"),
        conv("dec_conv1", c3), up("dec_up1"), conv("dec_conv2", c2), up("dec_up2"),
        conv("dec_conv3", c1, "valid" if size == 28 else "same"), up("dec_up3"),
        conv("dec_out", 1, act="sigmoid"),
    ]  # fmt: skip
    shape = [1, size, size]
    return {"name": f"{model}-{size}", "input_shape": shape, "latent": "enc_pool3", "layers": layers}


@dataclass
class RunResult:
    peak_rss_kb: int
    log: list[dict]

    def last_epoch(self) -> dict:
        return [e for e in self.log if e.get("kind") == "epoch"][-1]


def run_train(args: list[str], out: Path, env: dict | None = None, timeout: float = 600) -> RunResult:
    """`python -m convolab train ARGS --out OUT --quiet --no-figures` in its own process: its peak RSS
    and log.jsonl. A failing run raises RuntimeError with its stderr."""
    cmd = [
        sys.executable,
        "-c",
        _WRAPPER,
        sys.executable,
        "-m",
        "convolab",
        "train",
        *args,
        "--out",
        str(out),
        "--overwrite",
        "--quiet",
        "--no-figures",
    ]
    e = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "Agg"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**e, **(env or {})}, timeout=timeout)
    if proc.returncode != 0:
        what = f"convolab train {' '.join(args)} failed ({proc.returncode})"
        raise RuntimeError(f"{what}: {proc.stderr[-2000:]}")
    peak = int(proc.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    return RunResult(peak, log)


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@dataclass(frozen=True)
class Case:
    model: str
    size: int
    mode: str  # memory | stream
    batch: int
    nproc: int


def grid(kind: str) -> list[Case]:
    """The cases of one grid: ``quick``, ``medium`` (the docs/scaling.md table) or ``full``."""
    sizes, models, modes = (28, 64, 128, 256), ("lecture", "wide"), ("memory", "stream")
    if kind == "full":
        return [Case(*c) for c in itertools.product(models, sizes, modes, (32, 128, 512), (1, 2))]
    # batch 32, every size and mode (quick: the wide model up to 128 px; one 256 px epoch of it is long)
    cases = [
        Case(m, s, mode, 32, 1)
        for m, s, mode in itertools.product(models, sizes, modes)
        if kind == "medium" or not (m == "wide" and s == 256)
    ]
    cases += [Case("lecture", 64, "memory", b, 1) for b in (128, 512)]
    if kind == "medium":
        cases += [Case("wide", 64, "memory", b, 1) for b in (128, 512)]
        cases += [Case("lecture", 256, "memory", 128, 1)]
        cases += [Case(m, 64, "memory", 128, n) for m in models for n in (1, 2)]
        cases += [Case("lecture", 128, "stream", 32, 2)]
    cases += [Case(m, 64, "memory", 32, 2) for m in models]
    return list(dict.fromkeys(cases))


def n_images(case: Case, budget_px: float) -> int:
    """Training images for one case: a fixed pixel budget (wide models get a tenth), at least 3 batches."""
    px = budget_px / (10 if case.model == "wide" else 1)
    return max(3 * case.batch, int(px // (case.size * case.size)))


def measure(case: Case, work: Path, budget_px: float, workers: int) -> dict:
    n = n_images(case, budget_px)
    n_total = int(n / 0.9) + 1  # --val-fraction 0.1 of the train split is validation
    data = work / f"data-{case.size}-{n_total}"
    if not data.exists():
        write_folder(data, n_total, 64, case.size)
    spec = work / f"{case.model}-{case.size}.json"
    spec.write_text(json.dumps(spec_for(case.model, case.size)))
    args = [
        "--model",
        str(spec),
        "--dataset",
        f"folder:{data}",
        "--epochs",
        "2",
        "--batch-size",
        str(case.batch),
        "--device",
        "cpu",
        "--stream",
        "on" if case.mode == "stream" else "off",
        "--workers",
        str(workers),
    ]
    if case.nproc > 1:
        args += ["--nproc", str(case.nproc)]
    res = run_train(args, work / "run")
    ips = float(res.last_epoch()["images_per_second"])
    return {
        "case": case,
        "n_train": n,
        "images_per_second": ips,
        "ns_per_pixel": 1e9 / (ips * case.size * case.size),
        "peak_rss_mb": res.peak_rss_kb / 1024,
        "data_mb": n_total * case.size * case.size * 4 / 2**20,
    }


def table(rows: list[dict]) -> str:
    head = (
        "| model | px | data | batch | nproc | train images | float32 data MB | images/s "
        "| ns / pixel / image | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        c = r["case"]
        lines.append(
            f"| {c.model} | {c.size} | {c.mode} | {c.batch} | {c.nproc} | {r['n_train']:,} "
            f"| {r['data_mb']:.0f} | {r['images_per_second']:,.0f} | {r['ns_per_pixel']:.0f} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a reduced grid (--grid quick)")
    p.add_argument("--grid", choices=("quick", "medium", "full"), default=None, help="which cases (grid())")
    p.add_argument(
        "--cases",
        default=None,
        help="only cases whose MODEL-PX-DATA-bBATCH-nNPROC matches this regex (e.g. '^lecture-64-')",
    )
    p.add_argument("--budget-px", type=float, default=None, help="pixels per epoch per case (lecture model)")
    p.add_argument("--workers", type=int, default=1, help="DataLoader workers of streamed runs")
    p.add_argument("--work", type=Path, default=None, help="folder for datasets and runs [a temp dir]")
    p.add_argument("--write", type=Path, default=None, help="also write the table to this Markdown file")
    a = p.parse_args(argv)
    kind = a.grid or ("quick" if a.quick else "full")
    budget = a.budget_px or (2e7 if kind == "full" else 4e6)
    work = a.work or Path(tempfile.mkdtemp(prefix="convolab-scaling-"))
    rows, loads = [], []
    cases = grid(kind)
    if a.cases:
        import re

        cases = [c for c in cases if re.search(a.cases, f"{c.model}-{c.size}-{c.mode}-b{c.batch}-n{c.nproc}")]
    for case in cases:
        loads.append(os.getloadavg()[0])
        rows.append(measure(case, work, budget, a.workers))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    header = (
        f"CPU: {cpu_name()} ({os.cpu_count()} logical cores, shared with other work), "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, streamed runs with "
        f"--workers {a.workers}, {kind} grid, 2 epochs, last epoch timed; 1-minute load average "
        f"{min(loads):.1f}-{max(loads):.1f} at the runs' starts."
    )
    text = header + "\n\n" + table(rows) + "\n"
    print("\n" + text)
    if a.write:
        a.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
