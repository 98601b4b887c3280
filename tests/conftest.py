"""Shared test fixtures: the real data (tests/real_data.py), an isolated data search path, deterministic torch
settings; the skip limit of a set-up machine."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from real_data import FASHION_SYSTEM, MISSING, fashion_t10k, have_fashion
from skip_limit import pytest_sessionfinish, pytest_terminal_summary  # noqa: F401 (hooks: the skip limit)

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("MPLBACKEND", "Agg")
# TensorFlow (the Keras conformance and interop tests) with oneDNN on every CPU: TF turns it on by default
# only on some (not on AVX2-only AMD EPYCs), and its plain kernel refuses some layers (Conv2DTranspose
# with dilation > 1), which would leave those live comparisons skipped there. `make test` runs the
# conformance suite a second time with TF_ENABLE_ONEDNN_OPTS=0 (the plain kernel; an explicit value wins).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# A shell without job control starts background jobs with SIGINT ignored, and that is inherited by every
# process the tests start; the tests of Ctrl-C handling need the ordinary behaviour wherever they run.
signal.signal(signal.SIGINT, signal.default_int_handler)
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Hypothesis: deterministic by default and in CI ("ci": the same examples on every run and machine, no
# example database, the reproduction blob printed on failure); a larger random search for local runs
# with HYPOTHESIS_PROFILE=dev. Failures a search finds are pinned in the tests as @example(...).
# Tests that set their own max_examples keep them in both profiles.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, max_examples=100, **_COMMON)
settings.register_profile("dev", derandomize=False, print_blob=True, max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """No test leaks torch's thread count into the next (fit(threads=1), set_threads, the CLI's --threads
    all set it for the whole process; results that depend on the summation order would then depend on
    which tests ran before)."""
    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """Debian's Fashion-MNIST folder (both splits)."""
    if not have_fashion():
        pytest.skip(MISSING)
    return FASHION_SYSTEM


@pytest.fixture(scope="session")
def fashion_t10k_dir() -> Path:
    """A folder holding only Fashion-MNIST's test split (10,000 images), made from Debian's files."""
    if not have_fashion():
        pytest.skip(MISSING)
    return fashion_t10k()


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """No CONVOLAB_DATA, an empty user cache, no system folders: only what a test puts there."""
    from convolab.data import locations

    monkeypatch.delenv("CONVOLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(locations, "SYSTEM_DIRS", (tmp_path / "system",))
    return tmp_path


@pytest.fixture(scope="module")
def subpixel_kernel_at_any_channels():
    """The plan runs the subpixel C kernel only up to 16 input channels, where it measured no slower
    (``engine.phase_conv.SUBPIXEL_MAX_CHANNELS``); the kernel's own tests reach it at any channel count."""
    from convolab.engine import phase_conv

    before = phase_conv.SUBPIXEL_MAX_CHANNELS
    phase_conv.SUBPIXEL_MAX_CHANNELS = 1 << 20
    yield
    phase_conv.SUBPIXEL_MAX_CHANNELS = before
