"""The fuzz suite's markers and its one session run of every selected case (see harness.py).

``pytest`` (and ``pytest tests/fuzz``) runs the CI selection (cases with ``ci=True``: every category of
issue 12's list); ``pytest -m fuzz_full tests/fuzz`` runs every case. ``FUZZ_FRESH=1`` runs each case
in a fresh interpreter instead of the fork server.
"""

from __future__ import annotations

import dataclasses
import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fuzz_full: every hostile input of tests/fuzz (-m fuzz_full runs them all)"
    )
    config.addinivalue_line("markers", "fuzz_extra: a hostile input outside the CI selection")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The CI selection runs with every `pytest`; the rest only with `-m fuzz_full` (`make fuzz FUZZ=full`).
    if "fuzz_full" in (config.option.markexpr or ""):
        return
    drop = [item for item in items if item.get_closest_marker("fuzz_extra")]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if not item.get_closest_marker("fuzz_extra")]


def resolve(case, template: str):
    """``@TPL`` in a case's input -> the session's template folder."""
    return dataclasses.replace(
        case,
        argv=tuple(a.replace("@TPL", template) for a in case.argv),
        code=case.code.replace("@TPL", template),
    )


@pytest.fixture(scope="session")
def fuzz_templates(tmp_path_factory: pytest.TempPathFactory):
    from fuzz import files

    files.TEMPLATES = tmp_path_factory.mktemp("fuzz-templates")
    return files


@pytest.fixture(scope="session")
def fuzz_results(request: pytest.FixtureRequest, fuzz_templates, tmp_path_factory: pytest.TempPathFactory):
    """Every selected case, run once (in parallel) at the first use: ``{case id: Result}``."""
    from fuzz.files_issue26 import NEEDS_TEMPLATE
    from fuzz.harness import run_cases

    wanted = [
        item.callspec.params["case"]
        for item in request.session.items
        if hasattr(item, "callspec")
        and "case" in item.callspec.params
        and "fuzz_results" in item.fixturenames
    ]
    needs_template = any("@TPL" in " ".join(c.argv) + c.code for c in wanted) or any(
        s
        in {"run", "tiny_data", "no_state", "weights_garbage", "weights_nan", "symlink_best", *NEEDS_TEMPLATE}
        or s.startswith("state:")
        for c in wanted
        for s in c.setup
    )
    template = str(fuzz_templates.template_dir()) if needs_template else "/nonexistent-template"
    cases = [resolve(c, template) for c in wanted]
    fresh = os.environ.get("FUZZ_FRESH") == "1"
    return run_cases(cases, tmp_path_factory.mktemp("fuzz"), fuzz_templates.BUILDERS, fresh=fresh)
