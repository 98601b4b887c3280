"""The skip limit of tests/skip_limit.py: more than 5 skips fail the run where the set-up has run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import skip_limit

TESTS = Path(__file__).resolve().parent


def _run_suite(tmp_path: Path, n_skips: int, **env: str) -> subprocess.CompletedProcess:
    """A small suite with one passing test and ``n_skips`` skipped ones, under the skip-limit hooks."""
    (tmp_path / "conftest.py").write_text(
        "from skip_limit import pytest_sessionfinish, pytest_terminal_summary\n"
    )
    body = ["import pytest", "def test_ok():", "    pass"]
    for i in range(n_skips):
        body += [f"def test_skip_{i}():", f"    pytest.skip('needs thing {i}')"]
    (tmp_path / "test_some.py").write_text("\n".join(body) + "\n")
    full_env = {k: v for k, v in os.environ.items() if k != "CI"}
    full_env.update(PYTHONPATH=os.pathsep.join([str(TESTS), full_env.get("PYTHONPATH", "")]), **env)
    argv = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)]
    return subprocess.run(argv, cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=120)


def test_six_skips_fail_the_run_in_ci_and_name_each_skip(tmp_path):
    done = _run_suite(tmp_path, 6, CI="1")
    assert done.returncode == 1, done.stdout
    assert "FAILED: 6 tests skipped, over the limit of 5 on a machine where CI is set" in done.stdout
    for i in range(6):
        assert f"test_some.py::test_skip_{i}: needs thing {i}" in done.stdout


def test_five_skips_pass(tmp_path):
    done = _run_suite(tmp_path, 5, CI="1")
    assert done.returncode == 0, done.stdout
    assert "skip limit" not in done.stdout and done.stdout.count("SKIPPED") == 5  # -rs: each with its reason


def test_the_set_up_is_recognised_by_its_marker_or_ci(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert not skip_limit.setup_has_run()  # a bare environment: skips are only reported
    (tmp_path / ".installed").touch()  # what `make setup` leaves in the virtual environment
    assert skip_limit.setup_has_run()
    (tmp_path / ".installed").unlink()
    monkeypatch.setenv("CI", "true")
    assert skip_limit.setup_has_run()
