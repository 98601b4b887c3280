"""`convolab lab --threads N`: each worker process really runs torch with N intra-op threads (issue 16)."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from convolab.cli import lab as cli_lab  # noqa: E402
from convolab.cli import main  # noqa: E402
from convolab.lab import server  # noqa: E402
from convolab.lab.worker import WorkerConfig, WorkerPool  # noqa: E402


@pytest.mark.parametrize("threads", [1, 3])
def test_a_worker_runs_with_the_threads_it_is_given(tmp_path, threads):
    pool = WorkerPool(WorkerConfig(str(tmp_path), threads=threads), size=1, seconds=120)
    try:
        info = pool.info()
        assert info["threads"] == threads and info["pid"] in pool.pids()
    finally:
        pool.close()


def test_lab_threads_option_reaches_the_workers(tmp_path, monkeypatch, capsys):
    served = []
    monkeypatch.setattr(server, "serve", lambda app, host, port: served.append(app))
    monkeypatch.setattr(cli_lab, "_check_port", lambda host, port: None)
    assert main(["lab", "--threads", "2", "--runs", str(tmp_path), "--port", "8999"]) == 0
    (app,) = served
    try:
        assert app.state.pool.config.threads == 2
        assert app.state.pool.info()["threads"] == 2  # a real worker process, started from the CLI's app
    finally:
        app.state.pool.close()


def test_lab_without_threads_uses_the_default_policy(tmp_path, monkeypatch):
    served = []
    monkeypatch.setattr(server, "serve", lambda app, host, port: served.append(app))
    monkeypatch.setattr(cli_lab, "_check_port", lambda host, port: None)
    assert main(["lab", "--runs", str(tmp_path)]) == 0
    assert served[0].state.pool.config.threads is None  # the worker calls set_threads(None) at start


@pytest.mark.parametrize("bad", ["0", "-1", "100000"])
def test_bad_threads_is_one_error_line(tmp_path, capsys, bad):
    assert main(["lab", "--threads", bad, "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --threads: threads must be an integer"), err


def test_lab_help_lists_every_panel_of_the_page():
    """`convolab lab --help` names each of the page's tabs (it listed 5 of the 6: issue 24, item 9)."""
    import re
    from pathlib import Path

    from click.testing import CliRunner

    from convolab.cli import cli

    html = (Path(server.__file__).parent / "static" / "index.html").read_text()
    tabs = re.findall(r'<button type="button" data-panel="\w+"[^>]*>([^<]+)</button>', html)
    assert len(tabs) == 6
    out = CliRunner().invoke(cli, ["lab", "--help"], terminal_width=100).output
    for tab in tabs:
        assert re.search(rf"^\s+{tab}\s", out, re.M), (tab, out)
