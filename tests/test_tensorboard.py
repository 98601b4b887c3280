"""TensorBoard event files of a run (issue 16, item 4), read back with tensorboard's own reader.

The tests that need the ``tensorboard`` package skip cleanly without it (the ``tensorboard`` extra).
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from convolab.cli import main
from convolab.train import session, tblog
from convolab.train.loop import Trainer
from convolab.train.runfolder import read_log
from train_support import tiny_config

needs_tb = pytest.mark.skipif(not tblog.available(), reason="tensorboard is not installed (extra)")


def _accumulator(run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / tblog.FOLDER), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def _scalars(acc, tag: str) -> list[tuple[int, float]]:
    return [(s.step, s.value) for s in acc.Scalars(tag)]


def _f32(x: float) -> float:
    return float(np.float32(x))


def _expected(run: Path) -> tuple[dict[int, float], dict[int, dict]]:
    """log.jsonl's step losses by global step and epoch records by epoch (the last of a replayed one)."""
    log = read_log(run / "log.jsonl")
    steps = {r["global_step"]: r["loss"] for r in log if r["kind"] == "step"}
    epochs = {r["epoch"]: r for r in log if r["kind"] == "epoch"}
    return steps, epochs


def _check_against_log(run: Path, acc) -> None:
    steps, epochs = _expected(run)
    assert _scalars(acc, "step/train_loss") == [(s, _f32(v)) for s, v in sorted(steps.items())]
    assert _scalars(acc, "step/lr") == [(s, _f32(1e-2)) for s in sorted(steps)]
    for name in ("train_loss", "seconds", "images_per_second"):
        assert _scalars(acc, f"epoch/{name}") == [(e, _f32(r[name])) for e, r in sorted(epochs.items())]
    for metric in ("bce", "mse", "psnr", "ssim"):
        expected = [(e, _f32(r["val"][metric])) for e, r in sorted(epochs.items())]
        assert _scalars(acc, f"epoch/val_{metric}") == expected, metric


@needs_tb
def test_events_match_the_log_and_show_reconstructions_and_the_graph(tmp_path):
    trainer = session.start(tiny_config(tmp_path, epochs=2), quiet=True)
    run = trainer.fit().run_dir
    acc = _accumulator(run)
    _check_against_log(run, acc)
    assert len(_scalars(acc, "step/train_loss")) == 2 * trainer.steps_per_epoch() // 2  # log every 2
    images = acc.Images("reconstructions")
    assert [im.step for im in images] == [1, 2]
    # 8 validation images of 8x8 side by side: originals over reconstructions
    assert {(im.width, im.height) for im in images} == {(8 * tblog.IMAGES, 2 * 8)}
    png = Image.open(io.BytesIO(images[-1].encoded_image_string))
    assert png.size == (64, 16) and png.mode == "L"
    pixels = np.asarray(png) / 255.0
    first = trainer.source.val_x[0, 0].numpy()  # the first validation image is the top-left tile
    assert np.abs(pixels[:8, :8] - first).max() <= 0.5 / 255 + 1e-6
    graph = acc.Graph()
    assert [n.op for n in graph.node] == ["Input", "Conv2D", "MaxPool2D", "UpSampling2D", "Conv2D"]
    assert list(graph.node[2].input) == ["00_enc_conv"]
    shape = [d.size for d in graph.node[1].attr["_output_shapes"].list.shape[0].dim]
    assert shape == [-1, 4, 8, 8] and graph.node[1].attr["params"].i == 40


@needs_tb
def test_denoising_run_shows_the_noisy_input_row(tmp_path):
    result = session.train(tiny_config(tmp_path, epochs=1, noise=0.3), quiet=True, figures=False)
    images = _accumulator(result.run_dir).Images("reconstructions")
    assert [(im.step, im.width, im.height) for im in images] == [(1, 64, 24)]


@needs_tb
def test_resume_after_a_kill_past_the_checkpoint_does_not_duplicate_steps(tmp_path, monkeypatch):
    """A kill after epoch 1's checkpoint left events of epoch 2 on disk; the resumed run replays epoch 2."""
    snapshot = tmp_path / "snapshot"
    save = Trainer.save

    def save_and_copy(self, *which):
        path = save(self, *which)
        if self.epoch == 1 and self.step == 0 and not snapshot.exists():
            shutil.copytree(path, snapshot)  # `last` after epoch 1: what a kill later would leave
        return path

    monkeypatch.setattr(Trainer, "save", save_and_copy)
    run = session.train(tiny_config(tmp_path, epochs=2), quiet=True, figures=False).run_dir
    monkeypatch.setattr(Trainer, "save", save)
    before = _accumulator(run)
    full = {tag: _scalars(before, tag) for tag in ("step/train_loss", "epoch/val_bce")}
    # the state of a run killed during epoch 2: last = epoch 1, events of epoch 2 written, no summary
    shutil.rmtree(run / "last")
    shutil.copytree(snapshot, run / "last")
    (run / "summary.json").unlink()
    trainer = session.resume(run, quiet=True)
    trainer.fit()
    after = _accumulator(run)
    for tag, values in full.items():
        assert _scalars(after, tag) == values, tag  # each step once, the replayed values the same
    assert [im.step for im in after.Images("reconstructions")] == [1, 2]
    assert len(list((run / tblog.FOLDER).glob("*tfevents*"))) == 2  # one file per session
    assert sum(1 for r in read_log(run / "log.jsonl") if r["kind"] == "epoch") == 3  # the JSONL keeps both


@needs_tb
def test_truncate_drops_a_torn_tail_and_later_steps(tmp_path):
    events = tblog.EventFile(tmp_path)
    from tensorboard.compat.proto.summary_pb2 import Summary

    for step in (2, 4, 6):
        value = Summary.Value(tag="step/train_loss", simple_value=float(step))
        events.write(events.Event(step=step, summary=Summary(value=[value])))
    events.write(events.Event(step=1, summary=Summary(value=[Summary.Value(tag="epoch/x", simple_value=1)])))
    events.close()
    with open(events.path, "ab") as fh:
        fh.write(b"\x10\x00\x00")  # a record cut short by a kill
    assert tblog.read_events(events.path)[1] is True
    assert tblog.truncate(tmp_path, global_step=4, epochs=0) == 2  # step 6 and epoch 1
    kept, torn = tblog.read_events(events.path)
    assert not torn and [e.step for e in kept] == [0, 2, 4]


def test_only_rank_0_writes_and_off_means_off():
    for ctx, wanted in ((SimpleNamespace(is_main=False), True), (SimpleNamespace(is_main=True), False)):
        trainer = SimpleNamespace(ctx=ctx, tensorboard=wanted)
        assert isinstance(tblog.open_events(trainer), tblog.NullEvents)


def test_no_tensorboard_flag_writes_no_events(tmp_path, capsys):
    config = tiny_config(tmp_path, epochs=1)
    args = [
        "train",
        "--model",
        config.model,
        "--dataset",
        config.dataset,
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
        "--no-tensorboard",
        "--quiet",
        "--no-figures",
    ]
    assert main(args) == 0
    assert (tmp_path / "run" / "summary.json").exists() and not (tmp_path / "run" / tblog.FOLDER).exists()


def test_asking_for_tensorboard_without_the_package_is_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tblog, "available", lambda: False)
    assert main(["train", "--tensorboard", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "pip install 'convolab[tensorboard]'" in err
    assert not (tmp_path / "run").exists()


def _free_port() -> int | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    except OSError:
        return None


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as answer:  # 127.0.0.1 only: no network
        return json.loads(answer.read())


@needs_tb
def test_tensorboard_logdir_serves_the_run(tmp_path):
    """`tensorboard --logdir RUN` starts, lists the run and serves its scalars; then it is stopped."""
    run = session.train(tiny_config(tmp_path, epochs=1), quiet=True, figures=False).run_dir
    port = _free_port()
    if port is None:
        pytest.skip("cannot bind a local port")
    cmd = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(run),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--reload_interval",
        "1",
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/data"
    try:
        tags: dict = {}
        for _ in range(600):  # the server and its first load of the logs (polling, no time bound)
            if server.poll() is not None:
                err = server.stderr.read().decode(errors="replace") if server.stderr else ""
                if "could not bind" in err.lower() or "address already in use" in err.lower():
                    pytest.skip(f"tensorboard could not bind port {port}")
                pytest.fail(f"tensorboard exited with {server.returncode}: {err[-2000:]}")
            try:
                if tblog.FOLDER in _get(f"{base}/runs"):
                    tags = _get(f"{base}/plugin/scalars/tags").get(tblog.FOLDER, {})
                    if "epoch/val_bce" in tags:
                        break
            except OSError:
                pass
            time.sleep(0.5)
        assert "step/train_loss" in tags and "epoch/val_bce" in tags, tags
        points = _get(f"{base}/plugin/scalars/scalars?run={tblog.FOLDER}&tag=epoch/val_bce")
        logged = [r for r in read_log(run / "log.jsonl") if r["kind"] == "epoch"]
        assert [(p[1], p[2]) for p in points] == [(1, _f32(logged[0]["val"]["bce"]))]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()


def test_a_broken_tensorboard_install_skips_events_with_a_logged_reason(monkeypatch):
    def broken(trainer):
        raise ImportError("cannot import name 'event_pb2'")

    monkeypatch.setattr(tblog, "available", lambda: True)
    monkeypatch.setattr(tblog, "RunEvents", broken)
    written = []
    log = SimpleNamespace(write=lambda kind, **fields: written.append((kind, fields)))
    trainer = SimpleNamespace(ctx=SimpleNamespace(is_main=True), tensorboard=None, log=log)
    assert isinstance(tblog.open_events(trainer), tblog.NullEvents)
    reason = "ImportError: cannot import name 'event_pb2'"
    assert written == [("tensorboard", {"events": "skipped", "reason": reason})]
    trainer.tensorboard = True  # asked for explicitly: a clear error instead
    with pytest.raises(ValueError, match="does not import"):
        tblog.open_events(trainer)


@needs_tb
def test_two_processes_write_one_event_file_from_rank_0(tmp_path):
    """Under torchrun (--nproc 2) only rank 0 writes: one file, whose scalars equal log.jsonl's."""
    from test_distributed import dist_env
    from train_support import write_dataset, write_spec

    spec, dataset = write_spec(tmp_path), write_dataset(tmp_path / "data", n_train=64, n_test=16)
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "convolab",
        "train",
        "--nproc",
        "2",
        "--model",
        str(spec),
        "--dataset",
        dataset,
        "--batch-size",
        "8",
        "--lr",
        "0.01",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        str(run),
        "--quiet",
        "--no-figures",
        "--log-every",
        "2",
        "--tensorboard",
    ]
    proc = subprocess.run(cmd, env=dist_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((run / tblog.FOLDER).glob("*tfevents*"))) == 1
    _check_against_log(run, _accumulator(run))
