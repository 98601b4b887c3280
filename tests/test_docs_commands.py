"""Every documented command is true (issue 16, item 5): each `$ convolab ...` line in a fenced block of
README.md and docs/*.md runs, and succeeds, or fails exactly as documented.

A command whose next line in the block starts with `error:` is documented to fail: it must exit 2 with
one `error:` line that starts as the documented one does (up to the first machine-specific part). Any
other command must exit 0. Commands run in-process (`convolab.cli.main`), in a scratch folder, offline
(proxies pointed at a closed port, an empty user cache), on the data a user has: Debian's Fashion-MNIST
(`make data`), and the docs' `~/datasets/fashion-t10k` (its test split alone), with the sizes capped by
``SUBSTITUTIONS``. Commands that cannot run here are listed in ``NOT_RUN`` with the reason and not
collected (they are not skips: a test fails when a listed command is no longer in the docs, so the list
cannot go stale).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convolab.cli import main
from real_data import MISSING, fashion_t10k, have_fashion

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# (pattern, replacement, why): applied in order to each command line before it runs. {t10k}, {tmp}
# are filled in per run. Only sizes and places change: the options a reader types stay the same.
SUBSTITUTIONS: list[tuple[str, str, str]] = [
    (r"~/datasets/fashion-t10k", "{t10k}", "the docs' folder of Fashion-MNIST's test split alone"),
    (r"/tmp/fashion-png", "{tmp}/fashion-png", "a small folder: dataset made by the fixture"),
    (r"/tmp/bf16/", "{tmp}/bf16/", "an absolute --out, moved into the scratch folder"),
    (r"--epochs \d+", "--epochs 1", "one epoch is enough to show that the command works"),
    (r"--limit \d+", "--limit 512", "a few hundred images instead of thousands"),
]

# command line as documented (comment removed) -> why it is not run here
NOT_RUN: dict[str, str] = {
    "convolab lab --runs runs/": "serves until Ctrl-C; tests/test_lab_server.py starts a real server",
    "convolab lab --runs /tmp/labdocs/runs --port 8765": "serves until Ctrl-C; tests/test_lab_server.py",
    "convolab import-keras seed-upsampling.keras -o runs/keras-ae --dataset fashion-mnist": (
        "needs a Keras model saved by TensorFlow (tests/test_keras_import.py imports hand-made files, "
        "tests/test_keras_conformance.py TensorFlow's own)"
    ),
    "convolab evaluate runs/keras-ae": "needs the imported Keras run above",
    "convolab reconstruct runs/keras-ae -o recon.png --dataset fashion-mnist --n 8": "needs the Keras run",
    "convolab summary runs/keras-ae/spec.yaml": "needs the imported Keras run above",
    "convolab import-keras seed-upsampling.weights.h5 -o runs/x": "needs a weights file saved by Keras",
    "convolab import-keras seed-upsampling.weights.h5 --spec seed-upsampling -o runs/keras-ae-w --dataset "
    "fashion-mnist": "needs a weights file saved by Keras",
    "convolab import-keras lambda.keras -o runs/bad": (
        "a hostile file; tests/test_keras_hostile.py makes it and checks this refusal"
    ),
    "convolab import-keras traversal.keras -o runs/bad": "a hostile file; tests/test_keras_hostile.py",
    "convolab import-keras truncated.h5 -o runs/bad": "a hostile file; tests/test_keras_hostile.py",
    "convolab export runs/keras-ae --format onnx -o keras-ae.onnx": (
        "needs the Keras run above; tests/test_export.py exports a trained run to ONNX"
    ),
    "convolab export runs/keras-ae --format torchscript -o keras-ae.pt": "needs the Keras run above",
}

# files some commands read, as the docs describe them
BAD_YAML = """\
name: bad
input_shape: [1, 28, 28]
layers:
  - {type: Conv2D, name: enc_conv1, filters: 8, kernel_size: 3, padding: same, activation: relu}
  - {type: MaxPool2D, name: enc_pool1, pool_size: 2}
  - {type: UpSampling2D, name: dec_up1, size: 2}
  - {type: Conv2D, name: dec_conv1, filters: 1, kernel_size: 0, padding: same, activation: sigmoid}
"""
K_JSON = (
    '{"name": "k", "input_shape": [1, 2, 2], "layers": [{"type": "Conv2D", "filters": 1, '
    '"kernel_size": 3, "padding": "valid"}]}'
)


@dataclass(frozen=True)
class Documented:
    where: str  # file:line
    line: str  # the command as documented, without the `$ ` and a trailing comment
    error: str | None  # the documented error line, when the command is documented to fail


def documented_commands() -> list[Documented]:
    found = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        fenced = False
        for i, raw in enumerate(lines):
            text = raw.strip()
            if text.startswith("```"):
                fenced = not fenced
                continue
            if not (fenced and text.startswith("$ convolab")):
                continue
            command = " ".join(shlex.split(text[2:], comments=True))
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            error = following if following.startswith("error:") else None
            found.append(Documented(f"{path.relative_to(ROOT)}:{i + 1}", command, error))
    return found


COMMANDS = documented_commands()


def test_the_docs_have_commands_and_every_not_run_entry_is_still_documented():
    lines = {c.line for c in COMMANDS}
    assert len(COMMANDS) > 40
    assert set(NOT_RUN) <= lines, sorted(set(NOT_RUN) - lines)


def _write_png_folder(folder: Path, n_train: int = 96, n_test: int = 32) -> None:
    """A `folder:` dataset of 28x28 grey images in two classes (train/ and test/)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            d = folder / split / "ab"[i % 2]
            d.mkdir(parents=True, exist_ok=True)
            img = rng.integers(0, 40, size=(28, 28)).astype(np.uint8)
            r, c = rng.integers(0, 20, size=2)
            img[r : r + 8, c : c + 8] = 220 if i % 2 else 120
            Image.fromarray(img, mode="L").save(d / f"{i:04d}.png")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The scratch folder the commands run in, with the files the docs' commands read."""
    tmp = tmp_path_factory.mktemp("docs-commands")
    (tmp / "docs" / "images").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "images" / "camera.png", tmp / "docs" / "images" / "camera.png")
    (tmp / "bad.yaml").write_text(BAD_YAML)
    (tmp / "k.json").write_text(K_JSON)
    _write_png_folder(tmp / "fashion-png")
    return tmp


def _wide_png(path: Path, size: tuple[int, int], mode: str) -> None:
    Image.new(mode, size).save(path)


# documented line -> what it needs here beyond the workspace (made just before it runs)
SETUP = {
    "convolab filter wide.png -k box -o out.png": lambda tmp: _wide_png(
        tmp / "wide.png", (89_000_000, 1), "L"
    ),
    "convolab filter wide.png --lecture -o panel.png": lambda tmp: _wide_png(
        tmp / "wide.png", (30_000, 1000), "RGB"
    ),
}


def _needs(line: str) -> str | None:
    """Why a command cannot run on this machine (a missing dataset), or None."""
    if ("fashion" in line or "mnist" in line) and not have_fashion():
        return MISSING
    return None


# docs/speed.md: where the CPU has no native bfloat16, `--amp bf16` stops with this line (documented there)
BF16_REFUSED = "error: --amp 'bf16' needs native bfloat16 (a CPU with AVX-512/AMX bf16, or a GPU with bf16)"


def _documented_error(doc: Documented, line: str) -> str | None:
    """The error line this command must end with on this machine (None: it must succeed)."""
    if doc.error is None and "--amp bf16" in line:
        from convolab.engine.device import bf16_supported

        return None if bf16_supported("cpu") else BF16_REFUSED
    return doc.error


def substitute(line: str, tmp: Path) -> str:
    for pattern, replacement, _why in SUBSTITUTIONS:
        t10k = fashion_t10k() if have_fashion() else tmp / "no-fashion-t10k"
        line = re.sub(pattern, replacement.format(tmp=tmp, t10k=t10k), line)
    return line


def _comparable(error: str) -> str:
    """The documented error up to its first machine-specific part (a path, a number of this machine)."""
    cut = len(error)
    for marker in ("~/", "/tmp/", "/usr/", "(found in", "tried "):
        if marker in error:
            cut = min(cut, error.index(marker))
    return error[:cut].rstrip()


@contextlib.contextmanager
def _port_in_use(port: int):
    """Hold ``port`` (for the documented 'a second one on the same port'); no-op if it is taken already."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        yield
    finally:
        sock.close()


RUN = [c for c in COMMANDS if c.line not in NOT_RUN]


@pytest.mark.parametrize("doc", RUN, ids=[c.where for c in RUN])
def test_documented_command(doc, workspace, monkeypatch, capsys):
    line = substitute(doc.line, workspace)
    if (why := _needs(line)) is not None:
        pytest.skip(why)
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("CONVOLAB_DATA", str(workspace / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(workspace / "cache"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):  # offline: no download starts
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    if doc.line in SETUP:
        SETUP[doc.line](workspace)
    argv = shlex.split(line)[1:]
    port = re.search(r"--port (\d+)", line)
    with _port_in_use(int(port.group(1))) if port and doc.error else contextlib.nullcontext():
        rc = main(argv)
    out, err = capsys.readouterr()
    error = _documented_error(doc, line)
    if error is None:
        assert rc == 0, f"{doc.where}: `{line}` exited {rc}: {err.strip()[-2000:]}"
        return
    assert rc == 2, f"{doc.where}: `{line}` exited {rc}, documented to fail: {error}\n{out}\n{err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    expected = _comparable(error)
    assert lines[0].startswith(expected), f"{doc.where}: documented\n  {error}\ngot\n  {lines[0]}"
