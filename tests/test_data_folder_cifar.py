"""folder:PATH datasets (PNG/JPEG, class subfolders) and CIFAR-10's binary records."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from convolab.data import cifar, load_dataset, locations, registry


def save(path, array, fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path, format=fmt)


# --- folders ---------------------------------------------------------------------------------


def test_class_subfolders_give_sorted_labels(tmp_path):
    save(tmp_path / "dog" / "b.png", np.full((4, 5), 200))
    save(tmp_path / "dog" / "a.png", np.full((4, 5), 100))
    save(tmp_path / "cat" / "x.png", np.full((4, 5), 7))
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.classes == ["cat", "dog"] and ds.labels.tolist() == [0, 1, 1]
    assert ds.images.shape == (3, 1, 4, 5) and ds.images[:, 0, 0, 0].tolist() == [7, 100, 200]
    assert ds.name == f"folder:{tmp_path}" and ds.source == tmp_path


def test_flat_folder_is_unlabelled_and_rgb_when_coloured(tmp_path):
    save(tmp_path / "1.png", np.zeros((3, 3)))
    colour = np.zeros((3, 3, 3))
    colour[..., 2] = 255
    save(tmp_path / "2.png", colour)
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.labels is None and ds.classes is None
    assert ds.images.shape == (2, 3, 3, 3) and ds.images[1, :, 0, 0].tolist() == [0, 0, 255]
    gray = load_dataset(f"folder:{tmp_path}", color="gray")
    assert gray.images.shape == (2, 1, 3, 3) and gray.images[1, 0, 0, 0] == 29  # PIL: 0.114 * 255


def test_sizes_jpeg_limit_and_test_split(tmp_path):
    save(tmp_path / "train" / "a" / "big.jpg", np.full((8, 8), 128), fmt="JPEG")
    save(tmp_path / "train" / "a" / "small.png", np.full((4, 4), 128))
    with pytest.raises(ValueError, match="image_size"):
        load_dataset(f"folder:{tmp_path}")
    ds = load_dataset(f"folder:{tmp_path}", image_size=6)
    assert ds.images.shape == (2, 1, 6, 6) and abs(int(ds.images.float().mean()) - 128) <= 2
    assert len(load_dataset(f"folder:{tmp_path}", image_size=(2, 3), limit=1)) == 1
    with pytest.raises(ValueError, match="no test/ subfolder"):
        load_dataset(f"folder:{tmp_path}", "test")
    save(tmp_path / "test" / "a" / "t.png", np.full((6, 6), 1))
    assert load_dataset(f"folder:{tmp_path}", "test").images.shape == (1, 1, 6, 6)


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no PNG/JPEG"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    save(tmp_path / "mixed" / "top.png", np.zeros((2, 2)))
    save(tmp_path / "mixed" / "cls" / "in.png", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="both directly and in subfolders"):
        load_dataset(f"folder:{tmp_path / 'mixed'}")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image"):
        load_dataset(f"folder:{tmp_path / 'broken'}")


# --- CIFAR-10 binary -------------------------------------------------------------------------


def record(label: int, seed: int) -> bytes:
    """One record: label, then the red, green and blue 32x32 planes."""
    rng = np.random.default_rng(seed)
    return bytes([label]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch):
    """A CIFAR-10 archive with 2 records per batch, pinned in a patched registry entry."""
    monkeypatch.setattr(cifar, "PER_BATCH", 2)
    monkeypatch.delenv("CONVOLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(locations, "SYSTEM_DIRS", ())
    batches = {m: record(i, 2 * i) + record(9 - i, 2 * i + 1) for i, m in enumerate(registry.CIFAR10.members)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    folder = tmp_path / "cifar"
    folder.mkdir()
    (folder / "cifar-10-binary.tar.gz").write_bytes(buf.getvalue())
    archive = dataclasses.replace(
        registry.CIFAR10.files["cifar-10-binary.tar.gz"],
        sha256=hashlib.sha256(buf.getvalue()).hexdigest(),
        md5=None,
    )
    members = {m: hashlib.sha256(d).hexdigest() for m, d in batches.items()}
    spec = dataclasses.replace(registry.CIFAR10, files={archive.name: archive}, members=members)
    monkeypatch.setitem(registry.DATASETS, "cifar10", spec)
    return folder, batches


def test_cifar_archive_layout(tiny_cifar):
    folder, batches = tiny_cifar
    train = load_dataset("cifar10", "train", data_dir=folder, download=False)
    assert train.images.shape == (10, 3, 32, 32) and train.labels.tolist() == [0, 9, 1, 8, 2, 7, 3, 6, 4, 5]
    raw = np.frombuffer(batches["data_batch_2.bin"][:3073], dtype=np.uint8)
    img = train.images[2]  # first record of the second batch
    assert img[0, 0, 0] == raw[1] and img[0, 0, 1] == raw[2] and img[0, 1, 0] == raw[1 + 32]
    assert img[1, 0, 0] == raw[1 + 1024] and img[2, 31, 31] == raw[3072]
    test = load_dataset("cifar10", "test", data_dir=folder, download=False)
    assert len(test) == 2 and test.classes[0] == "airplane"
    assert load_dataset("cifar10", "test", data_dir=folder, color="gray").images.shape == (2, 1, 32, 32)


def test_cifar_extracted_members_and_corruption(tiny_cifar):
    folder, batches = tiny_cifar
    extracted = folder.parent / "extracted" / "cifar-10-batches-bin"
    extracted.mkdir(parents=True)
    for name, data in batches.items():
        (extracted / name).write_bytes(data)
    ds = load_dataset("cifar10", "test", data_dir=extracted.parent, download=False)
    assert torch.equal(ds.images, load_dataset("cifar10", "test", data_dir=folder).images)
    (extracted / "test_batch.bin").write_bytes(batches["test_batch.bin"][:-1] + b"\x00")
    with pytest.raises(ValueError, match="not the published CIFAR-10 file"):
        load_dataset("cifar10", "test", data_dir=extracted.parent, download=False)


def test_cifar_decode_rejects_partial_records():
    with pytest.raises(ValueError, match="whole number"):
        cifar.decode_batch(bytes(3074), "x.bin")
    with pytest.raises(ValueError, match="label 10"):
        cifar.decode_batch(bytes([10]) + bytes(3072), "x.bin")
