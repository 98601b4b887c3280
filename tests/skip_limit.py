"""The skip limit: on a machine where the set-up has run, more than ``MAX_SKIPS`` skipped tests fail the run.

A test skips when what it needs is missing (a dataset, a browser, an extra); on a machine where `make setup`
has run (it leaves ``.installed`` in the virtual environment) or in CI (``CI`` set), everything is there,
so many skips mean the suite silently stopped testing something (issue 26: 242 tests skipped on a fresh
clone and nobody noticed). tests/conftest.py imports these hooks; the summary lists every skip.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

MAX_SKIPS = 5
_KEY = pytest.StashKey[list]()


def setup_has_run() -> bool:
    return bool(os.environ.get("CI")) or (Path(sys.prefix) / ".installed").is_file()


def _skipped(session: pytest.Session) -> list:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter is not None else []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    skipped = _skipped(session)
    if len(skipped) > MAX_SKIPS and setup_has_run():
        session.config.stash[_KEY] = skipped
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = config.stash.get(_KEY, None)
    if not skipped:
        return
    why = "CI is set" if os.environ.get("CI") else f"the set-up has run ({Path(sys.prefix) / '.installed'})"
    terminalreporter.section("skip limit", sep="=", red=True, bold=True)
    terminalreporter.line(
        f"FAILED: {len(skipped)} tests skipped, over the limit of {MAX_SKIPS} on a machine where {why}:"
    )
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        terminalreporter.line(f"  {report.nodeid}: {reason.removeprefix('Skipped: ')}")
