"""Markdown for the benchmark results, written between markers in BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path


def markers(section: str) -> tuple[str, str]:
    """The comment lines that delimit one generated section (``cpu``, ``cuda``) of BENCHMARKS.md."""
    return f"<!-- train_speed:{section}:start -->", f"<!-- train_speed:{section}:end -->"


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


def write(path: Path, body: str, section: str = "cpu") -> None:
    """Replace one generated section of ``path`` (appended, or a new file, when absent)."""
    START, END = markers(section)  # noqa: N806
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
