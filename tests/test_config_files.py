"""Issue 26, items 1, 2 and 4: ``--config`` files as hostile as the CLI's own inputs, and a start that
checks everything before it creates its run folder (each a one-line refusal naming the field and
value, exit 2, nothing written). The fuzz suite (tests/fuzz, category "config files") runs the same
inputs under its memory and time bounds; these pin the examples of the issue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from convolab.cli import main
from convolab.train import TrainConfig
from convolab.train.config import ConfigError
from train_support import write_dataset, write_spec

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """cwd = ``tmp_path`` holding ``tiny.json`` and ``data/`` (a 32-image ``folder:`` dataset)."""
    monkeypatch.chdir(tmp_path)
    write_dataset(tmp_path / "data", n_train=32, n_test=16)
    write_spec(tmp_path)
    return tmp_path


TRAIN = [
    "train",
    "--model",
    "tiny.json",
    "--dataset",
    "folder:data",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--device",
    "cpu",
    "-q",
    "--no-figures",
]
NOWHERE = "is a symbolic link that leads nowhere"
BASE = "model: tiny.json\ndataset: folder:data\nepochs: 1\nbatch_size: 16\ndevice: cpu\nout: out\n"


def _one_error_line(capsys, code) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


def _written(root: Path) -> list[str]:
    """Everything under ``root`` but the test's own inputs (the data, the specs, the config)."""
    names = (str(p.relative_to(root)) for p in root.rglob("*"))
    return sorted(n for n in names if not n.startswith(("data", "tiny")) and n != "cfg.yaml")


# -- item 1: values are never format strings --------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"lr": {"a": 1}}, "lr must be a positive number <= 10, got {'a': 1}"),
        ({"loss": "{field}{0}"}, "loss must be one of bce, mse, got '{field}{0}'"),
        ({"device": {"x": 1}}, "device must be a string, got {'x': 1}"),
        ({"stream": "{}"}, "stream must be one of auto, on, off, got '{}'"),
        ({"epochs": 10**400}, "epochs must be <= 100,000 (limits), got an integer of about 401 digits"),
    ],
)
def test_a_value_with_braces_is_shown_not_formatted(kw, message) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(**kw).validate()
    assert str(info.value) == message
    field = next(iter(kw))
    assert info.value.render(f"--{field}") == message.replace(field, f"--{field}", 1)


def test_config_error_render_fills_markers_in_one_pass() -> None:
    exc = ConfigError("lr", "{field} got {value}", value="{field}")
    assert str(exc) == "lr got '{field}'" and exc.render("--lr") == "--lr got '{field}'"


# -- item 1: reading a config file: a regular file, bounded, never blocking ---------------------------------
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_as_config_is_refused_unread_under_a_memory_limit(device) -> None:
    """Before: /dev/zero grew to 3.1 GB; /dev/urandom took 21 s. Under a 512 MiB address-space limit."""
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20)); "
        "from convolab.train.config import TrainConfig\n"
        f"try:\n    TrainConfig.from_file({device!r})\nexcept ValueError as e:\n    print('refused:', e)"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (
        out.stdout.strip()
        == f"refused: config file {device} is not a regular file (a device); give a YAML/JSON file"
    )


def test_a_fifo_as_config_is_refused_without_opening_it(tmp_path) -> None:
    """Before: a FIFO with no writer hung for ever. Here a writer waits to feed a valid config to whoever
    opens the FIFO: the refusal must come without the FIFO ever being opened for reading."""
    fifo = tmp_path / "cfg.yaml"
    os.mkfifo(fifo)
    stop, fed = threading.Event(), []

    def writer() -> None:
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until a reader opens it
            except OSError:
                time.sleep(0.02)
                continue
            os.write(fd, b"epochs: 1\n")
            os.close(fd)
            fed.append(True)
            return

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        with pytest.raises(ValueError, match=r"cfg.yaml is not a regular file \(a pipe\)"):
            TrainConfig.from_file(fifo)
    finally:
        stop.set()
        t.join()
    assert not fed


def test_a_folder_and_an_oversized_file_are_refused(tmp_path) -> None:
    (tmp_path / "d.yaml").mkdir()
    with pytest.raises(ValueError, match=r"not a regular file \(a folder\)"):
        TrainConfig.from_file(tmp_path / "d.yaml")
    (tmp_path / "big.yaml").write_text("# " + "x" * (1 << 20) + "\nepochs: 1\n")
    with pytest.raises(ValueError, match="is over 1048576 bytes"):
        TrainConfig.from_file(tmp_path / "big.yaml")


# -- item 1: keys and path fields ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1: 2\n", "error: a train config's field names are strings; got 1 (int)"),
        ("3: x\nnope: 1\n", "error: a train config's field names are strings; got 3 (int)"),
        ("out: 5\n", "error: --out must be a path (a string), got 5"),
        ("data_dir: [a]\n", "error: --data-dir must be a path (a string), got ['a']"),
        ("seed: 1000000000000000000000000000000\n",
         "error: --seed must be <= 9,223,372,036,854,775,807 (limits), got 1000000000000000000000000000000"),
        ('out: "a\\0b"\n', "error: --out must not contain a NUL byte, got 'a\\x00b'"),
        ("out: dangling\n", f"error: --out 'dangling' {NOWHERE} (No such file or directory)"),
        ("out: loop\n", f"error: --out 'loop' {NOWHERE} (Too many levels of symbolic links)"),
        ("out: ''\n", "error: --out must be a folder path, got an empty string ''"),
    ],
)  # fmt: skip
def test_config_file_fields_are_named_in_one_line(tiny, capsys, text, message) -> None:
    (tiny / "dangling").symlink_to("nowhere/at/all")
    (tiny / "loop").symlink_to("loop")
    (tiny / "cfg.yaml").write_text(BASE.replace("out: out\n", "") + text)
    assert _one_error_line(capsys, main(["train", "--config", "cfg.yaml", "-q", "--no-figures"])) == message
    assert _written(tiny) == ["dangling", "loop"]


# -- item 2: everything checkable is checked before the run folder exists -------------------------------
BATCH = "--batch-size must be <= 1,000,000,000,000 (limits)"


@pytest.mark.parametrize(
    ("args", "text", "needle"),
    [
        (["--batch-size", "1000000000000000000000"], "", BATCH),
        ([], "batch_size: 1000000000000000000000\n", BATCH),
        ([], "extra: {blob: !!binary aGVsbG8=}\n",
         "extra must hold JSON data (strings, numbers, lists, mappings): Object of type bytes is not JSON "
         "serializable"),
        ([], "extra: {when: 2024-01-01}\n", "Object of type date is not JSON serializable"),
        ([], "extra: !!set {a, b}\n", "extra must be a mapping of notes, got {"),
    ],
)  # fmt: skip
def test_a_start_that_cannot_run_writes_nothing(tiny, capsys, args, text, needle) -> None:
    """Before: config.json, log.jsonl and tensorboard/ written before the overflow; a folder with only
    ``.lock`` after 'not JSON serializable'."""
    (tiny / "cfg.yaml").write_text(BASE.replace("batch_size: 16\n", "") + text)
    assert needle in _one_error_line(
        capsys, main(["train", "--config", "cfg.yaml", "-q", "--no-figures", *args])
    )
    assert _written(tiny) == []


def test_a_model_whose_output_does_not_match_the_data_is_refused_before_the_folder(tiny, capsys) -> None:
    """Before: PyTorch's 'Target size ... must be the same as input size' after the run folder existed."""
    spec = json.loads((tiny / "tiny.json").read_text())
    spec["layers"][-1]["filters"] = 3
    (tiny / "tiny3.json").write_text(json.dumps(spec))
    line = _one_error_line(capsys, main([*TRAIN, "--model", "tiny3.json", "--loss", "mse", "--out", "out"]))
    assert line == (
        "error: model 'tiny3.json' outputs shape (3, 8, 8) but trains to reconstruct the dataset's images "
        "(1, 8, 8); its last layer must give the images' channels and size"
    )
    assert not (tiny / "out").exists()


def test_a_start_that_fails_after_its_folder_removes_what_it_wrote(tiny, monkeypatch) -> None:
    from convolab.train import session

    def broken(model):
        raise ValueError("model_info failed (test)")

    monkeypatch.setattr(session, "model_info", broken)
    with pytest.raises(ValueError, match="model_info failed"):
        session.start(
            TrainConfig(
                model="tiny.json", dataset="folder:data", epochs=1, batch_size=16, device="cpu", out="out"
            ),
            quiet=True,
        )
    assert not (tiny / "out").exists()
    (tiny / "mine").mkdir()
    with pytest.raises(ValueError, match="model_info failed"):  # an empty folder of the user's stays empty
        session.start(
            TrainConfig(
                model="tiny.json", dataset="folder:data", epochs=1, batch_size=16, device="cpu", out="mine"
            ),
            quiet=True,
        )
    assert (tiny / "mine").is_dir() and not any((tiny / "mine").iterdir())


# -- item 2: a folder left by a failed start never blocks the next try -----------------------------------
def _lock_only(out: Path) -> None:
    out.mkdir()
    (out / ".lock").write_text("12345\n")


def _config_and_log(out: Path) -> None:
    out.mkdir()
    cfg = TrainConfig(
        model="tiny.json", dataset="folder:data", epochs=1, batch_size=16, device="cpu", out="out"
    )
    (out / "config.json").write_text(json.dumps(cfg.to_dict()))
    (out / "log.jsonl").write_text('{"kind": "start"}\n')
    (out / "tensorboard").mkdir()


@pytest.mark.parametrize("left", [_lock_only, _config_and_log])
def test_the_folder_of_a_failed_start_is_reused(tiny, capsys, left) -> None:
    left(tiny / "out")
    assert main([*TRAIN, "--out", "out"]) == 0, capsys.readouterr().err
    assert (tiny / "out" / "summary.json").is_file() and (tiny / "out" / "last").is_dir()


def test_a_failed_start_folder_in_use_or_holding_other_files_is_not_reused(tiny, capsys) -> None:
    from convolab.train.runfolder import RunLock

    _config_and_log(tiny / "out")
    lock = RunLock(tiny / "out").acquire()  # a run in its first epoch looks the same, and holds the lock
    try:
        assert "is in use by another convolab process" in _one_error_line(
            capsys, main([*TRAIN, "--out", "out"])
        )
    finally:
        lock.release()
    assert sorted(p.name for p in (tiny / "out").iterdir()) == [
        ".lock",
        "config.json",
        "log.jsonl",
        "tensorboard",
    ]
    (tiny / "mine").mkdir()
    (tiny / "mine" / ".lock").write_text("1\n")
    (tiny / "mine" / "notes.txt").write_text("kept\n")
    assert "already exists" in _one_error_line(capsys, main([*TRAIN, "--out", "mine"]))


# -- item 4: accepted but wrong ---------------------------------------------------------------------------
def test_summary_refuses_a_batch_over_the_limit(capsys) -> None:
    line = _one_error_line(
        capsys, main(["summary", "seed-upsampling", "--batch", "999999999999999999999999999999"])
    )
    assert line == "error: --batch is 1e+30, over the limit of 1e+12"
    from convolab import analyze

    with pytest.raises(ValueError, match="batch is 1e"):
        analyze("seed-upsampling", batch=10**30)
    assert analyze("seed-upsampling", batch=10**12).batch == 10**12


def test_train_refuses_an_empty_out(tiny, capsys) -> None:
    assert (
        _one_error_line(capsys, main([*TRAIN, "--out", ""]))
        == "error: --out must be a folder path, got an empty string ''"
    )
    assert not (tiny / "runs").exists()


def test_data_show_refuses_a_data_dir_without_the_dataset(tmp_path, capsys, fashion_dir, monkeypatch) -> None:
    """Before: Fashion-MNIST was read from the system folder and the grid written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emptydata").mkdir()
    args = ["data", "show", "fashion-mnist", "--split", "test", "--no-download", "-o", "grid.png"]
    code = main([*args, "--data-dir", "emptydata"])
    line = _one_error_line(capsys, code)
    assert "emptydata" in line and "t10k-images-idx3-ubyte" in line and str(fashion_dir) not in line
    assert not (tmp_path / "grid.png").exists()
    assert main([*args, "--data-dir", str(fashion_dir)]) == 0
