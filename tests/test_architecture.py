"""The package's shape: its layers and no import cycles (import-linter's contracts in pyproject.toml, the
same check ``make lint`` runs), and a light core (``import convolab.layers`` pulls nothing heavy and changes
no global state).

The contracts are checked on the real tree, and on a copy with a planted upward import and a planted
type-only cycle, so the check is known to fail when the layering breaks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "convolab"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

HEAVY = ("matplotlib", "rich", "torchmetrics", "torch.distributed", "scipy")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.skip("import-linter is not installed (the test extra has it)")
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_package_keeps_its_import_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", root)
    shutil.copytree(PACKAGE, root / "src" / "convolab", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def lint_with(copy: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the copy with ``code`` appended to ``layers/padding.py`` (then taken out)."""
    target = copy / "src/convolab/layers/padding.py"
    text = target.read_text(encoding="utf-8")
    target.write_text(text + "\n" + code + "\n", encoding="utf-8")
    try:
        return lint_imports(copy)
    finally:
        target.write_text(text, encoding="utf-8")


def test_the_contracts_refuse_an_upward_import(copy):
    result = lint_with(copy, "def _late():\n    from convolab.train import loop  # noqa")
    assert result.returncode != 0
    assert "convolab.layers.padding -> convolab.train.loop" in result.stdout


def test_the_contracts_refuse_a_type_only_cycle(copy):
    result = lint_with(
        copy,
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from convolab.layers import conv  # noqa",
    )
    assert result.returncode != 0
    assert "No cycles are allowed in convolab.layers" in result.stdout


# ``import torch`` itself loads torch.distributed (torch 2.x), so the probe imports torch first and
# counts only what ``import convolab.layers`` adds on top of it.
PROBE = """
import json, os, sys, types
import torch
before = (dict(os.environ), torch.get_default_dtype(), torch.get_num_threads(),
          torch.are_deterministic_algorithms_enabled())
loaded = set(sys.modules)  # torch itself loads torch.distributed: only what convolab adds counts
if {stub}:  # the package root without its __init__ (what convolab.layers itself needs)
    root = types.ModuleType("convolab")
    root.__path__ = [{pkg!r}]
    sys.modules["convolab"] = root
import convolab.layers
after = (dict(os.environ), torch.get_default_dtype(), torch.get_num_threads(),
         torch.are_deterministic_algorithms_enabled())
heavy = [m for m in {heavy!r} if m in sys.modules and m not in loaded]
heavy += ["matplotlib backend"] if "matplotlib" in sys.modules and "matplotlib" not in loaded else []
print(json.dumps({{"heavy": heavy, "state_changed": [str(a) for a, b in zip(before, after) if a != b]}}))
"""


def probe(stub: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = str(SRC)
    code = PROBE.format(stub=stub, pkg=str(PACKAGE), heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_layers_and_what_they_need_are_light_and_change_no_global_state():
    result = probe(stub=True)
    assert result == {"heavy": [], "state_changed": []}


def test_import_convolab_layers_is_light():
    assert probe(stub=False) == {"heavy": [], "state_changed": []}


def test_the_contracts_refuse_a_heavy_import_in_the_layers(copy):
    result = lint_with(copy, "def _plot():\n    import matplotlib  # noqa")
    assert result.returncode != 0
    assert "convolab.layers.padding -> matplotlib" in result.stdout
