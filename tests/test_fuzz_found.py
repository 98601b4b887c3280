"""Bugs the hostile-input suite (tests/fuzz) found, pinned: each a one-line ValueError, never a traceback."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
import zlib

import pytest
from PIL import Image

from convolab import limits
from convolab.data.dataset import parse_image_size
from convolab.limits import LimitError
from convolab.train.evaluation import load_image_files
from convolab.train.report import compare_runs, reconstruct


def _png(path, width: int, height: int) -> None:
    """A PNG whose header declares ``width x height`` gray pixels (a few bytes of data behind it)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


@pytest.mark.parametrize("side", [100_000, 10_000])  # over 2x Pillow's limit (an error), over 1x (a warning)
def test_image_files_over_the_bomb_limit_are_one_value_error(tmp_path, side) -> None:
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < side * side
    _png(tmp_path / "bomb.png", side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would be two more lines on stderr
        with pytest.raises(ValueError, match="decompression-bomb") as info:
            load_image_files([tmp_path / "bomb.png"], (1, 28, 28))
    assert "\n" not in str(info.value) and "bomb.png" in str(info.value)


def test_image_files_that_are_not_images_or_not_files(tmp_path) -> None:
    (tmp_path / "text.png").write_text("not an image\n")
    with pytest.raises(ValueError, match="not an image"):
        load_image_files([tmp_path / "text.png"], (1, 28, 28))
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ValueError, match="directory"):
        load_image_files([tmp_path / "dir.png"], (1, 28, 28))


def test_a_small_image_still_loads(tmp_path) -> None:
    Image.new("L", (8, 4), 255).save(tmp_path / "ok.png")
    x = load_image_files([tmp_path / "ok.png"], (1, 28, 28))
    assert tuple(x.shape) == (1, 1, 28, 28) and float(x.min()) == 1.0


@pytest.mark.parametrize("n", [0, -3])
def test_counts_below_one_are_refused_before_any_run_is_read(tmp_path, n) -> None:
    with pytest.raises(ValueError, match=f"--n must be >= 1, got {n}"):
        compare_runs([tmp_path / "missing"], n=n)
    with pytest.raises(ValueError, match=f"--n must be >= 1, got {n}"):
        reconstruct(tmp_path / "missing", tmp_path / "r.png", n=n)


def test_counts_above_the_figure_limit_are_refused_before_any_run_is_read(tmp_path) -> None:
    for call in (
        lambda n: compare_runs([tmp_path / "missing"], n=n),
        lambda n: reconstruct(tmp_path / "missing", tmp_path / "r.png", n=n),
    ):
        with pytest.raises(LimitError, match="--n"):
            call(10**9)
    assert not (tmp_path / "r.png").exists()


def test_a_resize_side_over_the_limit_is_refused_before_any_image_is_read() -> None:
    side = limits.MAX_RESIZE_SIDE
    assert parse_image_size(side) == (side, side)
    with pytest.raises(LimitError, match="MAX_RESIZE_SIDE"):
        parse_image_size(100_000)
    with pytest.raises(LimitError):
        parse_image_size((28, side + 1))


def test_lab_workers_bound_memory_under_a_hard_address_space_limit() -> None:
    """Under `ulimit -v` (a hard RLIMIT_AS) a worker's bound is clamped to it, not a ValueError."""
    code = (
        "import resource\n"
        "from convolab.lab.worker import _bound_memory, _vm_size\n"
        "hard = _vm_size() + (512 << 20)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (hard, hard))\n"
        "_bound_memory(2 << 30)\n"
        "got = resource.getrlimit(resource.RLIMIT_AS)\n"
        "assert got == (hard, hard), got\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize(
    "args",
    [["--timeout", "nan"], ["--timeout", "-1"], ["--timeout", "inf"], ["--retries", "1000000000000"]],
)
def test_data_fetch_refuses_bad_timeouts_and_retries_before_any_download(tmp_path, capsys, args) -> None:
    from convolab.cli import main

    assert main(["data", "fetch", "mnist", "--data-dir", str(tmp_path / "d"), *args]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("error:") and args[0] in err[0], err
    assert not (tmp_path / "d").exists()


def test_filter_refuses_more_kernels_than_the_limit_before_reading_the_image(tmp_path, capsys) -> None:
    from convolab.cli import main

    kernels = ["-k", "sobel_x"] * (limits.MAX_FILTER_KERNELS + 1)
    assert main(["filter", str(tmp_path / "missing.png"), *kernels, "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "kernels in one call" in err and len(err.strip().splitlines()) == 1


def test_filter2d_refuses_a_kernel_over_the_side_limit() -> None:
    import numpy as np

    from convolab.filters import filter2d
    from convolab.limits import MAX_FILTER_KERNEL_SIDE

    huge = np.broadcast_to(np.float32(1), (MAX_FILTER_KERNEL_SIDE + 2, 20_000))  # 1.5 GiB as float64
    with pytest.raises(LimitError, match="MAX_FILTER_KERNEL_SIDE"):
        filter2d(np.zeros((8, 8)), huge)


def test_compare_refuses_more_runs_than_the_limit_before_loading_any(tmp_path) -> None:
    with pytest.raises(LimitError, match="runs to compare"):
        compare_runs([tmp_path / "missing"] * (limits.MAX_COMPARE_RUNS + 1))


@pytest.mark.parametrize("field", ["epochs", "workers"])
def test_train_config_counts_have_an_upper_limit(field) -> None:
    from convolab.train.config import TrainConfig

    cap = getattr(limits, f"MAX_{field.upper()}")
    TrainConfig(**{field: cap}).validate()
    with pytest.raises(ValueError, match=f"{field} must be <= "):
        TrainConfig(**{field: 10**20}).validate()


@pytest.mark.parametrize("kind", ["dir", "fifo"])
def test_read_idx_refuses_what_is_not_a_regular_file(tmp_path, kind) -> None:
    import os

    from convolab.data.idx import read_idx

    path = tmp_path / "x-idx3-ubyte"
    path.mkdir() if kind == "dir" else os.mkfifo(path)  # a FIFO without a writer: open() would block
    with pytest.raises(ValueError, match="not a regular file"):
        read_idx(path)


# --- the API contract for wrong types and bad paths (issue 12: decided, see docs/fuzz.md) -------------


@pytest.mark.parametrize("value", [None, 42])
def test_load_spec_of_a_wrong_type_is_one_type_error_naming_the_argument(value) -> None:
    import convolab

    with pytest.raises(TypeError) as info:
        convolab.load_spec(value)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("a spec must be") and msg.endswith(f"got {value!r}")


def test_load_image_of_a_missing_path_or_a_folder_is_one_os_error_naming_the_path(tmp_path) -> None:
    import convolab

    with pytest.raises(FileNotFoundError) as info:
        convolab.load_image(tmp_path / "missing.png")
    assert "\n" not in str(info.value) and str(tmp_path / "missing.png") in str(info.value)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(IsADirectoryError) as err:
        convolab.load_image(tmp_path / "dir.png")
    assert "\n" not in str(err.value) and str(tmp_path / "dir.png") in str(err.value)


def test_an_unknown_checkpoint_name_is_refused_naming_the_choices(tmp_path) -> None:
    from convolab.train.checkpoint import resolve_checkpoint

    (tmp_path / "run" / "last").mkdir(parents=True)
    (tmp_path / "run" / "last" / "state.json").write_text("{}")
    assert resolve_checkpoint(tmp_path / "run", "best") == tmp_path / "run" / "last"  # the fallback stays
    with pytest.raises(ValueError, match="unknown checkpoint 'middle': choose 'best' or 'last'"):
        resolve_checkpoint(tmp_path / "run", "middle")


def _tiny_state(tmp_path, **edit):
    """A saved checkpoint (``state.json`` edited by ``edit``; a None value deletes the field)."""
    import json

    from convolab.model.sequential import Sequential
    from convolab.train import checkpoint as ck

    spec = {"name": "t", "input_shape": [1, 4, 4], "layers": [{"type": "Flatten"}]}
    state = {
        "spec": spec,
        "config": {},
        "epoch": 1,
        "step": 0,
        "global_step": 3,
        "rng": ck.rng_state(),
        "history": [{"epoch": 1, "train_loss": 0.5, "val": {"bce": 0.4}, "seconds": 1.0}],
    }  # noqa: E501
    path = ck.save_checkpoint(tmp_path / "last", weights=Sequential.from_spec(spec).state_dict(), state=state)
    data = json.loads((path / ck.STATE_FILE).read_text())
    for key, value in edit.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    (path / ck.STATE_FILE).write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("history", "needle"),
    [
        ([{"epoch": "x"}], "entry 0: 'epoch' = 'x': must be an integer"),
        ([{"seconds": 1.0}], "entry 0: 'epoch' = None"),
        ([{"epoch": 1, "val": "x"}], "entry 0: 'val' = 'x'"),
        ([{"epoch": 1, "train_loss": "x"}], "entry 0: 'train_loss' = 'x'"),
        ([{"epoch": 1, "seconds": -1}], "'seconds' = -1"),
    ],
)
def test_history_entries_are_checked_field_by_field(tmp_path, history, needle) -> None:
    from convolab.train.checkpoint import load_state

    path = _tiny_state(tmp_path, history=history)
    with pytest.raises(ValueError) as info:
        load_state(path)
    msg = str(info.value)
    assert "\n" not in msg and needle in msg and "state.json: history = " in msg


def test_a_state_without_its_rng_is_refused_to_resume_but_still_evaluates(tmp_path) -> None:
    from convolab.train.checkpoint import load_state
    from convolab.train.state_checks import check_resumable

    path = _tiny_state(tmp_path, rng=None)
    state = load_state(path)  # evaluate and export read it: the RNG state is not needed there
    assert "rng" not in state
    with pytest.raises(ValueError, match=r"state\.json: rng is missing: .* cannot be resumed"):
        check_resumable(state, path / "state.json")
    with pytest.raises(ValueError, match="has no 'torch' state"):
        check_resumable({**state, "rng": {}}, path / "state.json")
    check_resumable(load_state(_tiny_state(tmp_path / "ok")), path / "state.json")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused_naming_file_and_tensor(tmp_path, bad) -> None:
    from convolab.model.sequential import Sequential
    from convolab.train.checkpoint import check_weights

    spec = {
        "name": "t",
        "input_shape": [1, 4, 4],
        "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 2}],
    }
    model = Sequential.from_spec(spec)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    check_weights(model, weights, tmp_path / "best")
    name = sorted(weights)[-1]
    weights[name].view(-1)[0] = bad
    with pytest.raises(ValueError) as info:
        check_weights(model, weights, tmp_path / "best")
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path / "best" / "model.safetensors") in msg
    assert f"tensor {name!r} holds 1 NaN or infinite values" in msg


def test_resume_of_a_foreign_folder_takes_no_lock_in_it(tmp_path) -> None:
    from convolab.train.session import resume

    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"mine": true}\n')
    with pytest.raises(ValueError, match="unknown train config field"):
        resume(tmp_path / "foreign")
    assert sorted(p.name for p in (tmp_path / "foreign").iterdir()) == ["config.json"]


@pytest.mark.parametrize("name", ["best", "last"])
def test_resume_refuses_a_symlinked_checkpoint_before_touching_the_run(tmp_path, name) -> None:
    from convolab.train.session import resume

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}\n")
    (tmp_path / "elsewhere").mkdir()
    (run / name).symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ValueError, match="symbolic link"):
        resume(run)
    assert sorted(p.name for p in run.iterdir()) == sorted(["config.json", name])
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "list", "--data-dir"],
        ["data", "verify", "mnist", "--data-dir"],
        ["data", "show", "mnist", "--data-dir"],
        ["data", "fetch", "mnist", "--data-dir"],
        ["lab", "--runs"],
        ["lab", "--data-dir"],
    ],
)
def test_a_folder_option_refuses_a_pipe(tmp_path, capsys, argv) -> None:
    """click's ``file_okay=False`` checks regular files only: a FIFO passed and hung or listed nothing."""
    import os

    from convolab.cli import main

    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    assert main([*argv, str(fifo)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("error:") and "is not a folder" in err[0], err
