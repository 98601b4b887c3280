"""Markdown of benchmarks/matrix.py: the section it writes between BENCHMARKS.md's matrix markers."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

from _contenders import Result
from _matrix_runs import CONTENDERS, CONVOLAB, KERAS, TORCH
from _report import table

SUMMARY_COLUMNS = [
    "model",
    "images/epoch",
    "MFLOP/image (nominal)",
    "convolab s/epoch",
    "best Keras s/epoch",
    "x best Keras",
    "plain PyTorch s/epoch",
    "x plain PyTorch",
    "test BCE convolab / Keras / plain",
    "convolab GFLOP/s",
    "% of peak",
]
DETAIL_COLUMNS = [
    "model",
    "contender",
    "epochs",
    "s/epoch per round",
    "s/epoch",
    "x best Keras",
    "test BCE",
    "GFLOP/s",
    "% of peak",
    "threads",
    "load at start",
]
MARKER = "matrix"  # <!-- matrix:cpu:start --> ... <!-- matrix:cpu:end -->


@dataclass
class ModelRuns:
    """Every run of one model's contenders, and the contenders skipped with why."""

    name: str
    n_train: int
    flop_per_image: float  # nominal: analyze(spec).total_macs x 2 FLOP x 3 (forward + two backward)
    results: dict[str, list[Result]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def seconds(self, name: str) -> float | None:
        """Median over rounds of each run's median epoch after the first (None: not run)."""
        rs = self.results.get(name)
        return statistics.median(r.median_epoch_s for r in rs) if rs else None

    def best_keras(self) -> tuple[str, float] | None:
        """The faster Keras setting (the anchor) and its s/epoch; None: no Keras run."""
        timed = [(s, k) for k in KERAS if (s := self.seconds(k)) is not None]
        return (min(timed)[1], min(timed)[0]) if timed else None

    def gflops(self, name: str) -> float | None:
        s = self.seconds(name)
        return self.n_train / s * self.flop_per_image / 1e9 if s else None


def _f(v: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def _ratio(num: float | None, den: float | None) -> str:
    return "-" if num is None or den is None else f"{num / den:.2f}x"


def _bce(m: ModelRuns, name: str) -> str:
    rs = m.results.get(name)
    return f"{rs[-1].test_bce:.4f}" if rs else "-"


def summary_rows(models: list[ModelRuns], peak: float) -> list[list]:
    rows: list[list] = []
    for m in models:
        conv, plain, best = m.seconds(CONVOLAB), m.seconds(TORCH), m.best_keras()
        keras_s = best[1] if best else None
        keras_bce = _bce(m, best[0]) if best else "-"
        g = m.gflops(CONVOLAB)
        no_keras = next((why for k, why in m.skipped.items() if k in KERAS), None)
        rows.append(
            [
                m.name,
                f"{m.n_train:,}",
                f"{m.flop_per_image / 1e6:.2f}",
                _f(conv),
                _f(keras_s) if best or not no_keras else f"- ({no_keras})",
                _ratio(keras_s, conv),
                _f(plain),
                _ratio(plain, conv),
                f"{_bce(m, CONVOLAB)} / {keras_bce} / {_bce(m, TORCH)}",
                _f(g, "{:.1f}"),
                _f(100 * g / peak if g and peak else None, "{:.1f}"),
            ]
        )
    return rows


def detail_rows(models: list[ModelRuns], peak: float) -> list[list]:
    rows: list[list] = []
    for m in models:
        best = m.best_keras()
        for name in CONTENDERS:
            if name in m.skipped:
                rows.append([m.name, name, "-", f"skipped: {m.skipped[name]}", *["-"] * 7])
                continue
            rs = m.results.get(name)
            if not rs:
                continue
            s, g = m.seconds(name), m.gflops(name)
            rows.append(
                [
                    m.name,
                    name,
                    len(rs[0].epoch_s),
                    ", ".join(f"{r.median_epoch_s:.2f}" for r in rs),
                    _f(s),
                    _ratio(best[1], s) if best else "-",
                    f"{rs[-1].test_bce:.4f}",
                    _f(g, "{:.1f}"),
                    _f(100 * g / peak if g and peak else None, "{:.1f}"),
                    ", ".join(sorted({str(r.extra.get("threads", "-")) for r in rs})),
                    ", ".join(f"{r.load:.1f}" for r in rs),
                ]
            )
    return rows


def render(models: list[ModelRuns], info: dict) -> str:
    """The generated section: the machine, the probe, the summary and the per-contender tables."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    c, probes = info["cpu"], info["probes"]
    peak = max(p["gflops"] for p in probes)
    vers = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    each = ", ".join(f"{p['gflops']:,.0f}" for p in probes)
    loads = [p["load"] for p in probes] + [r.load for m in models for rs in m.results.values() for r in rs]
    parts = [
        f"Measured {now} on **{c['model']}** (lscpu), {c['cores']} usable cores, flags: "
        f"{', '.join(c['flags']) or 'none of ' + 'avx2/avx512f/avx512_bf16/amx'}; {vers}.\n",
        f"Command:\n\n```\n{info['command']}\n```\n",
        f"Threads: {info['threads']}. 1-minute load average at the runs' starts: "
        f"{min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f}).\n",
        f"Peak: **{peak:,.0f} GFLOP/s**, the best of {len(probes)} fp32 convolution probe(s) of this run "
        f"(torch conv2d 3x3, {probes[0]['shape'][1]} -> {probes[0]['shape'][1]} channels, "
        f"{probes[0]['shape'][2]}x{probes[0]['shape'][3]}, batch {probes[0]['shape'][0]}, channels_last, "
        f"{probes[0]['threads']} threads, best of 5; each round's: "
        f"{each}).\n",
        "### Matrix: s/epoch and ratios\n",
        table(SUMMARY_COLUMNS, summary_rows(models, peak)),
        "\n### Every contender\n",
        table(DETAIL_COLUMNS, detail_rows(models, peak)),
        "\ns/epoch: the median of a run's epochs after the first (all of them when it has one), then the "
        "median over rounds; training steps only (validation, evaluation and start-up excluded). "
        "Ratios: the other's s/epoch over convolab's (above 1: convolab is faster). Test BCE: "
        "`convolab train`'s summary.json (its best checkpoint by validation BCE); Keras's and the plain "
        "loop's from their predictions after the last epoch (Keras's formula, probabilities clipped to "
        "[1e-7, 1 - 1e-7]), last round. **GFLOP/s are nominal**: the layer-by-layer model's FLOPs "
        "(`convolab.analyze(spec).total_macs` x 2 FLOP x 3 for the forward pass and the two backward "
        "ones) per image trained, whatever the contender executes (convolab's rewrites execute fewer: "
        "the sub-pixel rewrite cuts a decoder convolution's taps 36 -> 16).\n",
    ]
    return "\n".join(parts) + "\n"
