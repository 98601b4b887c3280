"""load_dataset on the real files: resolution order, verification, splits, conversions."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import time
import zlib
from pathlib import Path

import pytest
import torch

from convolab.data import (
    ChecksumError,
    DatasetNotFoundError,
    ImageDataset,
    convert_images,
    dataset_status,
    get_spec,
    load_dataset,
    locations,
    resolve,
    split_indices,
    train_val_split,
)
from real_data import FASHION_TEST_COUNTS, T10K

# published (zalandoresearch/fashion-mnist, README): the names of labels 0..9
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def touch_split(folder: Path, names=T10K) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")
    return folder


# --- resolution order ------------------------------------------------------------------------


def test_resolution_order(isolated, monkeypatch):
    system = touch_split(isolated / "system" / "mnist")
    assert resolve("mnist", split="test") == system
    cache = touch_split(isolated / "xdg" / "convolab" / "mnist")
    assert resolve("mnist", split="test") == cache
    env = touch_split(isolated / "env" / "mnist")
    monkeypatch.setenv("CONVOLAB_DATA", str(isolated / "env"))
    assert resolve("mnist", split="test") == env
    explicit = touch_split(isolated / "explicit")
    assert resolve("mnist", explicit, split="test") == explicit
    nested = touch_split(isolated / "root" / "mnist")
    assert resolve("mnist", isolated / "root", split="test") == nested
    assert resolve("mnist") is None  # the train split is nowhere
    assert resolve("kmnist", split="test") is None


def test_user_cache_default_and_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert locations.user_cache_root() == tmp_path / ".cache" / "convolab"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert locations.user_cache_root() == tmp_path / "x" / "convolab"


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match="did you mean fashion-mnist"):
        get_spec("fashion_mnist")


# --- a folder holding only the test split (Fashion-MNIST's, from Debian's files) ----------------


def test_test_split_from_data_dir(isolated, fashion_t10k_dir):
    ds = load_dataset("fashion-mnist", "test", data_dir=fashion_t10k_dir, download=False)
    assert isinstance(ds, ImageDataset) and len(ds) == 10000
    assert ds.images.dtype == torch.uint8 and ds.images.shape == (10000, 1, 28, 28)
    assert ds.labels.dtype == torch.int64 and torch.bincount(ds.labels).tolist() == FASHION_TEST_COUNTS
    assert ds.classes == FASHION_CLASSES and ds.source == fashion_t10k_dir
    x = ds.float()
    assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) == 1.0


def test_test_split_via_convolab_data(isolated, monkeypatch, fashion_t10k_dir):
    shutil.copytree(fashion_t10k_dir, isolated / "env" / "fashion-mnist")
    monkeypatch.setenv("CONVOLAB_DATA", str(isolated / "env"))
    assert len(load_dataset("fashion-mnist", "test", download=False, limit=7)) == 7


def test_train_with_only_t10k_says_so(isolated, fashion_t10k_dir):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", "train", data_dir=fashion_t10k_dir, download=False)
    msg = str(info.value)
    assert "\n" not in msg and msg == info.value.one_line()
    assert f"only the test split of fashion-mnist is in {fashion_t10k_dir}" in msg
    assert "--split test" in msg and "train_val_split" in msg
    assert f"--data-dir {fashion_t10k_dir} (has only the test split)" in msg
    assert "CONVOLAB_DATA" in msg and "convolab data fetch fashion-mnist" in msg
    assert "tried:" in info.value.details()


def test_train_with_only_t10k_names_another_dataset_found_offline(isolated, monkeypatch, fashion_dir):
    # kmnist is asked for; Debian's Fashion-MNIST is the offline alternative the message names
    monkeypatch.setattr(locations, "SYSTEM_DIRS", (fashion_dir.parent,))
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("kmnist", "train", download=False)
    msg = str(info.value)
    assert f"fashion-mnist is available offline (found in {fashion_dir}): use --dataset fashion-mnist" in msg


def test_checksum_mismatch_is_refused(isolated, fashion_t10k_dir):
    bad = isolated / "bad"
    shutil.copytree(fashion_t10k_dir, bad)
    labels = bytearray(gzip.decompress((bad / T10K[1]).read_bytes()))
    labels[100] = (labels[100] + 1) % 10  # a valid IDX file with one wrong label
    (bad / T10K[1]).write_bytes(gzip.compress(bytes(labels)))
    with pytest.raises(
        ChecksumError, match="t10k-labels-idx1-ubyte.gz is not the published fashion-mnist file"
    ):
        load_dataset("fashion-mnist", "test", data_dir=bad, download=False)
    assert dataset_status("fashion-mnist", bad).state == "MISMATCH"


def test_gunzipped_copy_verifies_by_content(isolated, fashion_t10k_dir):
    raw = isolated / "raw"
    raw.mkdir()
    for n in T10K:
        (raw / n[:-3]).write_bytes(gzip.decompress((fashion_t10k_dir / n).read_bytes()))
    ds = load_dataset("fashion-mnist", "test", data_dir=raw, download=False, limit=3)
    assert ds.images.shape == (3, 1, 28, 28)
    st = dataset_status("fashion-mnist", raw)
    assert st.state == "verified" and {v.how for v in st.files} == {"sha256+md5 of content"}


def test_status_of_t10k(isolated, fashion_t10k_dir):
    st = dataset_status("fashion-mnist", fashion_t10k_dir)
    assert (st.folder, st.where, st.splits) == (fashion_t10k_dir, "--data-dir", ["test"])
    assert st.state == "verified"
    # Debian recompresses the .gz files: their MD5 is not the published one of the archive
    # (bef4ecab320f06d8554ea6380940ec79, zalandoresearch/fashion-mnist), so they verify by content.
    md5 = hashlib.md5((fashion_t10k_dir / T10K[0]).read_bytes()).hexdigest()
    assert md5 != "bef4ecab320f06d8554ea6380940ec79"
    assert {v.how for v in st.files} == {"sha256+md5 of content"}
    assert dataset_status("fashion-mnist").state == "missing"  # isolated: nothing elsewhere


def test_limit_resize_and_colour(isolated, fashion_t10k_dir):
    ds = load_dataset(
        "fashion-mnist",
        "test",
        data_dir=fashion_t10k_dir,
        download=False,
        limit=4,
        image_size=32,
        color="rgb",
    )
    # oracle: the first four labels read from the IDX bytes by hand (8-byte header)
    first = gzip.decompress((fashion_t10k_dir / T10K[1]).read_bytes())[8:12]
    assert ds.images.shape == (4, 3, 32, 32) and ds.labels.tolist() == list(first)
    with pytest.raises(ValueError, match="limit"):
        load_dataset("fashion-mnist", "test", data_dir=fashion_t10k_dir, limit=0)
    with pytest.raises(ValueError, match="split"):
        load_dataset("fashion-mnist", "validation", data_dir=fashion_t10k_dir)


# --- Fashion-MNIST from Debian's package -----------------------------------------------------


def test_fashion_mnist_system_folder(monkeypatch, tmp_path, fashion_dir):
    monkeypatch.delenv("CONVOLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load_dataset("fashion-mnist", "test", download=False, limit=1)  # warm the page cache
    t0 = time.perf_counter()
    ds = load_dataset("fashion-mnist", "train", download=False)
    elapsed = time.perf_counter() - t0
    # Reference in the same process: bare inflate of the same file (machines here are shared).
    compressed = (fashion_dir / "train-images-idx3-ubyte.gz").read_bytes()
    t0 = time.perf_counter()
    zlib.decompress(compressed, 31)
    inflate = time.perf_counter() - t0
    assert ds.source == fashion_dir and ds.images.shape == (60000, 1, 28, 28)
    assert torch.bincount(ds.labels).tolist() == [6000] * 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    # ~0.35 s on an idle machine; under load, at most twice a bare inflate of the images file.
    assert elapsed < max(1.0, 2.0 * inflate), f"load took {elapsed:.2f} s, inflate {inflate:.2f} s"
    test = load_dataset("fashion-mnist", "test", download=False)
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    st = dataset_status("fashion-mnist")
    assert st.state == "verified" and st.splits == ["train", "test"] and len(st.files) == 4


# --- ImageDataset, splits, conversions -------------------------------------------------------


def small(n=10, c=1) -> ImageDataset:
    images = torch.arange(n * c * 4, dtype=torch.int64).remainder(256).to(torch.uint8).view(n, c, 2, 2)
    return ImageDataset("toy", "train", images, torch.arange(n) % 3, ["a", "b", "c"], "memory")


def test_train_val_split_is_deterministic_and_disjoint():
    ds = small(100)
    ds.labels = torch.arange(100)  # labels identify samples
    tr, va = train_val_split(ds, 0.2, seed=3)
    tr2, va2 = train_val_split(ds, 0.2, seed=3)
    assert len(tr) == 80 and len(va) == 20 and (tr.split, va.split) == ("train:train", "train:val")
    assert torch.equal(va.labels, va2.labels) and torch.equal(tr.labels, tr2.labels)
    assert sorted(tr.labels.tolist() + va.labels.tolist()) == list(range(100))
    assert not torch.equal(train_val_split(ds, 0.2, seed=4)[1].labels, va.labels)
    assert torch.equal(va.images, ds.images[va.labels])
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="val_fraction"):
            train_val_split(ds, bad)


def test_split_indices_are_train_val_split_s():
    # training from arrays and the lab's "seen in training" marks index with these directly
    ds = small(37)
    ds.labels = torch.arange(37)
    for fraction, seed in ((0.2, 3), (0.5, 0), (0.05, 11)):
        tr, va = train_val_split(ds, fraction, seed=seed)
        tr_idx, va_idx = split_indices(37, fraction, seed=seed)
        assert torch.equal(tr_idx, tr.labels) and torch.equal(va_idx, va.labels)
    with pytest.raises(ValueError, match="leaves an empty train or validation part"):
        split_indices(3, 0.1)


def test_dataset_methods_and_validation():
    ds = small(6)
    assert len(ds) == 6 and ds.image_shape == (1, 2, 2)
    sub = ds.subset([5, 0])
    assert sub.labels.tolist() == [2, 0] and torch.equal(sub.images[1], ds.images[0])
    assert len(ds.subset(slice(0, 4, 2))) == 2
    assert torch.allclose(ds.float()[0, 0], ds.images[0, 0].float() / 255)
    with pytest.raises(ValueError, match="subset indices"):
        ds.subset([6])
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset("x", "train", torch.zeros(2, 1, 2, 2), None, None, "m")
    with pytest.raises(ValueError, match="labels"):
        ImageDataset("x", "train", torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(3), None, "m")


def test_convert_images_literals():
    red = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    red[:, 0] = 255
    assert convert_images(red, color="gray").unique().tolist() == [76]  # round(0.299 * 255)
    gray = torch.full((2, 1, 3, 3), 9, dtype=torch.uint8)
    rgb = convert_images(gray, color="rgb")
    assert rgb.shape == (2, 3, 3, 3) and rgb.unique().tolist() == [9]
    big = convert_images(gray, image_size=(5, 7))
    assert big.shape == (2, 1, 5, 7) and big.unique().tolist() == [9]  # constant stays constant
    assert convert_images(gray, image_size=3) is gray
    with pytest.raises(ValueError, match="color"):
        convert_images(gray, color="cmyk")
    with pytest.raises(ValueError, match="image_size"):
        convert_images(gray, image_size=0)


def test_data_dir_with_another_datasets_files_is_passed_over(isolated, fashion_t10k_dir):
    # MNIST, Fashion-MNIST and KMNIST share file names: the label checksums tell them apart. A
    # --data-dir is the only place looked in (issue 26): one holding another dataset is refused, never
    # replaced by another copy, and nothing is downloaded over its files.
    assert resolve("fashion-mnist", fashion_t10k_dir, split="test") == fashion_t10k_dir
    before = {f.name: f.stat().st_mtime_ns for f in fashion_t10k_dir.iterdir()}
    for other, download in (("mnist", True), ("kmnist", False)):
        with pytest.raises(
            DatasetNotFoundError, match=f"{fashion_t10k_dir} \\(holds fashion-mnist, not {other}\\)"
        ):
            load_dataset(other, "test", data_dir=fashion_t10k_dir, download=download)
    assert {f.name: f.stat().st_mtime_ns for f in fashion_t10k_dir.iterdir()} == before


def test_missing_data_dir_and_read_only_download_folder(isolated, monkeypatch):
    with pytest.raises(ValueError, match="is not a directory"):
        load_dataset("mnist", "test", data_dir=isolated / "typo")
    ro = isolated / "ro"
    ro.mkdir()
    monkeypatch.setattr(locations.os, "access", lambda path, mode: False)  # as for a non-root user
    with pytest.raises(DatasetNotFoundError, match=f"download into {ro} \\(cannot write into {ro}"):
        load_dataset("kmnist", "test", data_dir=ro)


def test_kmnist_gunzipped_copy_is_unverified_but_loads(isolated):
    # KMNIST publishes no checksums of its decompressed files: such a copy is loaded (strict IDX
    # checks still apply) and reported as "unverified"; a .gz that does not match is refused.
    folder = isolated / "k"
    folder.mkdir()
    (folder / "t10k-images-idx3-ubyte").write_bytes(
        bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]) + bytes(2 * 784)
    )
    (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 9]))
    ds = load_dataset("kmnist", "test", data_dir=folder, download=False)
    assert ds.labels.tolist() == [3, 9] and ds.classes[3] == "tsu"
    assert dataset_status("kmnist", folder).state == "unverified"
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 9])))
    with pytest.raises(ChecksumError, match="not the published kmnist file"):
        load_dataset("kmnist", "test", data_dir=folder, download=False)
