"""Downloads against a real HTTP server on 127.0.0.1: every failure leaves only verified files."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import threading
import time

import pytest

from convolab.data import (
    DatasetNotFoundError,
    DownloadError,
    FileSpec,
    download_file,
    load_dataset,
    registry,
)

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes
SPEC = FileSpec("blob.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest(), md5=hashlib.md5(PAYLOAD).hexdigest())


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        mode, _, name = self.path.strip("/").partition("/")
        body = self.files.get(name)
        if mode == "missing" or body is None:
            self.send_error(404)
            return
        if mode == "slow":
            time.sleep(1.0)
        if mode == "bad":
            body = body[:-1] + bytes([body[-1] ^ 1])
        length = len(body) + (1000 if mode == "truncated" else 0)
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass
        self.close_connection = True


@pytest.fixture
def server():
    Handler.files = {"blob.bin": PAYLOAD}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def fetch(base, modes, dest, **kw):
    mirrors = [f"{base}/{m}/" for m in modes]
    return download_file(SPEC, mirrors, dest, timeout=kw.pop("timeout", 5), retries=0, progress=False, **kw)


def test_success(server, tmp_path):
    path = fetch(server, ["good"], tmp_path / "cache")
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in path.parent.iterdir()) == ["blob.bin"]


@pytest.mark.parametrize(
    "mode, reason",
    [("bad", "checksum mismatch"), ("truncated", "truncated"), ("missing", "HTTP 404")],
)
def test_failure_leaves_nothing(server, tmp_path, mode, reason):
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        fetch(server, [mode], dest)
    assert not dest.exists()  # not even a .part file (nor the folder this download created)
    ((url, why),) = info.value.attempts
    assert url == f"{server}/{mode}/blob.bin" and reason in why
    assert url in str(info.value)


def test_failure_removes_every_folder_it_created_and_no_other(server, tmp_path):
    """~/.cache/convolab/NAME: a failed first download leaves neither NAME nor the cache folder."""
    (tmp_path / "home" / "keep").mkdir(parents=True)
    with pytest.raises(DownloadError):
        fetch(server, ["missing"], tmp_path / "home" / ".cache" / "convolab" / "mnist")
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["keep"]


def test_timeout(server, tmp_path):
    dest = tmp_path / "cache"
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="timed out"):
        fetch(server, ["slow"], dest, timeout=0.2)
    assert time.perf_counter() - t0 < 1.0
    assert not dest.exists()


def test_first_mirror_down_second_good(server, tmp_path):
    path = fetch(server, ["missing", "bad", "good"], tmp_path / "cache")
    assert path.read_bytes() == PAYLOAD


def test_retries_then_gives_up_naming_each_url(server, tmp_path):
    mirrors = [f"{server}/truncated/", f"{server}/missing/"]
    with pytest.raises(DownloadError) as info:
        download_file(SPEC, mirrors, tmp_path, timeout=5, retries=2, backoff=0.0, progress=False)
    urls = [u for u, _ in info.value.attempts]
    assert urls == [mirrors[0] + "blob.bin"] * 3 + [mirrors[1] + "blob.bin"]  # 404: no retry
    assert list(tmp_path.iterdir()) == []


def test_existing_verified_file_is_not_clobbered_by_a_bad_download(server, tmp_path):
    (tmp_path / "blob.bin").write_bytes(PAYLOAD)
    with pytest.raises(DownloadError):
        fetch(server, ["bad"], tmp_path)
    assert (tmp_path / "blob.bin").read_bytes() == PAYLOAD


def test_load_dataset_downloads_into_the_cache(server, isolated, monkeypatch, fashion_t10k_dir):
    for f in fashion_t10k_dir.glob("*.gz"):
        Handler.files[f.name] = f.read_bytes()
    name = "fashion-mnist"
    spec = registry.DATASETS[name]
    # Debian recompresses the published archives: the archive checksums expected are those of the files
    # served here (computed by hashlib); the content checksums stay the registry's published ones.
    files = dict(spec.files)
    for f in fashion_t10k_dir.glob("*.gz"):
        data = f.read_bytes()
        sums = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
        files[f.name] = dataclasses.replace(spec.files[f.name], size=len(data), **sums)
    mirrors = (f"{server}/missing/", f"{server}/good/")
    spec = dataclasses.replace(spec, files=files, mirrors=mirrors)
    monkeypatch.setitem(registry.DATASETS, name, spec)
    ds = load_dataset(name, "test", limit=5)
    cache = isolated / "xdg" / "convolab" / name
    assert ds.source == cache and ds.images.shape == (5, 1, 28, 28)
    assert sorted(p.name for p in cache.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]


def test_load_dataset_failed_download_names_urls_and_fixes(server, isolated, monkeypatch):
    spec = dataclasses.replace(registry.DATASETS["kmnist"], mirrors=(f"{server}/missing/", f"{server}/bad/"))
    monkeypatch.setitem(registry.DATASETS, "kmnist", spec)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("kmnist", "test")
    msg = str(info.value)
    assert "\n" not in msg
    assert f"{server}/missing/t10k-images-idx3-ubyte.gz (HTTP 404" in msg
    assert f"{server}/bad/t10k-images-idx3-ubyte.gz" in msg
    for fix in ("--data-dir", "CONVOLAB_DATA", "convolab data fetch kmnist"):
        assert fix in msg
    cache = isolated / "xdg" / "convolab" / "kmnist"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_refused_connection_is_not_retried_and_leaves_no_folder(tmp_path):
    # Port 9 (discard) on 127.0.0.1 refuses at once; retrying would only add the backoff.
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="127.0.0.1:9/blob.bin: unreachable") as info:
        download_file(SPEC, ["http://127.0.0.1:9/"], tmp_path / "new", retries=3, backoff=5.0, progress=False)
    assert len(info.value.attempts) == 1 and time.perf_counter() - t0 < 2.0
    assert not (tmp_path / "new").exists()


def test_repeated_outcomes_are_shown_once():
    err = DownloadError(
        "f.gz", [("http://a/f.gz", "timed out")] * 3 + [("http://b/f.gz", "HTTP 404 Not Found")]
    )
    assert (
        str(err)
        == "could not download f.gz (http://a/f.gz: timed out (x3); http://b/f.gz: HTTP 404 Not Found)"
    )
