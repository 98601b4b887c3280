"""Exact receptive fields by the interval walk (docs/architecture.md, "Receptive fields, exactly").

Per spatial axis, every coordinate of the current feature map carries the interval ``[lo, hi]`` of
model-input coordinates that can influence it (or nothing, e.g. the zeros of a bed of nails). A layer's
``AxisMap`` says which interval of *its* input each of its output coordinates sees; composing the two
gives the new intervals. Everything is vectorised with NumPy, so a 1920-pixel axis costs microseconds.
The union of a window's fields is a range min/max, answered for all coordinates at once by a sparse table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convolab.layers.base import AxisMap

__all__ = [
    "AxisField",
    "FieldWalk",
    "compose",
    "compose_bytes",
    "global_field",
    "identity_field",
    "map_bounds",
    "map_jump",
]


@dataclass(frozen=True, eq=False)
class AxisField:
    """Receptive fields of every coordinate of one spatial axis of a feature map.

    Attributes:
        lo: ``(n,)`` int64, first model-input coordinate seen by each coordinate (-1 where none).
        hi: ``(n,)`` int64, last model-input coordinate seen (inclusive; -1 where none).
        jump: average distance, in model-input pixels, between the fields of adjacent coordinates
            (product of strides for encoders; fractional after upsampling; 0 once every coordinate
            sees the whole input).
        in_len: length of this axis of the model input.
    """

    lo: np.ndarray
    hi: np.ndarray
    jump: float
    in_len: int

    @property
    def valid(self) -> np.ndarray:
        return self.lo >= 0

    def __len__(self) -> int:
        return int(self.lo.shape[0])

    def interval(self, u: int) -> tuple[int, int] | None:
        """Inclusive model-input interval seen by coordinate ``u``, or None when it sees nothing."""
        if not 0 <= u < len(self):
            raise ValueError(f"coordinate must be in [0, {len(self) - 1}], got {u}")
        if self.lo[u] < 0:
            return None
        return int(self.lo[u]), int(self.hi[u])

    def sizes(self) -> np.ndarray:
        """Field length of every coordinate (0 where it sees nothing)."""
        return np.where(self.valid, self.hi - self.lo + 1, 0)

    def summary(self) -> dict[str, float | int | None]:
        """``{"max", "center", "jump", "offset"}``: the largest field, the field of coordinate ``n // 2``,
        the jump and the centre of coordinate 0's field (None when it sees nothing)."""
        sizes = self.sizes()
        first = self.interval(0)
        return {
            "max": int(sizes.max()) if len(self) else 0,
            "center": int(sizes[len(self) // 2]) if len(self) else 0,
            "jump": float(self.jump),
            "offset": None if first is None else (first[0] + first[1]) / 2,
        }


def identity_field(n: int) -> AxisField:
    """The model input itself: coordinate ``u`` sees ``[u, u]``."""
    u = np.arange(n, dtype=np.int64)
    return AxisField(u, u.copy(), 1.0, n)


def global_field(n: int, in_len: int) -> AxisField:
    """Every one of ``n`` coordinates sees the whole input (after Flatten, Dense, Reshape)."""
    return AxisField(np.zeros(n, dtype=np.int64), np.full(n, in_len - 1, dtype=np.int64), 0.0, in_len)


def map_bounds(m: AxisMap, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``AxisMap.interval`` for outputs ``0..n_out-1``: arrays ``(a, b)``, ``a > b`` = none.

    Same formulas as the scalar method (its tests compare the two on random maps).
    """
    u = np.arange(n_out, dtype=np.int64)
    n, k, s, p = m.in_len, m.kernel, m.stride, m.pad
    if m.kind == "window":
        a, b = u * s - p, u * s - p + k - 1
    elif m.kind == "transpose":
        a, b = -((-(u + p - k + 1)) // s), (u + p) // s  # v*s in (u + p - k, u + p]
    elif m.kind == "nearest":
        a = b = u // s
    elif m.kind == "nails":
        a = np.where(u % s == 0, u // s, 1)
        b = np.where(u % s == 0, u // s, 0)
    elif m.kind == "bilinear":
        # half-pixel centres (align_corners=False): source x = (u + 0.5) / s - 0.5, clamped
        x = np.clip((u + 0.5) / s - 0.5, 0.0, n - 1)
        a = np.floor(x).astype(np.int64)
        b = np.where(x > a, a + 1, a)
    elif m.kind == "identity":
        a = b = u
    elif m.kind == "global":
        a, b = np.zeros_like(u), np.full_like(u, n - 1)
    else:
        raise ValueError(f"unknown axis map kind {m.kind!r}")
    d = m.dilation
    if d > 1 and m.kind in ("window", "transpose"):  # clipped ends move to the next tap inside
        a = a + np.maximum(-(a // d), 0) * d
        b = b - np.maximum(-(-(b - n + 1) // d), 0) * d
    return np.maximum(a, 0), np.minimum(b, n - 1)


def map_jump(m: AxisMap) -> float:
    """Average shift, in this layer's input pixels, between adjacent output coordinates."""
    if m.kind == "window":
        return float(m.stride)
    if m.kind in ("transpose", "nearest", "nails", "bilinear"):
        return 1.0 / m.stride
    if m.kind == "identity":
        return 1.0
    return 0.0  # global: all outputs see the same thing


def _range_reduce(values: np.ndarray, a: np.ndarray, b: np.ndarray, op: np.ufunc) -> np.ndarray:
    """``op.reduce(values[a[i]:b[i] + 1])`` for every ``i`` (``a <= b``), by a sparse table: O(n log n)."""
    table = [values]
    while 2 ** len(table) <= len(values):
        prev, half = table[-1], 2 ** (len(table) - 1)
        table.append(op(prev[:-half], prev[half:]))
    level = np.floor(np.log2(b - a + 1)).astype(np.int64)
    out = np.empty(len(a), dtype=values.dtype)
    for k in np.flatnonzero(np.bincount(level)):  # the levels present (np.unique imports numpy.ma)
        sel = level == k
        out[sel] = op(table[k][a[sel]], table[k][b[sel] - 2**k + 1])
    return out


def _tap_reduce(values: np.ndarray, a: np.ndarray, b: np.ndarray, d: int, op: np.ufunc) -> np.ndarray:
    """``op.reduce(values[a[i]:b[i] + 1:d])`` for every ``i``: the taps of a dilated window only.

    ``a[i]`` and ``b[i]`` are taps (``b - a`` a multiple of ``d``), so every window lies in one residue
    class mod ``d``: one sparse table per class, over ``values[r::d]``.
    """
    if d == 1:
        return _range_reduce(values, a, b, op)
    out = np.empty(len(a), dtype=values.dtype)
    residue = a % d
    for r in np.flatnonzero(np.bincount(residue)):  # the residues present, without np.unique
        sel = residue == r
        out[sel] = _range_reduce(values[r::d], (a[sel] - r) // d, (b[sel] - r) // d, op)
    return out


def compose(field: AxisField, m: AxisMap, n_out: int) -> AxisField:
    """Fields of a layer's ``n_out`` output coordinates, given the fields of its input coordinates.

    Output ``u`` sees the union of the fields of its input taps ``a, a + d, ..., b`` (``d`` the
    dilation, 1 for a plain window): ``[min lo, max hi]`` over the taps that see something, and nothing
    when none does. Taps, not the span ``a..b``: a dilated window over the holes of a bed of nails sees
    only the nails its taps land on. (Not simply the ends' fields either: with dilation, a clipped
    window can see a later pixel than its neighbour's.)
    """
    n_in = len(field)
    if m.in_len != n_in:
        raise ValueError(f"axis map expects an input of length {m.in_len}, the field has {n_in}")
    a, b = map_bounds(m, n_out)
    ok = a <= b
    a, b = np.where(ok, a, 0), np.where(ok, b, 0)
    valid = field.valid
    big = np.iinfo(np.int64).max
    d = m.dilation if m.kind in ("window", "transpose") else 1
    lo = _tap_reduce(np.where(valid, field.lo, big), a, b, d, np.minimum)
    hi = _tap_reduce(np.where(valid, field.hi, -1), a, b, d, np.maximum)
    ok &= hi >= 0
    jump = field.jump * map_jump(m)
    return AxisField(np.where(ok, lo, -1), np.where(ok, hi, -1), jump, field.in_len)


# --------------------------------------------------------------------------------------------------
# The fields of every layer of a model, within limits.MAX_ANALYSIS_BYTES


def compose_bytes(n_in: int, n_out: int) -> int:
    """Upper bound of what ``compose`` allocates: the two sparse tables (``n_in log n_in`` int64 each)
    and about a dozen ``n_out`` int64 temporaries."""
    levels = max(1, int(n_in).bit_length())
    return 2 * n_in * levels * 8 + 12 * n_out * 8


class FieldWalk:
    """Receptive fields of every layer of a walked model (``convolab.model.walk.ModelWalk``), on demand.

    ``summaries()`` runs the interval walk once, keeping only the current layer's fields (memory
    ``O(side log side)``, checked against ``limits.MAX_ANALYSIS_BYTES`` before each layer) and storing
    each layer's fields while the stored total stays within half that budget. ``get(i)`` answers from the
    store, or recomputes from the last stored layer before ``i`` (the last answer is kept).
    """

    #: bytes of stored fields; None: half of ``limits.MAX_ANALYSIS_BYTES`` (the rest is for transients)
    store_budget: int | None = None

    def __init__(self, model_walk: Any) -> None:
        from convolab import limits

        self._limits = limits
        self.walk = model_walk
        _, h, w = model_walk.input_shape
        self._input = (identity_field(h), identity_field(w))
        self._stored: dict[int, tuple[AxisField, AxisField]] = {}
        self._budget = self.store_budget if self.store_budget is not None else limits.MAX_ANALYSIS_BYTES // 2
        self._last: tuple[int, tuple[AxisField, AxisField]] | None = None

    def _next(self, index: int, fields: tuple[AxisField, AxisField] | None) -> tuple[AxisField, AxisField]:
        """Fields of step ``index``'s output from those of its input (None: the model input)."""
        step = self.walk.steps[index]
        fields = self._input if fields is None and index == 0 else fields
        shape, out = step.input_shape, step.output_shape
        in_h, in_w = self.walk.input_shape[1:]
        if fields is None or len(shape) != 3 or len(out) != 3:
            h, w = (out[1], out[2]) if len(out) == 3 else (1, 1)
            return global_field(h, in_h), global_field(w, in_w)
        need = compose_bytes(shape[1], out[1]) + compose_bytes(shape[2], out[2])
        self._limits.check_bytes(
            f"{step.where}: the receptive fields",
            need,
            self._limits.MAX_ANALYSIS_BYTES,
            "limits.MAX_ANALYSIS_BYTES",
        )
        try:
            mh, mw = step.axis_maps()
        except ValueError as exc:  # pragma: no cover - the walk has checked the shapes
            raise ValueError(f"{step.where}: {exc}") from None
        return compose(fields[0], mh, out[1]), compose(fields[1], mw, out[2])

    def summaries(self) -> list[dict[str, dict[str, Any]]]:
        """``{"h": AxisField.summary(), "w": ...}`` of every layer, in one pass."""
        out, fields, stored = [], None, 0
        for i in range(len(self.walk.steps)):
            fields = self._next(i, fields)
            out.append({"h": fields[0].summary(), "w": fields[1].summary()})
            size = 16 * (len(fields[0]) + len(fields[1]))  # lo and hi, int64
            if stored + size <= self._budget:
                self._stored[i] = fields
                stored += size
        return out

    def get(self, index: int) -> tuple[AxisField, AxisField]:
        """The fields of step ``index``'s output; IndexError outside ``0 .. len(steps) - 1``."""
        if not 0 <= index < len(self.walk.steps):
            raise IndexError(f"layer index {index} out of range: the model has {len(self.walk.steps)} layers")
        if index in self._stored:
            return self._stored[index]
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        start = max((j for j in self._stored if j < index), default=-1)
        fields = self._next(start + 1, self._stored.get(start))  # start < index: at least this one step
        for i in range(start + 2, index + 1):
            fields = self._next(i, fields)
        self._last = (index, fields)
        return fields
