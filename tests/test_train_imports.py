"""The training package's import contract: light config and CLI modules, a single-process in-memory
run that never loads the distributed or streaming code, and no import cycle among training modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
TRAIN_FILES = sorted((SRC / "convolab" / "train").glob("*.py"))


def _run(code: str) -> str:
    env_code = f"import sys; sys.path.insert(0, {str(SRC)!r})\n" + code
    out = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# The package root (convolab/__init__.py) is another part's; stub it so only these modules are measured.
STUB_ROOT = """
import types, sys
root = types.ModuleType("convolab"); root.__path__ = [{path!r}]; sys.modules["convolab"] = root
"""


def test_config_imports_neither_torch_nor_numpy():
    code = STUB_ROOT.format(path=str(SRC / "convolab")) + (
        "import convolab.train.config as c, convolab.train\n"
        "assert c.TrainConfig().to_dict()['batch_size'] == 256\n"
        "print(sorted(m for m in ('torch', 'numpy', 'matplotlib', 'rich') if m in sys.modules))"
    )
    assert _run(code) == "[]"


def test_cli_train_module_builds_without_torch():
    # cli/__init__ registers every command module (other parts); stub it with what cli/train.py uses.
    code = STUB_ROOT.format(path=str(SRC / "convolab")) + (
        "import click\n"
        f"cli = types.ModuleType('convolab.cli'); cli.__path__ = [{str(SRC / 'convolab' / 'cli')!r}]\n"
        "class UserError(click.ClickException): pass\n"
        "cli.UserError = UserError; sys.modules['convolab.cli'] = cli\n"
        "import convolab.cli.train as t\n"
        "names = {p.name for p in t.train_cmd.params}\n"
        "assert {'batch_size', 'lr', 'memory_budget', 'resume', 'config_file'} <= names, names\n"
        "print(sorted(m for m in ('torch', 'numpy', 'matplotlib', 'rich') if m in sys.modules))"
    )
    assert _run(code) == "[]"


def test_single_process_in_memory_run_loads_no_distributed_or_streaming_code(tmp_path):
    from train_support import write_dataset, write_spec

    dataset = write_dataset(tmp_path / "d", n_train=20, n_test=4)
    spec = write_spec(tmp_path)
    here, run = str(Path(__file__).parent), str(tmp_path / "run")
    code = (
        f"import sys\nsys.path.insert(0, {here!r})\n"
        "from convolab.train import TrainConfig, train\n"
        f"train(TrainConfig(model={str(spec)!r}, dataset={dataset!r}, stream='off', epochs=1, batch_size=8,"
        f" device='cpu', out={run!r}), quiet=True, figures=False)\n"
        "bad = [m for m in ('convolab.train.distributed', 'convolab.train.streaming',"
        " 'convolab.train.stream_data', 'convolab.train.folder_source')"
        " if m in sys.modules]\n"
        "print(bad)"
    )
    assert _run(code) == "[]"


def _imports(path: Path) -> set[str]:
    """convolab.train modules ``path`` imports at module level (not inside functions)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convolab.train"):
            out.add(node.module)
            out |= {f"convolab.train.{a.name}" for a in node.names if node.module == "convolab.train"}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("convolab.train")}
    return out


def test_no_import_cycle_among_training_modules():
    graph = {f"convolab.train.{p.stem}": _imports(p) for p in TRAIN_FILES if p.stem != "__init__"}
    graph = {m: {d for d in deps if d in graph} for m, deps in graph.items()}
    done: set[str] = set()

    def visit(m: str, stack: list[str]) -> None:
        if m in stack:
            pytest.fail("import cycle: " + " -> ".join(stack[stack.index(m) :] + [m]))
        if m in done:
            return
        for d in sorted(graph[m]):
            visit(d, stack + [m])
        done.add(m)

    for m in sorted(graph):
        visit(m, [])
    assert len(graph) >= 14


def test_report_does_not_import_the_loop():
    # figures are drawn by the caller after fit(): report needs the batch order, never the Trainer
    text = (SRC / "convolab" / "train" / "report.py").read_text()
    assert "convolab.train.loop" not in text and "convolab.train.session" not in text
