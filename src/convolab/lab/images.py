"""Images in and out of the API: decode bounded uploads, encode arrays as PNG data URLs."""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from convolab.lab.http import ApiError
from convolab.limits import LAB_MAX_IMAGE_PIXELS


def decode_upload(data: str, max_side: int, max_pixels: int = LAB_MAX_IMAGE_PIXELS) -> np.ndarray:
    """A PNG or JPEG sent as base64 (optionally a ``data:`` URL) -> grey float32 ``(H, W)`` in [0, 1].

    The header is read first and the image refused before decoding when a side exceeds ``max_side``
    or it has more than ``max_pixels`` pixels, so a small file that unpacks to a huge image (a
    decompression bomb) costs nothing and is a 413, as is Pillow's own bomb check.
    """
    if not isinstance(data, str) or not data:
        raise ApiError("upload must be a base64 string (or a data: URL) of a PNG or JPEG file")
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("upload is not valid base64") from None
    try:
        img = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError:
        raise ApiError("uploaded image is a decompression bomb (more pixels than allowed)", 413) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiError("upload is not a PNG or JPEG image") from None
    if img.format not in ("PNG", "JPEG"):
        raise ApiError(f"upload must be a PNG or JPEG image, got {img.format}")
    w, h = img.size
    if max(w, h) > max_side or w * h > max_pixels:
        raise ApiError(
            f"uploaded image is {w}x{h}; the limit is {max_side} pixels per side and {max_pixels} pixels", 413
        )
    try:
        grey = np.asarray(img.convert("L"), dtype=np.float32) / 255.0  # (H, W)
    except Image.DecompressionBombError:
        raise ApiError("uploaded image is a decompression bomb", 413) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ApiError(f"upload could not be decoded: {str(exc)[:100]}") from None
    return grey


def to_png_data_url(image: np.ndarray, *, lo: float | None = None, hi: float | None = None) -> str:
    """A 2-D array as a grey PNG data URL, mapped linearly from ``[lo, hi]`` (default min/max) to 0..255."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"to_png_data_url expects a 2-D array, got shape {arr.shape}")
    lo = float(arr.min()) if lo is None else lo
    hi = float(arr.max()) if hi is None else hi
    scaled = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    pixels = np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def rounded(arr: npt.ArrayLike, digits: int = 4) -> list:
    """A numeric array as nested lists with a few digits (keeps JSON small and readable)."""
    return np.round(np.asarray(arr, dtype=np.float64), digits).tolist()
