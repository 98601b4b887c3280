"""`convolab train` streaming a folder dataset from disk: the same batches as the in-memory fast path.

The streamed path reads the very images of the in-memory batches in the same order (both take them from
convolab.train.batchorder), turns them into floats with the same operations, and draws the same noise, so on
one CPU process the weights are equal bitwise (torch.equal), not merely close. Validation/test metrics
are summed per chunk (and with --noise use per-chunk noise seeds), so they agree to float tolerance.
"""

from __future__ import annotations

import pytest
import torch

from convolab import train as tr
from convolab.cli import main
from convolab.data import load_dataset, train_val_split
from convolab.train.batchorder import epoch_permutation, rank_order
from convolab.train.checkpoint import load_checkpoint
from convolab.train.folder_source import FolderSource
from convolab.train.sources import TensorSource
from convolab.train.streaming import ImageFolderStream, split_indices
from train_support import tiny_config, write_dataset, write_spec

BATCH = 13  # 144 training images: 11 full batches and a short one of 1


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream_train")
    write_dataset(path / "data")
    return path


def _cfg(root, name, **kw):
    kw = {"batch_size": BATCH, "out": str(root / name), "workers": 0, **kw}
    return tiny_config(root, **kw)


def _weights(run):
    return load_checkpoint(run / "last", with_optimizer=False)


@pytest.fixture(scope="module")
def in_memory(root):
    return tr.train(_cfg(root, "memory", stream="off", noise=0.1), quiet=True, figures=False)


def test_rank_order_is_each_ranks_share_of_every_global_batch():
    p = epoch_permutation(10, 0, 0).tolist()
    # global batches of 4 (2 ranks x 2): p[0:4], p[4:8], p[8:10]; rank 1 takes the second half of each
    assert rank_order(10, 0, 0, 2, 2, 1).tolist() == p[2:4] + p[6:8] + p[9:10]
    assert rank_order(10, 0, 0, 2, 2, 0).tolist() == p[0:2] + p[4:6] + p[8:9]
    assert rank_order(10, 0, 0, 4, 1, 0).tolist() == p


def test_split_indices_hold_out_what_train_val_split_does(root):
    ds = load_dataset(f"folder:{root / 'data'}")
    train, val = train_val_split(ds, 0.1, seed=3)
    tr_idx, val_idx = split_indices(len(ds), 0.1, 3)
    assert torch.equal(ds.images[tr_idx], train.images) and torch.equal(ds.images[val_idx], val.images)


def test_streamed_training_equals_in_memory_bitwise(root, in_memory):
    trainer = tr.start(_cfg(root, "stream", stream="on", noise=0.1), quiet=True)
    assert isinstance(trainer.source, FolderSource) and trainer.steps_per_epoch() == 12
    result = trainer.fit()
    tr.draw_figures(trainer)  # the caller draws, after fit()
    ref, got = _weights(in_memory.run_dir), _weights(result.run_dir)
    for k, w in ref.weights.items():
        assert torch.equal(got.weights[k], w), k
    for a, b in zip(got.state["history"], ref.state["history"], strict=True):
        assert a["train_loss"] == b["train_loss"]  # the same losses, summed in the same order
    assert result.summary["streamed"] and result.summary["n_eval"] == in_memory.summary["n_eval"]
    assert result.summary["baseline"] == pytest.approx(in_memory.summary["baseline"], rel=1e-6)
    assert (result.run_dir / "reconstructions.png").is_file() and (
        result.run_dir / "latent_pca.png"
    ).is_file()


def test_streamed_validation_matches_without_noise(root):
    mem = tr.train(_cfg(root, "m0", stream="off", epochs=1), quiet=True, figures=False)
    st = tr.train(_cfg(root, "s0", stream="on", epochs=1, workers=2), quiet=True, figures=False)
    assert st.history[0]["val"] == pytest.approx(mem.history[0]["val"], rel=1e-6)
    assert st.summary["metrics"] == pytest.approx(mem.summary["metrics"], rel=1e-6)
    for k, w in _weights(mem.run_dir).weights.items():  # workers=2: the same batches, in order
        assert torch.equal(_weights(st.run_dir).weights[k], w), k


def test_streamed_resume_after_a_kill_mid_epoch_is_exact(root, in_memory, monkeypatch):
    cfg = _cfg(root, "killed", stream="on", noise=0.1, checkpoint_every=5)
    trainer = tr.start(cfg, quiet=True)
    calls = {"n": 0}
    step = trainer.step_fn

    # the process "dies" at step 17: steps 16-17 are lost, `last` is step 15
    def dying_step(x, target, **kw):
        calls["n"] += 1
        if calls["n"] == 17:
            raise RuntimeError("killed")
        return step(x, target, **kw)

    trainer.step_fn = dying_step
    with pytest.raises(RuntimeError, match="killed"):
        trainer.fit()
    state = _weights(trainer.run_dir).state
    assert (state["epoch"], state["step"]) == (1, 3)  # mid-epoch 2: global step 15 = 12 + 3
    resumed = tr.resume(trainer.run_dir, quiet=True)
    assert (
        isinstance(resumed.source, FolderSource) and resumed.baseline is not None
    )  # baseline kept, not recomputed
    resumed.fit()
    ref = _weights(in_memory.run_dir)
    for k, w in ref.weights.items():
        assert torch.equal(_weights(trainer.run_dir).weights[k], w), k


def test_auto_streams_only_a_folder_over_the_budget(root):
    small = tr.start(_cfg(root, "a1", stream="auto"), quiet=True)
    tiny_budget = tr.start(_cfg(root, "a2", stream="auto", memory_budget=1e-6), quiet=True)
    small.log.close(), tiny_budget.log.close()
    assert isinstance(small.source, TensorSource) and isinstance(
        tiny_budget.source, FolderSource
    )  # 48 KB fits; 1 KiB does not


def test_odd_sized_image_is_named(tmp_path):
    from PIL import Image

    write_dataset(tmp_path, n_train=4, n_test=1)
    Image.new("L", (9, 8)).save(tmp_path / "train" / "b" / "zzz.png")  # width 9, height 8
    ds = ImageFolderStream(tmp_path)
    with pytest.raises(ValueError, match="zzz.png is 8x9 but the first image is 8x8"):
        ds[len(ds) - 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "-1"], "--workers must be an integer >= 0, got -1"),
        (["--stream", "on", "--dataset", "mnist"], "--stream on: dataset 'mnist' is loaded into memory"),
        (["--memory-budget", "0"], "--memory-budget must be a positive number of GiB, got 0.0"),
    ],
)
def test_bad_streaming_options_are_one_line(tmp_path, capsys, args, message):
    spec = write_spec(tmp_path)
    dataset = write_dataset(tmp_path / "d", n_train=20, n_test=4)
    code = main(["train", "--model", str(spec), "--dataset", dataset, "--out", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


class _SignalDispositions(torch.utils.data.Dataset):
    """Each item: whether SIGINT and SIGTERM are ignored in the process that reads it."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> torch.Tensor:
        import signal

        return torch.tensor([signal.getsignal(s) == signal.SIG_IGN for s in (signal.SIGINT, signal.SIGTERM)])


def test_workers_leave_stop_signals_to_the_trainer():
    from convolab.train.streaming import chunk_loader, make_loader

    kw = {"rank": 0, "world_size": 1, "workers": 1}
    batches = [*make_loader(_SignalDispositions(), batch_size=2, seed=0, epoch=0, **kw)]
    batches += [b for _, b in zip(*chunk_loader(_SignalDispositions(), chunk=2, **kw), strict=True)]
    assert all(bool(b.all()) for b in batches) and len(batches) == 2


def test_ctrl_c_to_the_process_group_saves_with_workers_running(tmp_path):
    """Ctrl-C reaches the DataLoader workers too: they leave it to the trainer, which saves and exits 130.

    (Forked workers also inherit the trainer's handler; under spawn/forkserver, Python 3.14's default,
    only ``_ignore_stop_signals`` keeps them alive: the test above checks it directly.)"""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    spec, dataset = write_spec(tmp_path), write_dataset(tmp_path / "data", n_train=600, n_test=8)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "convolab",
        "train",
        "--model",
        str(spec),
        "--dataset",
        dataset,
        "--epochs",
        "3",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--stream",
        "on",
        "--workers",
        "2",
        "--checkpoint-every",
        "5",
        "--checkpoint-seconds",
        "0",
        "--quiet",
        "--no-figures",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if json.loads((out / "last" / "state.json").read_text())["global_step"] >= 5:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-2000:]
    assert "SIGINT: stopped and saved" in err and "Traceback" not in err
    assert main(["train", "--resume", str(out), "--quiet", "--no-figures"]) == 0
    assert (out / "summary.json").is_file()
