"""A small, strict reader for IDX files (the MNIST family's ``*-idx3-ubyte[.gz]`` format).

Format (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"): a 4-byte magic number
``0x00 0x00 TYPE NDIM``, then ``NDIM`` big-endian uint32 dimensions, then the values in C order,
big-endian. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.

Every check happens before a large allocation: for a raw file the header is compared with the file
size; for a gzip file with the gzip trailer (uncompressed size mod 2**32), with the largest possible
deflate expansion, and the payload is then read in bounded chunks, so a header that claims 10**12
items is refused at once and a lying file never makes us allocate more than it really holds.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# IDX type code -> big-endian numpy dtype.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# Default ceiling on the decoded size: the largest real IDX files (EMNIST byclass) are ~550 MB.
DEFAULT_MAX_BYTES = 2 * 1024**3
# Deflate cannot expand data more than ~1032:1 (zlib technical details); a header that needs more
# than this from the compressed size is a lie and is refused before decompressing.
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20


@dataclass(frozen=True)
class IdxHeader:
    """The parsed header of an IDX file."""

    dtype: np.dtype
    shape: tuple[int, ...]
    header_len: int

    @property
    def payload_len(self) -> int:
        """Bytes of values that must follow the header."""
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize

    @property
    def total_len(self) -> int:
        return self.header_len + self.payload_len


def parse_header(data: bytes, source: str = "<bytes>") -> IdxHeader:
    """Parse and check the magic number and dimensions at the start of ``data``.

    Args:
        data: at least the first ``4 + 4 * ndim`` bytes of the (decompressed) file.
        source: name used in error messages.

    Raises:
        ValueError: naming ``source`` and what is wrong (magic, type code, rank, truncation).
    """
    if len(data) < 4:
        raise ValueError(f"{source}: not an IDX file: {len(data)} bytes, a header needs at least 4")
    zero1, zero2, code, ndim = data[0], data[1], data[2], data[3]
    if zero1 != 0 or zero2 != 0:
        raise ValueError(
            f"{source}: not an IDX file: magic number starts with {data[:2].hex()}, expected 0000"
        )
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise ValueError(f"{source}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise ValueError(f"{source}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{source}: truncated IDX header: {ndim} dimensions need {header_len} bytes, got {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    return IdxHeader(IDX_TYPES[code], tuple(int(d) for d in shape), header_len)


def decode_idx(content: bytes | bytearray, source: str = "<bytes>") -> np.ndarray:
    """Decode a complete, decompressed IDX file held in memory.

    The byte count must match the header exactly. The result is native-endian and writable (uint8
    data is not copied when ``content`` is a bytearray).

    Raises:
        ValueError: on a bad header or a byte count that does not match the header.
    """
    header = parse_header(bytes(content[:1024]), source)
    if len(content) != header.total_len:
        raise ValueError(
            f"{source}: IDX header declares shape {header.shape} ({header.total_len} bytes with the "
            f"header) but the file holds {len(content)} bytes"
        )
    buf = content if isinstance(content, bytearray) else bytearray(content)
    arr = np.frombuffer(buf, dtype=header.dtype, offset=header.header_len).reshape(header.shape)
    if header.dtype.itemsize > 1:
        arr = arr.astype(header.dtype.newbyteorder("="))  # big-endian -> native, a writable copy
    return arr


def _gzip_isize(path: Path) -> int | None:
    """The gzip trailer's uncompressed size (mod 2**32), or None if the file is too short."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < 18:  # 10-byte header + 8-byte trailer
            return None
        f.seek(-4, os.SEEK_END)
        return struct.unpack("<I", f.read(4))[0]


def _check_budget(header: IdxHeader, source: str, max_bytes: int, limit: int | None, what: str) -> None:
    total = header.total_len
    if total > max_bytes:
        raise ValueError(
            f"{source}: IDX header declares shape {header.shape} = {total} bytes, more than the "
            f"{max_bytes}-byte limit; the header is corrupt (or raise max_bytes)"
        )
    if limit is not None and total > limit:
        raise ValueError(
            f"{source}: IDX header declares shape {header.shape} = {total} bytes but {what} "
            f"can hold at most {limit} bytes; the file is truncated or its header is corrupt"
        )


def _read_gzip(path: Path, source: str, max_bytes: int) -> bytearray:
    compressed = path.stat().st_size
    isize = _gzip_isize(path)
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(4)
            if len(head) == 4 and head[:2] == b"\0\0":
                head += f.read(4 * head[3])
            header = parse_header(head, source)
            _check_budget(header, source, max_bytes, compressed * _MAX_DEFLATE_RATIO, "the gzip data")
            if isize is not None and isize != header.total_len % 2**32:
                raise ValueError(
                    f"{source}: IDX header declares {header.total_len} bytes but the gzip trailer "
                    f"records {isize}; the file is truncated or corrupt"
                )
            out = bytearray(head)
            # Bounded chunks: the buffer grows only as real data arrives (never trust the header).
            while len(out) < header.total_len + 1:
                chunk = f.read(min(_CHUNK, header.total_len + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
    except (OSError, EOFError, zlib.error) as exc:  # bad gzip stream, CRC error, early EOF
        raise ValueError(f"{source}: corrupt or truncated gzip data ({exc})") from exc
    if len(out) != header.total_len:
        raise ValueError(
            f"{source}: IDX header declares shape {header.shape} ({header.total_len} bytes) but the "
            f"decompressed file holds {'more' if len(out) > header.total_len else len(out)} bytes"
        )
    return out


def read_idx_bytes(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytearray:
    """Read a whole IDX file (gzip or raw) into memory after checking its header against its size.

    Args:
        path: ``*.gz`` files are decompressed (detected by the gzip magic, not only the name).
        max_bytes: refuse files whose header declares more decoded bytes than this.

    Returns:
        The decompressed bytes, header included (what the content checksums are computed on).
    """
    path = Path(path)
    source = str(path)
    if path.exists() and not path.is_file():  # stat only: a FIFO or device would block or never end
        raise ValueError(f"{source}: not a regular file (a folder, pipe or device); give an IDX file")
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return _read_gzip(path, source, max_bytes)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) == 4 and head[:2] == b"\0\0":
            head += f.read(4 * head[3])
        header = parse_header(head, source)
        _check_budget(header, source, max_bytes, None, "the file")
        if size != header.total_len:
            raise ValueError(
                f"{source}: IDX header declares shape {header.shape} ({header.total_len} bytes with "
                f"the header) but the file holds {size} bytes"
            )
        f.seek(0)
        return bytearray(f.read(header.total_len))


def read_idx(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read an IDX file (``*-idx3-ubyte`` or ``*-idx3-ubyte.gz``) into a numpy array.

    Args:
        path: the file; gzip is detected from its first bytes.
        max_bytes: refuse headers declaring more decoded bytes than this.

    Returns:
        An array of the declared shape and type (uint8 for MNIST-family files), native byte order.

    Raises:
        ValueError: bad magic number, unknown type code, byte count not matching the header, corrupt
            or truncated gzip data. Never a crash, a hang or a giant allocation.

    Example:
        >>> images = read_idx("t10k-images-idx3-ubyte.gz")  # doctest: +SKIP
        >>> images.shape, images.dtype
        ((10000, 28, 28), dtype('uint8'))
    """
    return decode_idx(read_idx_bytes(path, max_bytes=max_bytes), str(path))
