"""Every limit convolab enforces, in one place: sizes, factors, nesting, counts, memory and time.

The CLI, the Python API and the lab all check against these numbers, so one request can never ask for
unbounded work, and a refusal is one ``LimitError`` (a ``ValueError``) that names what was too big, by
how much, and the limit. Memory is estimated *before* anything is allocated.

This module imports nothing heavy (no torch, no numpy): anything may import it.

Sections are grouped by the part of convolab that checks them; each constant says what it bounds.
Byte counts are binary (KiB, MiB, GiB), printed by ``format_bytes``.
"""

from __future__ import annotations

__all__ = ["LimitError", "check_bytes", "check_count", "format_bytes"]


class LimitError(ValueError):
    """A request over one of convolab's limits (a user mistake: the CLI prints one ``error:`` line)."""


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``; binary units everywhere convolab prints a size."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_bytes(what: str, nbytes: float, limit: int, hint: str = "") -> None:
    """Refuse ``what`` before allocating it if it would need more than ``limit`` bytes."""
    if nbytes > limit:
        tail = f"; {hint}" if hint else ""
        raise LimitError(f"{what} needs {format_bytes(nbytes)}, over the limit of {format_bytes(limit)}{tail}")


def check_count(what: str, n: float, limit: float) -> None:
    """Refuse a count (layers, images, samples, ...) above ``limit``."""
    if n > limit:
        raise LimitError(f"{what} is {n:g}, over the limit of {limit:g}")


# --- specs: files and text that describe a model (spec.py) -----------------------------------------------
MAX_SPEC_BYTES = 1 << 20  # a YAML/JSON spec file or string
MAX_SPEC_DEPTH = 32  # nesting of lists/dicts inside a spec (deep JSON/YAML would recurse)
MAX_LAYERS = 1_000  # layers in one model

# --- model arithmetic: layer arguments and shapes (layers/, analysis.py, model.py) ---------------------
MAX_SIDE = 1 << 16  # any spatial side of an input or of an intermediate map
MAX_CHANNELS = 1 << 16  # channels / filters / units of one layer
MAX_FACTOR = 64  # upsampling size, bed-of-nails factor, stride, dilation
MAX_KERNEL_SIDE = 1_025  # a layer's kernel side
MAX_ANALYSIS_BYTES = 1 << 30  # what the static analysis may allocate (receptive-field arrays and such)
MAX_MODEL_BYTES = 4 << 30  # parameters of a model built for real (float32)
MAX_ACTIVATION_BYTES = 8 << 30  # activations of one forward pass of one batch (float32)

# --- filters: classic kernels and the images they filter (filters/, cli/filters.py) ---------------------
MAX_FILTER_KERNEL_SIDE = 1_025  # side of a box/gaussian/log kernel (from --size, or 2 * radius(sigma) + 1)
MAX_FILTER_PIXELS = 1 << 25  # pixels (W x H) of an image to filter: 33.5 M, e.g. 8192 x 4096
MAX_FILTER_BYTES = 4 << 30  # estimated float32 working memory of one `filter` call (all panels)
MAX_FILTER_FILE_BYTES = 1 << 30  # size of an image file to read

# --- data: previews of datasets (data/preview.py, cli/data.py) -----------------------------------------
MAX_GRID_SAMPLES = 1_000  # samples in one `data show` grid (each is a matplotlib axes)
