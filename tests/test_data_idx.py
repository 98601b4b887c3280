"""The IDX reader: hand-built files with literal answers, strict errors, fuzzing, the real files."""

from __future__ import annotations

import gzip
import hashlib
import struct
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convolab.data import decode_idx, read_idx, read_idx_bytes
from real_data import FASHION_TEST_COUNTS

# type code -> (big-endian dtype) written independently of the reader's table
CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


def write(tmp: Path, name: str, data: bytes, gz: bool) -> Path:
    path = tmp / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# --- literal answers -------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_uint8_images_literal(tmp_path, gz):
    data = idx_bytes(0x08, (2, 2, 3), bytes(range(12)))
    arr = read_idx(write(tmp_path, "x-idx3-ubyte", data, gz))
    assert arr.dtype == np.uint8 and arr.shape == (2, 2, 3)
    assert arr[1, 0, 2] == 8 and arr[0, 1, 0] == 3
    assert arr.flags.writeable


def test_every_type_code_big_endian_literals():
    # int16 0x0102 = 258; int32 0xFFFFFFFE = -2; float32 0x3FC00000 = 1.5; float64 0xC000.. = -2.0
    cases = [
        (0x09, b"\xff\x01", [-1, 1]),
        (0x0B, b"\x01\x02\xff\xff", [258, -1]),
        (0x0C, b"\xff\xff\xff\xfe\x00\x00\x01\x00", [-2, 256]),
        (0x0D, b"\x3f\xc0\x00\x00\xc1\x20\x00\x00", [1.5, -10.0]),
        (0x0E, b"\xc0\x00\x00\x00\x00\x00\x00\x00\x3f\xf0\x00\x00\x00\x00\x00\x00", [-2.0, 1.0]),
    ]
    for code, payload, expected in cases:
        arr = decode_idx(idx_bytes(code, (2,), payload))
        assert arr.tolist() == expected, hex(code)
        assert arr.dtype.isnative


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", "at least 4"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "magic number"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated IDX header"),
        (idx_bytes(0x08, (2, 3), bytes(5)), "holds 17 bytes"),
        (idx_bytes(0x08, (2, 3), bytes(7)), "holds 19 bytes"),
        (idx_bytes(0x0B, (3,), bytes(5)), "holds 13 bytes"),
    ],
)
def test_bad_bytes_raise_clear_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        decode_idx(data, "f.idx")


@pytest.mark.parametrize("gz", [False, True])
def test_file_errors_name_the_file(tmp_path, gz):
    path = write(tmp_path, "short-idx1-ubyte", idx_bytes(0x08, (10,), bytes(9)), gz)
    with pytest.raises(ValueError, match="short-idx1-ubyte"):
        read_idx(path)
    path = write(tmp_path, "long-idx1-ubyte", idx_bytes(0x08, (10,), bytes(11)), gz)
    with pytest.raises(ValueError, match="long-idx1-ubyte"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_header_claiming_10_to_12_items_is_refused_before_reading(tmp_path, gz):
    # 10^12 items: 1000000 x 1000 x 1000 uint8 = 1 TB declared, 100 bytes present.
    path = write(tmp_path, "huge-idx3-ubyte", idx_bytes(0x08, (1_000_000, 1000, 1000), bytes(100)), gz)
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"\(1000000, 1000, 1000\)"):
        read_idx(path)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 5_000_000


def test_gzip_trailer_mismatch_refused_before_decompressing(tmp_path):
    # Within the deflate-ratio budget but the gzip trailer records the true (smaller) size.
    path = write(tmp_path, "lie-idx1-ubyte", idx_bytes(0x08, (50_000,), bytes(40_000)), True)
    with pytest.raises(ValueError, match="gzip trailer"):
        read_idx(path)


def test_max_bytes_limit(tmp_path):
    path = write(tmp_path, "ok-idx1-ubyte", idx_bytes(0x08, (1000,), bytes(1000)), False)
    assert read_idx(path).shape == (1000,)
    with pytest.raises(ValueError, match="limit"):
        read_idx(path, max_bytes=500)


def test_corrupt_gzip_stream_is_value_error(tmp_path):
    raw = gzip.compress(idx_bytes(0x08, (4000,), bytes(range(250)) * 16))
    path = tmp_path / "bad.gz"
    path.write_bytes(raw[:20] + bytes(b ^ 0x55 for b in raw[20:40]) + raw[40:])
    with pytest.raises(ValueError, match="bad.gz"):
        read_idx(path)


# --- fuzzing ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_arbitrary_bytes(data):
    try:
        arr = decode_idx(data)
    except ValueError:
        return
    # Accepted only when the byte count is exactly what the header declares.
    ndim = data[3]
    assert len(data) == 4 + 4 * ndim + arr.size * arr.dtype.itemsize


@st.composite
def valid_idx(draw):
    code = draw(st.sampled_from(sorted(CODES)))
    dims = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=4)))
    n = int(np.prod(dims)) * np.dtype(CODES[code]).itemsize
    return code, dims, idx_bytes(code, dims, draw(st.binary(min_size=n, max_size=n)))


def oracle(data: bytes) -> np.ndarray | None:
    """An independent judgement of a byte string: the array it encodes, or None if invalid."""
    if len(data) < 4 or data[0] or data[1] or data[2] not in CODES or data[3] == 0:
        return None
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        return None
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(CODES[data[2]])
    if len(data) != 4 + 4 * ndim + int(np.prod(dims, dtype=object)) * dtype.itemsize:
        return None
    return np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(dims)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid_idx(),
    st.sampled_from(["truncate", "extend", "flip", "dims", "gz-truncate"]),
    st.integers(0, 10_000),
    st.booleans(),
)
def test_fuzz_mutated_files(case, mutation, pos, gz):
    code, dims, data = case
    if mutation == "truncate":
        bad = data[: pos % len(data)]
    elif mutation == "extend":
        bad = data + bytes(1 + pos % 7)
    elif mutation == "flip":
        i = pos % len(data)
        bad = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
    else:  # a dimension replaced by a huge value (or the .gz file cut short below)
        k = 4 + 4 * (pos % len(dims))
        bad = data[:k] + struct.pack(">I", 0xFFFFFFF0 - pos) + data[k + 4 :]
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "f-idx", bad, gz)
        if mutation == "gz-truncate":
            compressed = gzip.compress(data)
            path.write_bytes(compressed[: pos % len(compressed)])
        tracemalloc.start()
        try:
            arr = read_idx(path)
        except ValueError:
            arr = None
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert peak < 5_000_000
    expected = None if mutation == "gz-truncate" else oracle(bad)
    if expected is None:
        assert arr is None
    else:
        assert arr is not None and arr.shape == expected.shape
        np.testing.assert_array_equal(arr, expected.astype(expected.dtype.newbyteorder("=")))


# --- the real files --------------------------------------------------------------------------


def test_real_t10k_equals_a_plain_parse_of_the_bytes(fashion_t10k_dir):
    # Oracle: the IDX layout read by hand (magic, big-endian sizes, then the bytes) with gzip and NumPy.
    raw_images = gzip.decompress((fashion_t10k_dir / "t10k-images-idx3-ubyte.gz").read_bytes())
    raw_labels = gzip.decompress((fashion_t10k_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert struct.unpack(">iiii", raw_images[:16]) == (0x803, 10000, 28, 28)
    assert struct.unpack(">ii", raw_labels[:8]) == (0x801, 10000)
    images = read_idx(fashion_t10k_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(fashion_t10k_dir / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, np.frombuffer(raw_images, np.uint8, offset=16).reshape(-1, 28, 28))
    np.testing.assert_array_equal(labels, np.frombuffer(raw_labels, np.uint8, offset=8))
    assert np.bincount(labels).tolist() == FASHION_TEST_COUNTS  # published: 1,000 per class


def test_real_fashion_mnist_is_fast_and_complete(fashion_dir):
    t0 = time.perf_counter()
    images = read_idx(fashion_dir / "train-images-idx3-ubyte.gz")
    elapsed = time.perf_counter() - t0
    labels = read_idx(fashion_dir / "train-labels-idx1-ubyte.gz")
    assert images.shape == (60000, 28, 28) and np.bincount(labels).tolist() == [6000] * 10
    test_labels = read_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz")
    assert read_idx(fashion_dir / "t10k-images-idx3-ubyte.gz").shape == (10000, 28, 28)
    assert np.bincount(test_labels).tolist() == [1000] * 10
    # Timing on a shared machine is noisy: compare with a plain gzip decompress measured here too.
    t0 = time.perf_counter()
    gzip.decompress((fashion_dir / "train-images-idx3-ubyte.gz").read_bytes())
    reference = time.perf_counter() - t0
    assert elapsed < max(1.0, 2.5 * reference), (
        f"reading 60,000 images took {elapsed:.2f} s (plain gzip: {reference:.2f} s)"
    )
    # Published MD5 of the decompressed content (Debian recompresses the .gz files).
    content = read_idx_bytes(fashion_dir / "train-labels-idx1-ubyte.gz")
    assert hashlib.md5(content).hexdigest() == "9018921c3c673c538a1fc5bad174d6f9"
