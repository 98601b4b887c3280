"""Lab server: the page and its static files, JSON errors, the CLI, and a real uvicorn server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lab_support import LiveServer, free_port, lab_client

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient  # noqa: E402

from convolab.cli import main  # noqa: E402
from convolab.lab import api_upsampling  # noqa: E402
from convolab.lab.server import STATIC_DIR, Limits, create_app  # noqa: E402


@pytest.fixture
def client(tmp_path) -> TestClient:
    return lab_client(create_app(tmp_path), raise_server_exceptions=False)


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(src).status_code == 200, src
    assert client.get("/static/lab.css").headers["content-type"].startswith("text/css")


def test_the_page_needs_nothing_from_the_internet():
    # offline: no absolute URL anywhere in the page's files (scripts, styles, fonts, images)
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://|//cdn|@import|url\(", text), path.name


@pytest.mark.parametrize(
    "path", ["/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py"]
)
def test_static_traversal_is_refused(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert "import" not in r.text  # no Python source leaks out of the package


def test_unknown_route_and_wrong_method_are_json(client):
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.json() == {"error": "not found: /api/nope"}
    r = client.get("/api/analyze")
    assert r.status_code == 405 and "error" in r.json()


@pytest.mark.parametrize(("body", "needle"), [(b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object")])
def test_malformed_bodies(client, body, needle):
    r = client.post("/api/upsample", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and needle in r.json()["error"]


def test_a_bug_is_a_json_500_and_the_server_keeps_serving(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    # inline tasks (workers=0), so the patched function is the one that runs
    client = lab_client(create_app(tmp_path, limits=Limits(workers=0)))
    monkeypatch.setattr(api_upsampling, "upsample_all", broken)
    r = client.post("/api/upsample", json={"grid": [[1]]})
    assert r.status_code == 500 and r.json() == {"error": "internal error: RuntimeError: boom"}
    assert client.get("/api/health").json()["ok"] is True


def test_real_uvicorn_server_in_process(tmp_path):
    with LiveServer(create_app(tmp_path)) as server:
        with urllib.request.urlopen(server.url + "/api/health", timeout=10) as resp:
            assert json.load(resp)["ok"] is True
        req = urllib.request.Request(
            server.url + "/api/analyze",
            data=json.dumps({"spec": "layers: ["}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        assert info.value.code == 400 and "not valid YAML" in json.load(info.value)["error"]
        with urllib.request.urlopen(server.url + "/", timeout=10) as resp:
            assert b"convolab lab" in resp.read()


def test_cli_starts_a_server_and_prints_its_address(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # the line must come unbuffered
    cmd = [sys.executable, "-m", "convolab", "lab", "--port", str(port), "--runs", str(tmp_path / "runs")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"convolab lab: serving on http://127.0.0.1:{port}/"), line
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=5) as resp:
                    assert json.load(resp)["runs"] == []
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_port_in_use_is_one_line_and_exit_2(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["lab", "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"error: port {port} on 127.0.0.1 is in use; choose another with --port\n"


def test_help_teaches_with_an_example(capsys):
    assert main(["lab", "--help"]) == 0
    out = capsys.readouterr().out
    for word in ("--port", "--host", "--runs", "Example:", "convolab lab --runs runs/", "offline"):
        assert word in out


def test_runs_root_is_resolved(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    app = create_app(tmp_path / "link")
    assert app.state.runs_root == Path(tmp_path / "real").resolve()


def test_missing_extra_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "convolab.lab.server", None)  # as if starlette were not installed
    assert main(["lab", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: the lab needs its extra: pip install 'convolab[lab]'") and err.count("\n") == 1
    )
