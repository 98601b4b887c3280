"""The native kernels' cache: nothing foreign, truncated or unreadable is loaded, and an unsafe folder is
refused; each time the PyTorch path runs and ``native.status()`` says why in one line (native/cache.py).

Loading a library runs its code, so the cases that plant one run in a fresh process: a crash there
(SIGBUS from a truncated file) fails the test instead of the test run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convolab.engine.native import build, cache

SRC = Path(__file__).resolve().parents[1] / "src"
needs_cc = pytest.mark.skipif(shutil.which(os.environ.get("CC") or "cc") is None, reason="no C compiler")

# A library with a constructor: loading it writes the file named by $PLANTED_MARKER.
PLANTED_C = textwrap.dedent("""
    #include <stdio.h>
    #include <stdlib.h>
    __attribute__((constructor)) static void planted(void) {
        const char *p = getenv("PLANTED_MARKER");
        if (p) { FILE *f = fopen(p, "w"); if (f) { fputs("ran", f); fclose(f); } }
    }
""")


def _status_in_fresh_process(env_dir: Path, marker: Path | None = None) -> tuple[bool, str]:
    """(kernels loaded?, status) from a new interpreter with ``$CONVOLAB_NATIVE_DIR`` = ``env_dir``."""
    code = (
        "from convolab.engine.native import build; print(build.library() is not None); print(build.status())"
    )
    env = {**os.environ, cache.ENV_DIR: str(env_dir), "PYTHONPATH": str(SRC)}
    env.pop(build.ENV_SWITCH, None)
    if marker is not None:
        env["PLANTED_MARKER"] = str(marker)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, f"the process died ({out.returncode}): {out.stderr[-2000:]}"
    loaded, status = out.stdout.strip().splitlines()
    return loaded == "True", status


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One real build (its library and sidecar), copied by the tests that need a populated cache."""
    folder = tmp_path_factory.mktemp("native-built")
    folder.chmod(0o700)
    loaded, status = _status_in_fresh_process(folder)
    if not loaded:
        pytest.skip(f"the kernels do not build here: {status}")
    return folder


def _copy_cache(built: Path, dest: Path) -> Path:
    dest.mkdir(mode=0o700)
    for f in built.glob("convolab-native-*"):
        shutil.copy2(f, dest / f.name)
    (lib,) = dest.glob("convolab-native-*.so")
    return lib


def _planted_library(tmp_path: Path) -> Path:
    src = tmp_path / "planted.c"
    src.write_text(PLANTED_C)
    out = tmp_path / "planted.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(src)], check=True, timeout=120)
    return out


@needs_cc
def test_a_truncated_library_is_rebuilt_not_loaded(built, tmp_path):
    lib = _copy_cache(built, tmp_path / "c")
    size = lib.stat().st_size
    with open(lib, "r+b") as f:
        f.truncate(4096)  # a full disk or a crash mid-copy: dlopen of this could SIGBUS
    loaded, status = _status_in_fresh_process(tmp_path / "c")
    assert loaded, status
    assert lib.stat().st_size == size and cache.verified(lib) is None  # rebuilt in place


@needs_cc
def test_a_planted_library_under_the_kernels_name_never_runs(built, tmp_path):
    lib = _copy_cache(built, tmp_path / "c")
    shutil.copy(_planted_library(tmp_path), lib)  # the predictable name, the sidecar of the real one
    marker = tmp_path / "ran"
    loaded, status = _status_in_fresh_process(tmp_path / "c", marker)
    assert not marker.exists(), "the planted library's code ran"
    assert loaded and cache.verified(lib) is None, status  # replaced by a real build


@needs_cc
def test_a_planted_library_with_a_forged_record_but_another_owner_never_runs(built, tmp_path):
    if os.getuid() != 0:
        pytest.skip("giving a file to another user needs root")
    lib = _copy_cache(built, tmp_path / "c")
    shutil.copy(_planted_library(tmp_path), lib)
    cache.record(lib)  # a sidecar that matches the planted file
    os.chown(lib, 65534, 65534)
    assert cache.verified(lib) == "not this user's, or writable by others"
    marker = tmp_path / "ran"
    loaded, status = _status_in_fresh_process(tmp_path / "c", marker)
    assert not marker.exists(), "the planted library's code ran"
    assert loaded, status


@needs_cc
@pytest.mark.parametrize("kind", ["folder", "fifo", "dangling link"])
def test_an_unreadable_library_is_never_opened(built, tmp_path, kind):
    lib = _copy_cache(built, tmp_path / "c")
    lib.unlink()
    if kind == "folder":
        lib.mkdir()  # as root, mode bits do not stop reading: names that cannot be read as a file
    elif kind == "fifo":
        os.mkfifo(lib)  # opening it would block for ever
    else:
        lib.symlink_to(tmp_path / "nowhere.so")
    assert cache.verified(lib) == "not a regular file"
    loaded, status = _status_in_fresh_process(tmp_path / "c")
    # the library is built again where the name can be replaced, else the next flag set's library
    # (another name) is built; where none can be, the PyTorch path runs: never a hang or a crash
    assert "\n" not in status
    assert f": {lib}" not in status or cache.verified(lib) is None
    assert loaded or status.endswith("the PyTorch path runs")


@needs_cc
@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_cache_folder_others_can_write_is_refused(tmp_path, mode, monkeypatch):
    folder = tmp_path / "c"
    folder.mkdir()
    folder.chmod(mode)
    monkeypatch.setenv(cache.ENV_DIR, str(folder))
    monkeypatch.delenv(build.ENV_SWITCH, raising=False)
    build.reset()
    try:
        assert build.library() is None
        assert "writable by others" in build.status() and build.status().endswith("the PyTorch path runs")
        assert not list(folder.iterdir())  # nothing was built there
    finally:
        build.reset()


@needs_cc
def test_a_cache_folder_under_a_folder_others_can_write_is_refused(tmp_path, monkeypatch):
    (tmp_path / "open").mkdir()
    (tmp_path / "open").chmod(0o777)  # no sticky bit: anyone may rename "c" away and put their own
    (tmp_path / "open" / "c").mkdir(mode=0o700)
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "open" / "c"))
    build.reset()
    try:
        assert build.library() is None and "above" in build.status(), build.status()
    finally:
        build.reset()


@needs_cc
def test_a_cache_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    if os.getuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    folder = tmp_path / "c"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    monkeypatch.setenv(cache.ENV_DIR, str(folder))
    build.reset()
    try:
        assert build.library() is None and "belongs to uid 65534" in build.status()
    finally:
        build.reset()


@pytest.mark.parametrize(
    ("value", "words"),
    [("~convolab-no-such-user/x", "~convolab-no-such-user"), ("{tmp}/no/such/nested", "does not exist")],
)
def test_a_bad_native_dir_is_one_line_and_creates_nothing(tmp_path, monkeypatch, value, words):
    monkeypatch.setenv(cache.ENV_DIR, value.format(tmp=tmp_path))
    build.reset()
    try:
        assert build.library() is None
        assert words in build.status() and "\n" not in build.status()
        assert not (tmp_path / "no").exists()  # a nested folder is not made
    finally:
        build.reset()


def test_a_new_native_dir_is_made_private(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "new"))
    assert cache.private_dir() == tmp_path / "new"
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700


def test_a_hanging_compiler_costs_seconds_not_minutes(tmp_path, monkeypatch):
    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\nexec sleep 600\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "c"))
    monkeypatch.setattr(build, "BUILD_DEADLINE_S", 1.0)
    monkeypatch.setattr(build, "VERSION_TIMEOUT_S", 0.5)
    build.reset()
    try:
        assert build.library() is None
        assert "build limit" in build.status() and build.status().endswith("the PyTorch path runs")
        assert not list((tmp_path / "c").glob("*.so"))
    finally:
        build.reset()


@needs_cc
def test_concurrent_first_builds_build_once_and_both_load(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir(mode=0o700)
    code = "from convolab.engine.native import build; print(build.library() is not None)"
    env = {**os.environ, cache.ENV_DIR: str(folder), "PYTHONPATH": str(SRC)}
    env.pop(build.ENV_SWITCH, None)
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert outs == ["True", "True"]
    assert len(list(folder.glob("convolab-native-*.so"))) == 1
    assert not list(folder.glob("tmp*.so"))  # no temporary file left
