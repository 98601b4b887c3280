"""convolab.threads: set_threads validates and sets torch + OpenMP/MKL; the default follows idle cores."""

from __future__ import annotations

import os

import pytest

from convolab import threads


@pytest.fixture
def restore_threads(monkeypatch):
    import torch

    before = torch.get_num_threads()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(var, os.environ.get(var, "1"))  # monkeypatch restores the variables
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_check_threads_refuses_non_positive_and_non_ints(bad):
    with pytest.raises(ValueError, match=r"threads must be an integer from 1 to \d+"):
        threads.check_threads(bad)


def test_check_threads_bounds_at_four_per_cpu():
    top = (os.cpu_count() or 1) * threads.MAX_THREADS_PER_CORE
    assert threads.check_threads(top) == top
    with pytest.raises(ValueError, match=f"got {top + 1}"):
        threads.check_threads(top + 1)


def test_set_threads_sets_torch_and_the_environment(restore_threads):
    import torch

    assert threads.set_threads(1) == 1
    assert torch.get_num_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "1"
    n = min(2, (os.cpu_count() or 1) * threads.MAX_THREADS_PER_CORE)
    assert threads.set_threads(n) == n and torch.get_num_threads() == n
    assert os.environ["OPENBLAS_NUM_THREADS"] == str(n)


@pytest.mark.parametrize(
    ("cores", "load", "expected"),
    [
        (8, 0.2, 8),
        (8, 1.6, 6),
        (2, 0.3, 2),
        (2, 3.1, 1),
        (2, 1.0, 1),
        (4, 1.5, 3),
        (16, None, 16),
        (2, 0.9, 1),
    ],
)
def test_default_is_the_idle_cores_where_proc_is_missing(monkeypatch, cores, load, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_cpu_count", lambda: cores)
    monkeypatch.setattr(threads, "_procs_running", lambda: None)
    monkeypatch.setattr(threads, "_load_average", lambda: load)
    assert threads.default_threads() == expected


@pytest.mark.parametrize(
    ("cores", "running", "expected"),
    [
        # right after another job ended: the load average is still high, nothing runs now -> every core
        (2, [1, 1, 1, 1, 1, 1], 2),
        (8, [1, 2, 1, 1, 1, 1], 8),
        # one competing busy process per core (+ ourselves) -> one thread, never more than the idle cores
        (2, [3, 3, 3, 3, 3, 3], 1),
        (2, [3, 3, 2, 3, 3, 3], 1),
        (4, [3, 3, 3, 3, 3, 3], 2),
        (2, [9, 9, 9, 9, 9, 9], 1),
        # a blip in one sample does not decide: the median of the samples does
        (2, [1, 1, 1, 3, 1, 1], 2),
    ],
)
def test_default_counts_what_runs_now_not_the_load_average(monkeypatch, cores, running, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_cpu_count", lambda: cores)
    samples = iter(running)
    monkeypatch.setattr(threads, "_procs_running", lambda: next(samples))
    monkeypatch.setattr(threads, "_own_running", lambda: 1)
    monkeypatch.setattr(threads, "_load_average", lambda: 5.0)  # stale: a job that just ended
    monkeypatch.setattr(threads, "SAMPLE_GAP_S", 0.0)
    assert threads.default_threads() == expected


def test_procs_running_is_read_and_counts_this_process():
    if not os.path.exists("/proc/stat"):
        pytest.skip("no /proc (not Linux)")
    running = threads._procs_running()
    assert running is not None and running >= 1  # at least this process, which is reading it
    assert threads._own_running() >= 1
    assert 1 <= threads.default_threads() <= threads._cpu_count()


def test_default_keeps_an_explicit_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setattr(threads, "_load_average", lambda: 100.0)
    assert threads.default_threads() == 3


def test_threads_option_one_line_error_and_applied(capsys, restore_threads, tmp_path):
    import torch

    from convolab.cli import main

    assert main(["kernels", "--help"]) == 0  # kernels computes nothing worth threads: no option
    assert "--threads" not in capsys.readouterr().out
    assert main(["filter", "--threads", "0", "-k", "box", "-o", str(tmp_path / "o.png"), "x.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Invalid value for '--threads': threads must be")
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "in.png")
    assert (
        main(
            ["filter", str(tmp_path / "in.png"), "-k", "box", "--threads", "1", "-o", str(tmp_path / "o.png")]
        )
        == 0
    )
    assert torch.get_num_threads() == 1
