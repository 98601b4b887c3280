"""Reading images into float [0, 1] arrays, showing filter responses, and writing files atomically.

- 8-bit images are divided by 255, 16-bit ones (Pillow modes ``I;16*`` and ``I``) by 65535.
- Grayscale gives ``(H, W)``; colour gives ``(H, W, 3)`` (RGB); palette, CMYK, YCbCr... become RGB.
- Alpha (RGBA, LA, transparent palettes) is composited over a white background by default
  (``alpha='composite'``, what a viewer shows on a white page); ``alpha='drop'`` ignores it.
- Pillow's decompression-bomb guard (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 megapixels) is a hard
  limit here: an image above it raises ``ValueError`` before any pixel is decoded.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from convolab.limits import MAX_FILTER_FILE_BYTES, MAX_FILTER_PIXELS, LimitError, check_bytes

ALPHA_MODES = ("composite", "drop")


def _bomb_message(path: Path, what: str) -> str:
    return (
        f"{path}: image is {what}, above Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,} "
        "pixels (PIL.Image.MAX_IMAGE_PIXELS); refusing to decode it"
    )


def _open(path: Path, max_pixels: int | None = None) -> Image.Image:
    """Open lazily (header only), turning Pillow's errors into one clear message each.

    Only regular files are read (a FIFO or a device would block or never end), at most
    ``limits.MAX_FILTER_FILE_BYTES``; ``max_pixels`` bounds ``W x H`` from the header, before decoding.
    """
    if not path.exists():
        raise FileNotFoundError(f"no such image file: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"expected an image file, got a directory: {path}")
    if not path.is_file():  # stat only: never opens a FIFO, socket or device
        raise ValueError(f"{path}: not a regular file (a pipe, socket or device); give an image file")
    check_bytes(f"{path}: the image file", path.stat().st_size, MAX_FILTER_FILE_BYTES)
    try:
        with warnings.catch_warnings():
            # Pillow warns above the limit and raises above twice the limit; we refuse both, below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as exc:  # "Image size (N pixels) exceeds limit of ..."
        pixels = str(exc).split("(")[1].split(")")[0] if "(" in str(exc) else "too large"
        raise ValueError(_bomb_message(path, pixels)) from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image Pillow can read (PNG, JPEG, ...)") from None
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and im.size[0] * im.size[1] > limit:
        im.close()
        w, h = im.size
        raise ValueError(_bomb_message(path, f"{w}x{h} = {w * h:,} pixels"))
    if max_pixels is not None and im.size[0] * im.size[1] > max_pixels:
        im.close()
        w, h = im.size
        raise LimitError(
            f"{path}: image is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,} for this work; "
            "downscale it first"
        )
    return im


def _pixels(im: Image.Image, alpha: str) -> np.ndarray:
    """Float32 pixels in [0, 1], (H, W) or (H, W, 3)."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):  # 16-bit gray (PNG opens as I;16 or I)
        return np.asarray(im, dtype=np.float64).astype(np.float32) / 65535.0
    if mode == "F":
        return np.asarray(im, dtype=np.float32)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if mode in ("1", "L") or (mode in ("LA", "La") and alpha == "drop"):
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    if mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"), dtype=np.float32) / 255.0
        return la[..., 0] * la[..., 1] + (1.0 - la[..., 1])  # over white
    if has_alpha and alpha == "composite":
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        a = rgba[..., 3:]
        return rgba[..., :3] * a + (1.0 - a)  # over white
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def image_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(width, height, channels of load_image's result)`` from the header alone (nothing decoded)."""
    with _open(Path(path)) as im:
        channels = 1 if im.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F") else 3
        return im.size[0], im.size[1], channels


def work_bytes(width: int, height: int, channels: int, panels: int) -> int:
    """Estimated float32 working memory of filtering into ``panels`` results and drawing them.

    Per panel: the padded input copy, the response and its display copy; plus the image and its clip.
    """
    return 4 * width * height * channels * (2 + 3 * panels)


def load_image(
    path: str | os.PathLike, alpha: str = "composite", max_pixels: int | None = MAX_FILTER_PIXELS
) -> np.ndarray:
    """Read a PNG/JPEG/... as float32 in [0, 1]: ``(H, W)`` gray or ``(H, W, 3)`` RGB.

    Args:
        path: image file.
        alpha: 'composite' (over white) or 'drop' for images with transparency.
        max_pixels: refuse images with more pixels (W x H, from the header: nothing is decoded);
            ``None``: only Pillow's decompression-bomb limit.

    Raises:
        FileNotFoundError: no such file. ValueError: not a regular file, not an image, truncated, or
        above Pillow's decompression-bomb limit; ``LimitError`` above ``max_pixels``.
    """
    if alpha not in ALPHA_MODES:
        raise ValueError(f"alpha must be one of {', '.join(ALPHA_MODES)}, got {alpha!r}")
    p = Path(path)
    im = _open(p, max_pixels)
    try:
        with im:
            im.load()
            return _pixels(im, alpha)
    except OSError as exc:  # truncated or corrupt data behind a valid header
        raise ValueError(f"{p}: cannot decode the image ({exc})") from None


def display_range(result: np.ndarray, signed: bool) -> np.ndarray:
    """Map a filter response to [0, 1] for viewing (the rule every figure and PNG here uses).

    - ``signed=False`` (smoothing kernels that sum to 1, and the sharpened image): clip to [0, 1].
    - ``signed=True`` (derivatives, Laplacian, LoG): ``0.5 + 0.5 * r / max|r|``, so zero is mid-grey,
      positive is brighter, negative darker, and the strongest response reaches black or white.
    Gradient magnitudes (non-negative) are shown as ``r / max(r)`` (use ``signed=True`` on them and
    they would all be light): call ``display_magnitude``.
    """
    r = np.asarray(result, dtype=np.float64)
    if not signed:
        return np.clip(r, 0.0, 1.0)
    peak = float(np.abs(r).max()) if r.size else 0.0
    return 0.5 + 0.5 * r / peak if peak > 0 else np.full_like(r, 0.5)


def display_magnitude(result: np.ndarray) -> np.ndarray:
    """Non-negative responses (gradient magnitude) scaled by their maximum into [0, 1]."""
    r = np.asarray(result, dtype=np.float64)
    peak = float(r.max()) if r.size else 0.0
    return r / peak if peak > 0 else np.zeros_like(r)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    A failure (or a crash) leaves no partial file at ``path``. The directory must exist.
    """
    dest = Path(path)
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"output directory does not exist: {parent}")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix, dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a [0, 1] image ``(H, W)`` or ``(H, W, 3)`` as 8-bit (format from the suffix), atomically."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        raise ValueError(f"save_image needs (H, W) or (H, W, 3|4), got shape {a.shape}")
    u8 = np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise ValueError(f"unknown image file extension {suffix!r} for {path} (use .png or .jpg)")
    return write_atomic(path, lambda tmp: Image.fromarray(u8).save(tmp, format=fmt))
