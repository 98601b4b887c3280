"""Hostile inputs to the Python API (issue 26 item 3), each pinned: one ``ValueError`` naming the argument
and the value, nothing written, checked before any copy. The same inputs run in the hostile suite
(tests/fuzz/cases.py, category "Python API") under its 1 GiB address-space limit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import convolab
from convolab.limits import MAX_ARRAY_BYTES, MAX_STATE_BYTES, LimitError
from train_support import TINY_SPEC

FAST = dict(epochs=1, batch_size=16, device="cpu", quiet=True, figures=False)


def _fit(tmp_path: Path, x, **options):
    options = {**FAST, "out": str(tmp_path / "run"), **options}
    try:
        convolab.fit(TINY_SPEC, x, **options)
    finally:
        assert not (tmp_path / "run").exists()  # nothing written, whatever happened


def _images(n: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, size=(n, 8, 8), dtype=np.uint8)


def test_a_broadcast_array_is_refused_from_its_shape_before_any_copy(tmp_path, monkeypatch):
    x = np.broadcast_to(np.uint8(7), (10**6, 28, 28))  # 784 MB as uint8, 3.1 GB as float32; no memory
    seed = convolab.Sequential.from_spec("seed-upsampling")
    copies = []
    monkeypatch.setattr(np, "ascontiguousarray", lambda *a, **k: copies.append(a) or 1 / 0)
    big = r"the training images \(1000000, 28, 28\) as float32 needs 2\.9 GiB, over the limit of 1\.0 GiB"
    with pytest.raises(LimitError, match=big):
        convolab.fit(seed, x, out=str(tmp_path / "run"), **FAST)
    with pytest.raises(LimitError, match=r"^x \(1000000, 28, 28\) as float32 needs 2\.9 GiB"):
        seed.predict(x)
    assert copies == [] and not (tmp_path / "run").exists()
    assert MAX_ARRAY_BYTES == 1 << 30  # the limit the messages above name


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.zeros(32, 8, 8, device="meta"), r"the training images: a 'meta' tensor holds no data"),
        (torch.zeros(32, 8, 8).to_sparse(), r"training images: a torch\.sparse_coo tensor; pass a dense one"),
        (
            np.ma.masked_array(_images(), mask=_images() > 100),
            r"training images: a masked array \(convolab would ignore its mask\); pass x\.filled\(value\)",
        ),
        (np.zeros((32, 8, 8), np.complex64), r"numeric array of images, got dtype complex64"),
    ],
    ids=["meta", "sparse", "masked", "complex"],
)
def test_arrays_without_plain_data_are_refused(tmp_path, x, message):
    with pytest.raises(ValueError, match=message) as info:
        _fit(tmp_path, x)
    assert "\n" not in str(info.value)


def test_a_masked_validation_set_is_refused_too(tmp_path):
    x = _images()
    with pytest.raises(ValueError, match="validation_data: a masked array"):
        _fit(tmp_path, x, validation_data=np.ma.masked_array(x, mask=x > 100))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"out": 5}, r"option 'out' must be a folder path \(str or Path\), got int 5"),
        ({"data_dir": ["a"]}, r"option 'data_dir' must be a folder path \(str or Path\), got list \['a'\]"),
        ({"lr": {"a": 1}}, r"option 'lr' must be a number or a string, got dict \{'a': 1\}"),
        ({"device": {"a": 1}}, r"option 'device' must be a number or a string, got dict \{'a': 1\}"),
        ({"epochs": [1, 2]}, r"option 'epochs' must be a number or a string, got list \[1, 2\]"),
        ({"extra": 3}, r"option 'extra' must be a dict, got int 3"),
        ({"restore_best_weights": "yes"}, r"restore_best_weights must be True or False, got 'yes'"),
    ],
    ids=["out-int", "data_dir-list", "lr-dict", "device-dict", "epochs-list", "extra-int", "restore-str"],
)
def test_option_values_of_the_wrong_kind_name_the_option(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        _fit(tmp_path, _images(), **options)


def test_out_as_a_path_object_works(tmp_path):
    run = convolab.fit(TINY_SPEC, _images(), out=tmp_path / "p", **FAST)
    assert run.path == tmp_path / "p"


def test_a_folder_dataset_that_cannot_be_listed_is_one_line(tmp_path, monkeypatch):
    from convolab.data import folder

    data = tmp_path / "data" / "a"
    data.mkdir(parents=True)

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(folder, "_images_in", denied)
    message = rf"folder dataset {tmp_path / 'data'}: cannot read .*: Permission denied"
    with pytest.raises(ValueError, match=message):
        convolab.fit(TINY_SPEC, f"folder:{tmp_path / 'data'}", out=str(tmp_path / "run"), **FAST)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not os.path.isdir("/proc/1"), reason="needs Linux's /proc")
def test_folder_proc_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="folder dataset /proc"):
        convolab.fit(TINY_SPEC, "folder:/proc", out=str(tmp_path / "run"), **FAST)
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "run"
    convolab.fit(TINY_SPEC, _images(), out=str(out), **FAST)
    return out


def test_a_state_json_over_the_cap_is_refused_reading_at_most_the_cap(small_run, tmp_path, monkeypatch):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    state = run / "best" / "state.json"
    text = state.read_text()
    state.write_text(text.rstrip()[:-1] + ', "pad": "' + "x" * MAX_STATE_BYTES + '"}')  # JSON, over the cap
    assert json.loads(state.read_text())["pad"]  # (the oracle: it parses)
    reads = []
    real_open = open

    class Spy:  # the opened state.json, counting what is read of it
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            return getattr(self.f, name)

        def read(self, n=-1):
            reads.append(n)
            return self.f.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def spy(path, *a, **k):
        f = real_open(path, *a, **k)
        return Spy(f) if str(path).endswith("state.json") else f

    monkeypatch.setattr("builtins.open", spy)
    with pytest.raises(ValueError, match=r"state\.json is over 32 MiB \(limits\.MAX_STATE_BYTES\)"):
        convolab.load_run(run)
    assert reads == [MAX_STATE_BYTES + 1]  # one bounded read, never the whole file
    monkeypatch.undo()
    state.write_text(text)
    assert convolab.load_run(run).path == run  # the same folder with its own state loads
