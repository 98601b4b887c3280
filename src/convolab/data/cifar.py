"""CIFAR-10, binary version: fixed-length records, never a pickle.

Each record is 1 label byte then 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each a 32x32
image in row-major order (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version"). Five
``data_batch_N.bin`` files form the training split, ``test_batch.bin`` the test split, 10,000 records
each. The archive is read member by member with ``tarfile`` (regular files with the expected names
only; nothing is extracted to disk).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

RECORD = 1 + 3 * 32 * 32
PER_BATCH = 10000
SPLIT_MEMBERS = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}


def decode_batch(data: bytes | bytearray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 3, 32, 32) uint8, labels (N,) uint8)`` from one batch file's bytes."""
    if len(data) == 0 or len(data) % RECORD:
        raise ValueError(f"{source}: {len(data)} bytes is not a whole number of {RECORD}-byte CIFAR records")
    rec = np.frombuffer(bytearray(data), dtype=np.uint8).reshape(-1, RECORD)  # (N, 3073)
    labels = rec[:, 0].copy()
    if labels.max() > 9:
        raise ValueError(f"{source}: label {labels.max()} out of range 0-9")
    images = rec[:, 1:].reshape(-1, 3, 32, 32)  # (N, C, H, W): channel planes, rows, columns
    return images, labels


def read_archive_split(archive: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split straight out of ``cifar-10-binary.tar.gz``."""
    wanted = {f"cifar-10-batches-bin/{m}": m for m in SPLIT_MEMBERS[split]}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                if info.name in wanted and info.isreg():
                    if info.size != RECORD * PER_BATCH:
                        raise ValueError(f"{archive}: member {info.name} has {info.size} bytes")
                    fobj = tar.extractfile(info)
                    found[wanted[info.name]] = fobj.read() if fobj else b""
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"{archive}: corrupt or truncated archive ({exc})") from exc
    missing = [m for m in SPLIT_MEMBERS[split] if m not in found]
    if missing:
        raise ValueError(f"{archive}: missing members {missing}")
    parts = [decode_batch(found[m], f"{archive}:{m}") for m in SPLIT_MEMBERS[split]]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_member_files(paths: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split from extracted ``*.bin`` files."""
    parts = [decode_batch(paths[m].read_bytes(), str(paths[m])) for m in SPLIT_MEMBERS[split]]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
