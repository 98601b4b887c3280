"""Start-up time of the CLI: fresh ``python -m convolab ...`` processes, medians (docs/speed.md's table).

    python benchmarks/startup.py                 # 21 runs of each help command, 5 of `summary`
    python benchmarks/startup.py --runs 41

Wall time and CPU time (user + system of the child, which other load on the machine moves less than the
wall time) per command, the commands interleaved run by run; convolab from this checkout (src/ first).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "convolab --help": ["--help"],
    "convolab --version": ["--version"],
    "convolab train --help": ["train", "--help"],
    "convolab summary seed-upsampling": ["summary", "seed-upsampling"],
}
HEAVY = "convolab summary seed-upsampling"  # imports torch: fewer runs


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "convolab", *args], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21, help="runs of each help command (odd: a true median)")
    ap.add_argument("--heavy-runs", type=int, default=5, help=f"runs of `{HEAVY}`")
    args = ap.parse_args(argv)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    load = [os.getloadavg()[0]]
    for i in range(args.runs):
        for name, cmd in COMMANDS.items():
            if name != HEAVY or i < args.heavy_runs:
                times[name].append(run_once(cmd, env))
        load.append(os.getloadavg()[0])
    print(f"{sys.executable}, {os.cpu_count()} CPUs, 1-minute load average {min(load):.1f}-{max(load):.1f}")
    print("| command | runs | wall median (s) | CPU median (s) |\n|---|---|---|---|")
    out = {}
    for name, ts in times.items():
        if not ts:
            continue
        wall, cpu = statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)
        out[name] = (wall, cpu)
        print(f"| `{name}` | {len(ts)} | {wall:.3f} | {cpu:.3f} |")
    return out


if __name__ == "__main__":
    main()
