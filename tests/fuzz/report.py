"""Run the fuzz table outside pytest and print what happened (issue 12's counts, the failures by area).

    python tests/fuzz/report.py [--ci] [--only ID ...] [--md failures.md] [--xfails] [--json out.json]

Prints a count table (hostile inputs by category and outcome: clean, traceback, wrong exception, hang,
OOM, wrote files, accepted, not one line), then every failing case grouped by the area that must fix it
with its command, exit code, last stderr line, seconds and peak RSS. ``--xfails`` rewrites
``xfails.py`` from the run.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/

from fuzz import files  # noqa: E402
from fuzz.cases import CASES  # noqa: E402
from fuzz.conftest import resolve  # noqa: E402
from fuzz.harness import AREAS, Result, outcome, problems, run_cases  # noqa: E402

OUTCOMES = ("clean", "traceback", "wrong exception", "hang", "OOM", "wrote files", "accepted", "not one line")


def count_table(results: list[Result]) -> str:
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        counts[r.case.category][outcome(r)] += 1
    rows = ["| category | inputs | " + " | ".join(OUTCOMES) + " |", "|---|---:|" + "---:|" * len(OUTCOMES)]
    total: collections.Counter = collections.Counter()
    for cat in sorted(counts):
        total.update(counts[cat])
        cells = " | ".join(str(counts[cat][o] or "") for o in OUTCOMES)
        rows.append(f"| {cat} | {sum(counts[cat].values())} | {cells} |")
    rows.append(
        f"| **all** | **{sum(total.values())}** | " + " | ".join(f"**{total[o]}**" for o in OUTCOMES) + " |"
    )
    return "\n".join(rows)


def failures(results: list[Result]) -> str:
    out = []
    for area in AREAS:
        bad = [r for r in results if r.case.area == area and problems(r)]
        if not bad:
            continue
        out.append(f"\n### {area} ({len(bad)} failing)\n")
        out.append("| case | input | outcome | exit | s | MiB | last line of stderr / exception |")
        out.append("|---|---|---|---:|---:|---:|---|")
        for r in bad:
            show = r.case.show().replace("|", "\\|").replace("\n", "; ")
            show = show if len(show) < 160 else show[:150] + " ..."
            last = r.last_line().replace("|", "\\|")[:200]
            out.append(f"| `{r.case.id}` | `{show}` | {outcome(r)} | {r.status} | {r.seconds:.1f} "
                       f"| {r.maxrss_kib / 1024:.0f} | {last} |")  # fmt: skip
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ci", action="store_true", help="only the CI selection")
    parser.add_argument("--only", nargs="*", help="case ids")
    parser.add_argument("--md", type=Path, help="write the tables to this Markdown file")
    parser.add_argument("--json", type=Path, help="write every result as JSON")
    parser.add_argument("--xfails", action="store_true", help="rewrite xfails.py from this run")
    parser.add_argument("--fresh", action="store_true", help="a fresh interpreter per case")
    args = parser.parse_args()
    cases = [c for c in CASES if (not args.ci or c.ci) and (not args.only or c.id in args.only)]
    with tempfile.TemporaryDirectory(prefix="convolab-fuzz-") as tmp:
        files.TEMPLATES = Path(tmp) / "templates"
        files.TEMPLATES.mkdir()
        template = str(files.template_dir())
        t0 = time.time()
        results = list(run_cases([resolve(c, template) for c in cases], Path(tmp) / "cases", files.BUILDERS,
                                 fresh=args.fresh).values())  # fmt: skip
        took = time.time() - t0
    text = (
        f"{len(results)} hostile inputs, {took:.0f} s\n\n{count_table(results)}\n\n"
        f"## Failing cases by area\n{failures(results)}\n"
    )
    print(text)
    if args.md:
        args.md.write_text(text)
    if args.json:
        args.json.write_text(json.dumps([
            {"id": r.case.id, "area": r.case.area, "category": r.case.category, "ci": r.case.ci,
             "outcome": outcome(r), "problems": problems(r), "status": r.status, "seconds": r.seconds,
             "maxrss_mib": round(r.maxrss_kib / 1024), "last": r.last_line(), "changes": r.changes[:10]}
            for r in results
        ], indent=1))  # fmt: skip
    if args.xfails:
        path = Path(__file__).with_name("xfails.py")
        head = path.read_text().split("XFAIL: dict[str, str] = {")[0]
        failing = sorted((r.case.id, r.case.area) for r in results if problems(r))
        body = "".join(f"    {cid!r}: {area!r},\n" for cid, area in failing)
        path.write_text(head + "XFAIL: dict[str, str] = {\n" + body + "}\n")


if __name__ == "__main__":
    main()
