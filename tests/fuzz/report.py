"""Run the fuzz table outside pytest and print what happened (issue 12's counts, the failures by area).

    python tests/fuzz/report.py [--ci] [--only ID ...] [--md failures.md] [--xfails] [--json out.json]
    python tests/fuzz/report.py --from-json out.json [--xfails]

Prints two count tables (hostile inputs by the issue's item 1-10 and by category, against the outcome:
clean, traceback, wrong exception, hang, OOM, wrote files, accepted, not one line), then every failing
case grouped by the area that must fix it with its command, exit code, last stderr line, wall and CPU
seconds and peak RSS. ``--xfails`` rewrites ``xfails.py`` from the run (each failing case with its
reason); ``--from-json`` prints the tables of an earlier run's ``--json`` file.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/

from fuzz import files  # noqa: E402
from fuzz.cases import CASES, ISSUE_ITEMS, issue_item  # noqa: E402
from fuzz.conftest import resolve  # noqa: E402
from fuzz.harness import AREAS, Result, outcome, problems, run_cases  # noqa: E402

OUTCOMES = (
    "clean",
    "valid, in bounds",
    "traceback",
    "wrong exception",
    "hang",
    "OOM",
    "wrote files",
    "accepted",
    "not one line",
    "unclear message",
)


def count_table(rows: list[tuple[str, str]], label: str = "category") -> str:
    """Markdown table of ``(group, outcome)`` pairs: inputs per group and outcome."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for group, out in rows:
        counts[group][out] += 1
    lines = [f"| {label} | inputs | " + " | ".join(OUTCOMES) + " |", "|---|---:|" + "---:|" * len(OUTCOMES)]
    total: collections.Counter = collections.Counter()
    item = re.compile(r"^(\d+)\. ")  # "3. YAML alias bombs ...": by number, not as text

    def order(g: str) -> tuple[int, str]:
        m = item.match(g)
        return (int(m.group(1)) if m else 99, g)

    for group in sorted(counts, key=order):
        total.update(counts[group])
        cells = " | ".join(str(counts[group][o] or "") for o in OUTCOMES)
        lines.append(f"| {group} | {sum(counts[group].values())} | {cells} |")
    lines.append(
        f"| **all** | **{sum(total.values())}** | " + " | ".join(f"**{total[o]}**" for o in OUTCOMES) + " |"
    )
    return "\n".join(lines)


def tables(records: list[dict]) -> str:
    """Both count tables (by the issue's item 1-10 and by category) of ``--json`` records."""
    by_id = {c.id: c for c in CASES}
    items = [
        (f"{issue_item(by_id[r['id']])}. {ISSUE_ITEMS[issue_item(by_id[r['id']])]}", r["outcome"])
        for r in records
        if r["id"] in by_id
    ]
    cats = [(r["category"], r["outcome"]) for r in records]
    return (
        f"By the issue's list (1-10):\n\n{count_table(items, 'issue item')}\n\n"
        f"By category:\n\n{count_table(cats)}"
    )


def record(r: Result) -> dict:
    return {
        "id": r.case.id,
        "area": r.case.area,
        "category": r.case.category,
        "ci": r.case.ci,
        "outcome": outcome(r),
        "problems": problems(r),
        "status": r.status,
        "seconds": r.seconds,
        "cpu_s": r.cpu_s,
        "maxrss_mib": round(r.maxrss_kib / 1024),
        "last": r.last_line(),
        "changes": r.changes[:10],
    }


def failures(results: list[Result]) -> str:
    out = []
    for area in AREAS:
        bad = [r for r in results if r.case.area == area and problems(r)]
        if not bad:
            continue
        out.append(f"\n### {area} ({len(bad)} failing)\n")
        out.append("| case | input | outcome | exit | wall s | CPU s | MiB | last line of stderr/exception |")
        out.append("|---|---|---|---:|---:|---:|---:|---|")
        for r in bad:
            show = r.case.show().replace("|", "\\|").replace("\n", "; ")
            show = show if len(show) < 160 else show[:150] + " ..."
            last = r.last_line().replace("|", "\\|")[:200]
            out.append(
                f"| `{r.case.id}` | `{show}` | {outcome(r)} | {r.status} | {r.seconds:.1f} "
                f"| {r.cpu_s:.1f} | {r.maxrss_kib / 1024:.0f} | {last} |"
            )
    return "\n".join(out)


def write_xfails(records: list[dict]) -> None:
    """Rewrite ``xfails.py``: one strict xfail per failing case, with its area and what fails."""
    path = Path(__file__).with_name("xfails.py")
    head = path.read_text().split("XFAIL: dict[str, str] = {")[0]
    body = ""
    for r in sorted((r for r in records if r["problems"]), key=lambda r: r["id"]):
        reason = f"{r['area']}: {'; '.join(r['problems'])} ({r['last'][:120]})"
        body += f"    {r['id']!r}: {reason!r},\n"
    path.write_text(head + "XFAIL: dict[str, str] = {\n" + body + "}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ci", action="store_true", help="only the CI selection")
    parser.add_argument("--only", nargs="*", help="case ids")
    parser.add_argument("--md", type=Path, help="write the tables to this Markdown file")
    parser.add_argument("--json", type=Path, help="write every result as JSON")
    parser.add_argument("--from-json", type=Path, help="no run: the tables of an earlier --json file")
    parser.add_argument("--xfails", action="store_true", help="rewrite xfails.py from this run")
    parser.add_argument("--fresh", action="store_true", help="a fresh interpreter per case")
    args = parser.parse_args()
    if args.from_json:
        records = json.loads(args.from_json.read_text())
        print(f"{len(records)} hostile inputs (from {args.from_json})\n\n{tables(records)}\n")
        if args.xfails:
            write_xfails(records)
        return
    cases = [c for c in CASES if (not args.ci or c.ci) and (not args.only or c.id in args.only)]
    with tempfile.TemporaryDirectory(prefix="convolab-fuzz-") as tmp:
        files.TEMPLATES = Path(tmp) / "templates"
        files.TEMPLATES.mkdir()
        template = str(files.template_dir())
        t0, c0 = time.time(), _children_cpu()
        results = list(
            run_cases(
                [resolve(c, template) for c in cases], Path(tmp) / "cases", files.BUILDERS, fresh=args.fresh
            ).values()
        )
        took, cpu = time.time() - t0, _children_cpu() - c0
    records = [record(r) for r in results]
    if args.json:  # first: the tables below must not lose a long run
        args.json.write_text(json.dumps(records, indent=1))
    text = (
        f"{len(results)} hostile inputs, {took:.0f} s wall, {cpu:.0f} s CPU of the cases\n\n"
        f"{tables(records)}\n\n"
        f"## Failing cases by area\n{failures(results)}\n"
    )
    print(text)
    if args.md:
        args.md.write_text(text)
    if args.xfails:
        write_xfails(records)


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


if __name__ == "__main__":
    main()
