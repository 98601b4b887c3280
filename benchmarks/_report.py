"""Markdown for the benchmark results, written between markers in BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path


def markers(section: str, prefix: str = "train_speed") -> tuple[str, str]:
    """The comment lines that delimit one generated section (``cpu``, ``cuda``) of BENCHMARKS.md;
    ``prefix``: the script that writes it (``train_speed``, ``matrix``)."""
    return f"<!-- {prefix}:{section}:start -->", f"<!-- {prefix}:{section}:end -->"


def machine() -> str:
    model, flags = "unknown CPU", set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.+)", text).group(1).strip()
        flags = set(re.search(r"flags\s*:\s*(.+)", text).group(1).split())
    except (OSError, AttributeError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    isa = ", ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags)
    return (
        f"{model}, {cores} usable cores ({isa or 'no AVX flags'}), {platform.system()} {platform.machine()}"
    )


def table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1 else f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def write(path: Path, body: str, section: str = "cpu", prefix: str = "train_speed") -> None:
    """Replace one generated section of ``path`` (appended, or a new file, when absent)."""
    START, END = markers(section, prefix)  # noqa: N806
    block = f"{START}\n{body.rstrip()}\n{END}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def header(command: str, versions: dict[str, str], peak: float) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    vers = ", ".join(f"{k} {v}" for k, v in versions.items())
    return (
        f"Measured {now} on {machine()}; {vers}.\n"
        f"Measured peak: {peak:,.0f} GFLOP/s (large fp32 square matmul, median of 5, same run).\n\n"
        f"Command:\n\n```\n{command}\n```\n"
    )


def _med(xs) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def load_summary(results: dict, peaks: list[dict]) -> str:
    loads = [r.load for rs in results.values() for r in rs] + [p["load"] for p in peaks]
    lo, hi = min(loads), max(loads)
    return f"1-minute load average at the runs' starts: median {_med(loads):.2f}, {lo:.2f}-{hi:.2f}"


def render_product(
    args, n_train, results, anchor, ttq, target, peaks, profile, step_ms, command, versions, flop_per_image
) -> str:
    """The generated section of BENCHMARKS.md for one run of train_speed.py."""
    peak = max(_med([p["matmul"] for p in peaks]), _med([p["conv"] for p in peaks]))
    probe = ", ".join(f"{k} {_med([p[k] for p in peaks]):,.0f}" for k in ("matmul", "conv"))
    parts = [
        header(command, versions, peak).replace(
            "(large fp32 square matmul, median of 5, same run)",
            f"(the larger of the fp32 probes, GFLOP/s medians over rounds: {probe}; same run)",
        ),
        f"Threads per contender: {args.threads or 'each its default'}. {load_summary(results, peaks)} "
        f"(2 cores shared with other engineers: contenders interleaved, {args.rounds} round(s), order "
        "reversed every other round; medians).\n",
        f"### Training, batch 256, Adam lr 1e-3, BCE, {n_train:,} training images per epoch "
        f"({flop_per_image / 1e6:.2f} MFLOP per image trained)\n",
    ]
    a = _med([r.median_epoch_s for r in results[anchor]])
    rows = []
    for name, rs in results.items():
        if not rs:
            continue
        e = _med([r.median_epoch_s for r in rs])
        g = n_train / e * flop_per_image / 1e9
        rows.append(
            [
                name,
                len(rs[0].epoch_s),
                ", ".join(f"{r.median_epoch_s:.2f}" for r in rs),
                e,
                n_train / e,
                a / e,
                rs[-1].test_bce,
                g,
                100 * g / peak,
                ", ".join(f"{r.load:.1f}" for r in rs),
            ]
        )
    hdr = [
        "contender",
        "epochs",
        "epoch s per round",
        "epoch s (median)",
        "images/s",
        f"x {anchor}",
        "test BCE (last round)",
        "GFLOP/s",
        "% of peak",
        "load at start",
    ]
    parts.append(table(hdr, rows))
    parts.append(
        "\nEpoch s: median of a run's epochs after the first (warm-up), then the median over rounds; "
        "validation excluded. `convolab train`'s test BCE is its summary.json (the best checkpoint by "
        "validation BCE); Keras's and the plain loop's from their predictions after the last epoch "
        "(the same Keras formula, probabilities clipped to [1e-7, 1 - 1e-7]).\n"
    )
    if ttq and target is not None:
        parts.append(
            f"\n### Time-to-quality: test BCE <= {target:.4f} ({anchor}'s after its "
            f"{len(results[anchor][0].epoch_s)} epochs)\n"
        )
        ref = sum(results[anchor][0].epoch_s)
        rows = [
            [anchor, 256, "0.001", len(results[anchor][0].epoch_s), results[anchor][0].test_bce, ref, 1.0]
        ]
        for r in ttq:
            secs = sum(r.epoch_s)
            rows.append(
                [
                    f"`{r.name}`",
                    r.extra["batch"],
                    f"{r.extra['lr']:g}",
                    len(r.epoch_s),
                    r.test_bce,
                    secs,
                    ref / secs if r.extra.get("reached") else "not reached",
                ]
            )
        parts.append(table(["run", "batch", "lr", "epochs", "test BCE", "training s", "speed-up"], rows))
    if profile:
        parts.append(
            f"\n### Where the Trainer's step goes (torch.profiler, {args.profile_steps} steps of "
            f"batch 256, self CPU time by op; {step_ms:.1f} ms per step while profiled)\n"
        )
        parts.append(table(["op", "ms per step", "% of total", "calls per step"], [list(r) for r in profile]))
    return "\n".join(parts) + "\n"
