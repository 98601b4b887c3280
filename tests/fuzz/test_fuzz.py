"""Every hostile input is refused in one line: exit 2 and one ``error:`` line (CLI) or a one-line
ValueError (API), no traceback, nothing written, within the time limit, under 1 GiB of address space.

The table is ``cases.py``; the harness ``harness.py``; cases failing today are strict xfails
(``xfails.py``) keyed to the area of issue 12 that must fix them.
"""

from __future__ import annotations

import pytest

from fuzz.cases import CASES, ISSUE_ITEMS, issue_item
from fuzz.harness import problems
from fuzz.xfails import XFAIL


def _param(case):
    marks = [pytest.mark.fuzz_full]
    if not case.ci:
        marks.append(pytest.mark.fuzz_extra)
    if case.id in XFAIL:
        marks.append(pytest.mark.xfail(strict=True, reason=f"issue 12: {XFAIL[case.id]}"))
    return pytest.param(case, id=case.id, marks=marks)


def test_the_table_covers_every_command_category_and_300_inputs() -> None:
    assert len(CASES) >= 300
    commands = {c.argv[0] for c in CASES if c.kind == "cli"}
    assert commands >= {
        "summary",
        "layers",
        "filter",
        "kernels",
        "data",
        "train",
        "evaluate",
        "reconstruct",
        "compare",
        "figures",
        "import-keras",
        "export",
        "lab",
    }
    assert {c.argv[1] for c in CASES if c.argv[:1] == ("data",)} >= {"list", "fetch", "verify", "show"}
    codes = " ".join(c.code for c in CASES)
    for entry in (
        "load_spec",
        "analyze",
        "build_model",
        "Sequential",
        "filter2d",
        "get_kernel",
        "load_image",
        "load_dataset",
        "read_idx",
        "Conv2D(",
        "Dense(",
        "UpSampling2D(",
        "TrainConfig",
        "load_run",
        "import_keras",
        "write_run",
        "export_model",
        "resume(",
    ):
        assert entry in codes, entry
    categories = {c.category for c in CASES}
    assert categories >= {
        "huge factors/sizes",
        "yaml alias bomb",
        "deep nesting",
        "100k-layer specs",
        "per-pixel RF blow-up",
        "kernels size/sigma",
        "big/odd images",
        "FIFOs",
        "bad state.json fields",
        "overflowing numbers",
        "unknown datasets",
        "bad paths",
        "overwrite of foreign folders",
        "overwrite run checkpoints",
    }
    assert 80 <= sum(c.ci for c in CASES) <= 180
    assert {issue_item(c) for c in CASES if c.ci} == set(ISSUE_ITEMS) == set(range(1, 11))  # all in CI
    assert set(XFAIL) <= {c.id for c in CASES}


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_input_is_refused_cleanly(case, fuzz_results) -> None:
    r = fuzz_results[case.id]
    found = problems(r)
    assert not found, (
        f"{case.show()[:300]}\n  "
        + "\n  ".join(found)
        + f"\n  {r.seconds:.1f} s, {r.maxrss_kib / 1024:.0f} MiB peak RSS; last line: {r.last_line()}"
    )
