"""The fuzz harness itself can fail: it sees success, writes, hangs, memory errors, tracebacks, the network.

Control cases run through the same fork server (and, on a sample, a fresh interpreter) as the hostile
ones; the judge (``problems``/``outcome``) is checked on hand-made results.
"""

from __future__ import annotations

import signal

import pytest

from fuzz.harness import CPU_LIMIT_S, Case, Result, api, cli, outcome, problems, run_cases

CONTROLS = [
    cli("ok-summary", "control", "core/spec+analysis", "summary seed-upsampling"),
    cli(
        "ok-filter",
        "control",
        "cli/filters/data/keras",
        "filter small.png -k sobel_x -o out.png",
        "small.png",
    ),
    cli("refused", "control", "core/spec+analysis", "summary missing.yaml"),
    api("api-value-error", "control", "core/spec+analysis", "raise ValueError('one line')"),
    api("api-type-error", "control", "core/spec+analysis", "raise TypeError('no')"),
    api("api-two-lines", "control", "core/spec+analysis", "raise ValueError('a\\nb')"),
    api("api-accepts", "control", "core/spec+analysis", "x = 1"),
    api("api-memory", "control", "core/spec+analysis", "b = bytearray(2 << 30)"),
    api("api-hang", "control", "core/spec+analysis", "import time\ntime.sleep(600)"),
    api("api-busy", "control", "core/spec+analysis", "while True:\n    pass"),
    api(
        "api-network",
        "control",
        "core/spec+analysis",
        "import socket\nsocket.create_connection(('203.0.113.7', 80), timeout=5)",
    ),
    api("api-writes", "control", "core/spec+analysis", "open('x.txt', 'w').write('x')"),
    api(
        "api-writes-home",
        "control",
        "core/spec+analysis",
        "import os\nopen(os.path.expanduser('~/y.txt'), 'w').write('y')",
    ),
]


@pytest.fixture(scope="module")
def controls(fuzz_templates, tmp_path_factory):
    return run_cases(CONTROLS, tmp_path_factory.mktemp("controls"), fuzz_templates.BUILDERS)


def test_valid_commands_run_under_the_limits(controls) -> None:
    """1 GiB of address space and the harness's environment let real work finish (no false refusals)."""
    for cid in ("ok-summary", "ok-filter"):
        r = controls[cid]
        assert r.status == 0 and not r.timed_out, (cid, r.stderr[-2000:])
        assert outcome(r) in ("accepted", "wrote files")
    assert "Conv2D" in controls["ok-summary"].stdout
    assert controls["ok-filter"].changes == ["+work/out.png"]


def test_the_judge_tells_each_outcome(controls) -> None:
    got = {cid: outcome(r) for cid, r in controls.items()}
    assert got["refused"] == "clean"
    assert got["api-value-error"] == "clean"
    assert got["api-type-error"] == "wrong exception"
    assert got["api-two-lines"] == "not one line"
    assert got["api-accepts"] == "accepted"
    assert got["api-memory"] == "OOM"  # RLIMIT_AS is in force in the child
    assert got["api-hang"] == "hang" and controls["api-hang"].timed_out  # no CPU used: the wall limit
    busy = controls["api-busy"]  # the CPU limit (RLIMIT_CPU), whatever the machine's load
    assert got["api-busy"] == "hang" and (busy.status == -signal.SIGXCPU or busy.timed_out), busy.status
    assert busy.timed_out or CPU_LIMIT_S < busy.cpu_s < CPU_LIMIT_S + 3
    assert got["api-writes"] == "wrote files" and controls["api-writes"].changes == ["+work/x.txt"]
    assert controls["api-writes-home"].changes == ["+home/y.txt"]
    net = controls["api-network"]
    assert net.api["type"] in ("OSError", "gaierror") and "network disabled" in net.api["message"]


def _result(kind: str, status: int, stderr: str, **kw) -> Result:
    case = Case("x", "c", "lab", argv=("a",)) if kind == "cli" else Case("x", "c", "lab", code="pass")
    return Result(case, status, 0.1, 1000, False, "", stderr, **kw)


def test_problems_on_hand_made_results() -> None:
    assert problems(_result("cli", 2, "error: bad thing\n")) == []
    assert "a traceback on stderr" in problems(
        _result("cli", 1, "Traceback (most recent call last):\n  x\nE: y\n")
    )
    assert outcome(_result("cli", 1, "Traceback (most recent call last):\nKeyError: 'x'\n")) == "traceback"
    assert outcome(_result("cli", 1, "Traceback (most recent call last):\nMemoryError\n")) == "OOM"
    assert outcome(_result("cli", -9, "")) == "OOM"
    assert outcome(_result("cli", 2, "Usage: convolab x\nError: no such option\n")) == "not one line"
    assert outcome(_result("cli", 2, "warning: x\n")) == "not one line"
    assert outcome(_result("cli", 0, "")) == "accepted"
    assert outcome(_result("cli", 2, "error: x\n", changes=["+work/a"])) == "wrote files"
    assert outcome(_result("cli", 2, "error: x\n", cpu_s=CPU_LIMIT_S + 0.5)) == "hang"
    assert outcome(_result("cli", 2, "error: x\n", cpu_s=CPU_LIMIT_S - 0.5)) == "clean"


def _raised(exc: BaseException, raises: tuple[str, ...] = ()) -> Result:
    case = Case("x", "c", "lab", code="pass", raises=raises)
    api = {
        "raised": True,
        "type": type(exc).__name__,
        "value_error": isinstance(exc, ValueError),
        "mro": [c.__module__ + "." + c.__qualname__ for c in type(exc).__mro__],
        "message": str(exc),
    }  # noqa: E501
    return Result(case, 0, 0.1, 1000, False, "", "", api=api)


def test_a_case_may_name_the_exception_its_contract_asks_and_only_that_one() -> None:
    """The API contract: TypeError for a wrong type, an OSError subclass for a missing path or folder,
    only in the cases that say so (``raises=``); everywhere else only a ValueError is clean."""
    assert outcome(_raised(TypeError("x"))) == "wrong exception"
    assert outcome(_raised(FileNotFoundError("x"))) == "wrong exception"
    assert outcome(_raised(TypeError("x"), ("builtins.TypeError",))) == "clean"
    assert outcome(_raised(FileNotFoundError("x"), ("builtins.OSError",))) == "clean"  # a subclass
    assert outcome(_raised(FileNotFoundError("x"), ("builtins.FileNotFoundError",))) == "clean"
    assert outcome(_raised(IsADirectoryError("x"), ("builtins.FileNotFoundError",))) == "wrong exception"
    assert outcome(_raised(ValueError("x"), ("builtins.TypeError",))) == "wrong exception"
    assert outcome(_raised(TypeError("a\nb"), ("builtins.TypeError",))) == "not one line"
    assert problems(_raised(KeyError("x"), ("builtins.TypeError",))) == ["raised KeyError, not TypeError"]


PARITY = [
    cli("p-refused", "control", "core/spec+analysis", "summary missing.yaml"),
    cli("p-usage", "control", "cli/filters/data/keras", "summary seed-upsampling --batch 1e8"),
    api("p-api", "control", "core/spec+analysis", "import convolab\nconvolab.load_spec(None)"),
]


def test_fork_server_and_fresh_interpreter_agree(fuzz_templates, tmp_path_factory) -> None:
    """The fork server is a faithful stand-in for ``python -m convolab``: same status, stderr, outcome."""
    forked = run_cases(PARITY, tmp_path_factory.mktemp("forked"), fuzz_templates.BUILDERS)
    fresh = run_cases(PARITY, tmp_path_factory.mktemp("fresh"), fuzz_templates.BUILDERS, fresh=True)
    for case in PARITY:
        a, b = forked[case.id], fresh[case.id]
        assert (a.status, outcome(a), a.api.get("type")) == (b.status, outcome(b), b.api.get("type")), case.id
        if case.kind == "cli":
            assert a.stderr.replace("__main__.py", "") == b.stderr.replace("__main__.py", ""), case.id
