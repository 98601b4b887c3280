"""No tracked file names a path of a particular machine (tests/machine_paths.py says which and why)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from machine_paths import CODE_NAMES, CODE_SUFFIXES, leaks

ROOT = Path(__file__).resolve().parents[1]
# The pattern file spells the patterns, and this file holds the leaks they must catch as test data.
OWN = {"tests/machine_paths.py", "tests/test_no_machine_paths.py"}
# Test files that hand hostile absolute paths to the product as data (they name no folder of ours).
HOSTILE_DATA = {"tests/test_keras_hostile.py"}


def tracked_files() -> list[str]:
    try:
        done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (an sdist or an installed copy): nothing tracked to check")
    return [name for name in done.stdout.decode().split("\0") if name]


def is_code(name: str) -> bool:
    return name.endswith(CODE_SUFFIXES) or Path(name).name in CODE_NAMES


def test_no_tracked_file_names_a_machine_path():
    names = tracked_files()
    assert "README.md" in names and len(names) > 100
    found = []
    for name in names:
        if name in OWN:
            continue
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # images and other binary files; a file deleted but not yet committed
        code = is_code(name) and not name.startswith("tests/")
        found += [f"{name}: {leak}" for leak in leaks(text, code=code)]
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        "PYTHONPATH=/work/h-cli/src",
        'candidates = ["/work/venv-tf/bin/python"]',
        "user cache /root/.cache/convolab/mnist",
        "cp x /home/alice/data",
        'Path(os.environ.get("X", ROOT.parent / "shared" / "data")) ../shared/data',
        "CONVOLAB_SHARED" + "_DATA=/x",
    ],
)
def test_the_patterns_catch_the_leaks_that_were_there(text):
    assert leaks(text)


def test_a_fixed_scratch_folder_is_refused_in_code_only():
    assert leaks("--json /tmp/w/speed.json", code=True) and not leaks("--json /tmp/w/speed.json")


@pytest.mark.parametrize(
    "text",
    [
        "/usr/share/datasets/fashion-mnist",  # Debian's documented place
        "~/datasets/fashion-t10k and ~/.cache/convolab",
        "a framework/ folder, homework/, src/convolab/work/, a shared file system",
        "tempfile.mkdtemp()",
        "/proc/self/environ",
    ],
)
def test_legitimate_paths_pass(text):
    assert leaks(text, code=True) == []
