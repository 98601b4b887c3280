"""Measure the house's shape: loose root modules, what ``convolab train`` imports before its first step,
the longest functions, import cycles (type-only imports included) and the call path of ``convolab train``
from the CLI to the training loop.

    PYTHONPATH=src python scripts/house_metrics.py                 # markdown on stdout
    PYTHONPATH=src python scripts/house_metrics.py --json          # the same numbers as JSON
    PYTHONPATH=src python scripts/house_metrics.py --no-run        # static parts only (no training run)
    PYTHONPATH=src python scripts/house_metrics.py --data-dir DIR  # Fashion-MNIST files for the run

Nothing here names a module of convolab except ``RANKS`` in scripts/house_graph.py, the layer table (old
root modules and the new packages alike), so the script measures the tree before and after a
restructuring unchanged. The import graph (section 4) is scripts/house_graph.py's; the run (sections 2
and 5) is one subprocess, scripts/house_trace.py: the real CLI on a tiny job (one epoch of 256
Fashion-MNIST test images, cut at its first backward pass). Only the stdlib and grimp.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from house_graph import PACKAGE, RANKS, rank, static_cycles  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist (`make data`)
LONG_FUNCTION = 50  # lines
TOP_FUNCTIONS = 10

TRAIN_ARGS = (
    "train --dataset fashion-mnist --train-split test --limit 256 --epochs 1 --batch-size 64 "
    "--device cpu --no-tensorboard --no-figures --quiet"
).split()


# --- 1. loose root modules ----------------------------------------------------------------------------


def loose_modules(pkg_dir: Path) -> list[str]:
    """The .py files directly in the package folder, but ``__init__`` and ``__main__``."""
    return sorted(p.stem for p in pkg_dir.glob("*.py") if p.stem not in ("__init__", "__main__"))


# --- 3. longest functions -----------------------------------------------------------------------------


def functions_in(source: str, module: str = "") -> list[dict[str, Any]]:
    """Every function and method of ``source`` (nested ones too): qualified name, first line, length."""
    out: list[dict[str, Any]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                lines = (child.end_lineno or child.lineno) - child.lineno + 1
                out.append({"module": module, "name": name, "line": child.lineno, "lines": lines})
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return out


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def longest_functions(src: Path) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    for path in sorted((src / PACKAGE).rglob("*.py")):
        found += functions_in(path.read_text(encoding="utf-8"), module_name(path, src))
    found.sort(key=lambda f: (-f["lines"], f["module"], f["line"]))
    return {
        "functions": len(found),
        "over": sum(f["lines"] > LONG_FUNCTION for f in found),
        "top": found[:TOP_FUNCTIONS],
    }


# --- 4. import cycles ---------------------------------------------------------------------------------


# --- 2 and 5. the run: imports before the first step, and the call path ------------------------------


def entry_module(root: Path = ROOT, package: str = PACKAGE) -> str:
    """The module of the package's console script (``[project.scripts]`` of pyproject.toml)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: the package's module itself
        return package
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    target = project.get("scripts", {}).get(package, package)
    return str(target).split(":")[0]


def run_train(src: Path, data_dir: str, timeout: float = 600) -> dict[str, Any]:
    """Run ``convolab train`` on a tiny job through scripts/house_trace.py; its record (see there)."""
    with tempfile.TemporaryDirectory(prefix="house-metrics-") as tmp:
        out = Path(tmp) / "trace.json"
        argv = [*TRAIN_ARGS, "--data-dir", data_dir, "--out", str(Path(tmp) / "run")]
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))
        )
        cmd = [sys.executable, str(Path(__file__).with_name("house_trace.py")), str(out), PACKAGE]
        done = subprocess.run(
            [*cmd, entry_module(), *argv], env=env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0 or not out.is_file():
            tail = (done.stderr or done.stdout)[-2000:]
            raise SystemExit(f"the training run failed (exit {done.returncode}):\n{tail}")
        record: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    record["argv"] = [a if not a.startswith(tmp) else "TMP" + a[len(tmp) :] for a in record["argv"]]
    return record


def imported(record: dict[str, Any]) -> dict[str, Any]:
    ours = [m for m in record["modules"] if m == PACKAGE or m.startswith(PACKAGE + ".")]
    return {"all": len(record["modules"]), PACKAGE: len(ours), "modules": ours}


def call_path(transitions: list[list[Any]]) -> dict[str, Any]:
    """Visited modules, distinct transitions, climbs (to a higher rank) and returns (into a module the
    path visited before: it left it since, by a call out or a return) of the recorded call path."""
    visited: dict[str, None] = {}
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    returns = 0
    for caller, callee, repeats in transitions:
        visited.setdefault(caller)
        back = callee in visited
        returns += repeats if back else repeats - 1  # a repeat re-enters the callee after leaving it
        visited.setdefault(callee)
        edge = edges.setdefault((caller, callee), {"calls": 0, "return": back})
        edge["calls"] += repeats
    rows = []
    for (caller, callee), edge in edges.items():
        low, high = rank(caller), rank(callee)
        climb = low is not None and high is not None and high > low
        rows.append({"caller": caller, "callee": callee, **edge, "climb": climb})
    climbs = [r for r in rows if r["climb"]]
    return {
        "modules": list(visited),
        "events": sum(t[2] for t in transitions),
        "transitions": rows,
        "climbs": len(climbs),
        "climb_calls": sum(r["calls"] for r in climbs),
        "returns": returns,
        "return_edges": sum(r["return"] for r in rows),
    }


# --- the report ---------------------------------------------------------------------------------------


def measure(src: Path, data_dir: str | None) -> dict[str, Any]:
    """Every number of the report; ``data_dir`` None skips the run (sections 2 and 5)."""
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    loose = loose_modules(src / PACKAGE)
    report: dict[str, Any] = {
        "tree": describe_tree(src),
        "loose_root_modules": {"count": len(loose), "names": loose},
        "longest_functions": longest_functions(src),
        "import_cycles": static_cycles(),
    }
    if data_dir is not None:
        record = run_train(src, data_dir)
        report["run"] = {k: record[k] for k in ("argv", "seconds", "python", "torch")}
        report["imported_before_first_step"] = imported(record)
        report["call_path"] = call_path(record["transitions"])
    return report


def describe_tree(src: Path) -> str:
    """``src at COMMIT`` (the last commit that changed the measured folder), ``+ changes`` when it has
    uncommitted ones; ``unknown`` outside git."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(src), *args], capture_output=True, text=True)
        except OSError:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("log", "-1", "--format=%h", "--", ".")
    if not commit:
        return "unknown"
    return f"src at {commit}" + (" + changes" if git("status", "--porcelain", "--", ".") else "")


def _rank_text(module: str) -> str:
    r = rank(module)
    return "-" if r is None else str(r)


def md_static(r: dict[str, Any]) -> list[str]:
    loose = r["loose_root_modules"]
    fl = r["longest_functions"]
    lines = [
        "## 1. Loose root modules",
        "",
        f"**{loose['count']}** .py files directly in src/{PACKAGE} (besides `__init__`, `__main__`): "
        + (", ".join(f"`{n}`" for n in loose["names"]) or "none"),
        "",
        "## 3. Longest functions",
        "",
        f"**{fl['over']}** of {fl['functions']} functions and methods are over {LONG_FUNCTION} lines "
        "(`end_lineno - lineno + 1`, nested functions counted on their own too). The longest:",
        "",
        "| lines | function | line |",
        "|---:|---|---:|",
        *[f"| {f['lines']} | `{f['module']}.{f['name']}` | {f['line']} |" for f in fl["top"]],
        "",
        "## 4. Import cycles",
        "",
        "Read with grimp; an SCC is a set of modules that all reach each other by imports.",
        "",
    ]
    for key, title in (("with_type_only", "included"), ("without_type_only", "excluded")):
        c = r["import_cycles"][key]
        lines += [
            f"### Type-only (`if TYPE_CHECKING:`) imports {title}",
            "",
            f"{c['modules']} modules, {c['imports']} direct imports: **{len(c['cycles'])}** strongly "
            f"connected components of more than one module, "
            f"{sum(len(x['modules']) for x in c['cycles'])} modules in them.",
            "",
            *[
                f"- {len(x['modules'])} modules, {x['edges']} imports among them: "
                + ", ".join(f"`{m}`" for m in x["modules"])
                + f"  \n  e.g. {' -> '.join(x['cycle'])}"
                for x in c["cycles"]
            ],
            "",
            f"Cycles between top-level subpackages/root modules: **{len(c['component_cycles'])}**"
            + "".join(f"\n- {', '.join(f'`{m}`' for m in comp)}" for comp in c["component_cycles"]),
            "",
            f"Imports into a higher layer (by the rank table): **{len(c['upward'])}**"
            + "".join(
                f"\n- `{u['importer']}` ({u['from']}) -> `{u['imported']}` ({u['to']})" for u in c["upward"]
            ),
            "",
        ]
    return lines


def md_run(r: dict[str, Any]) -> list[str]:
    imp = r["imported_before_first_step"]
    path = r["call_path"]
    run = r["run"]
    lines = [
        "## 2. Modules imported by `convolab train` before its first step",
        "",
        f"`python scripts/house_trace.py ... {' '.join(run['argv'])}` (Python {run['python']}, "
        f"torch {run['torch']}; its time is in `--json`), `sys.modules` at "
        f"the first backward pass: **{imp[PACKAGE]}** `{PACKAGE}` modules, **{imp['all']}** modules in all.",
        "",
        ", ".join(f"`{m}`" for m in imp["modules"]),
        "",
        "## 5. Call path of the training config, from the `train` command to the first backward pass",
        "",
        f"Calls between two different `{PACKAGE}` modules on the main thread (a call made through torch or "
        f"click counts from the nearest `{PACKAGE}` frame; module bodies run by imports do not count):",
        "",
        f"- modules visited: **{len(path['modules'])}**",
        f"- transitions: **{len(path['transitions'])}** distinct caller -> callee module pairs, "
        f"{path['events']} calls",
        f"- climbs back up (callee's rank above the caller's): **{path['climbs']}** distinct, "
        f"{path['climb_calls']} calls",
        f"- returns to a module already left: **{path['return_edges']}** distinct transitions first "
        f"taken as a return, {path['returns']} calls",
        "",
        "Distinct transitions in the order first taken (rank in brackets; ↑ climb, ↩ first taken as a "
        "return):",
        "",
        "| # | caller | callee | calls | |",
        "|---:|---|---|---:|---|",
    ]
    for i, t in enumerate(path["transitions"], 1):
        mark = ("↑" if t["climb"] else "") + ("↩" if t["return"] else "")
        lines.append(
            f"| {i} | `{t['caller']}` ({_rank_text(t['caller'])}) | `{t['callee']}` "
            f"({_rank_text(t['callee'])}) | {t['calls']} | {mark} |"
        )
    return [*lines, ""]


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"# House metrics of `{PACKAGE}` ({r['tree']})",
        "",
        "Made by `PYTHONPATH=src python scripts/house_metrics.py` (see its docstring for what each number "
        "means). Layer ranks: "
        + "; ".join(
            f"{n}: {', '.join(k for k, v in RANKS.items() if v == n)}" for n in sorted(set(RANKS.values()))
        )
        + ".",
        "",
        *md_static(r),
    ]
    if "run" in r:
        lines += md_run(r)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="JSON instead of markdown")
    parser.add_argument("--no-run", action="store_true", help="skip the training run (sections 2 and 5)")
    parser.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, help="Fashion-MNIST's IDX files [%(default)s]"
    )
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the folder holding the package")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    report = measure(args.src.resolve(), None if args.no_run else args.data_dir)
    text = json.dumps(report, indent=1) + "\n" if args.json else markdown(report)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
