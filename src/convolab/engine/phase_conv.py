"""Phase convolutions: upsampling + convolution, and transposed convolutions, as low-resolution convs.

One rewrite of ``convolab.engine.plan`` covers three layer patterns. Per spatial axis (rows here;
columns alike), with ``x`` the low-resolution input of length ``h`` and ``s`` the factor:

* ``UpSampling2D(nearest, s) -> Conv2D(k, stride 1, pads (pt, pb))``. The upsampled row ``q`` is
  ``x[floor(q / s)]``, so the output row ``o = s*i + a`` (phase ``a``) is
  ``sum_t w[t] * up[o - pt + t] = sum_t w[t] * x[i + floor((a - pt + t) / s)]``.
* ``BedOfNails2D(s) -> Conv2D``: the upsampled row ``q`` is ``x[q / s]`` where ``q % s == 0`` and zero
  elsewhere, so only the taps with ``(a - pt + t) % s == 0`` contribute, reading low row
  ``i + (a - pt + t) / s`` (the "nails" selection).
* ``Conv2DTranspose(k, stride 1)`` is a correlation. The layer (``layers.conv_transpose``) keeps rows
  ``[before, before + n)`` of the full transposed convolution ``full[r] = sum_t w[t] x[r - t]`` (zeros
  past its end, ``crops()`` gives ``(before, n)``), so ``y[o] = sum_t w[t] x[o + before - t]``; with
  ``c = k - 1 - t`` that is ``sum_c w[k - 1 - c] x[o - pt + c]``, ``pt = k - 1 - before``: a stride-1
  correlation with the flipped kernel (channels swapped: ``(C, O)`` -> ``(O, C)``) and pads
  ``(pt, n - i - pt + k - 1)``, the zero-extended tail being zero padding. After an upsampling it is
  the two cases above with the flipped kernel.
* ``Conv2DTranspose(k, stride s)``: ``full[s*i + t] += x[i] w[t]``, so output row ``o = s*j + a`` takes
  the taps with ``(a + before - t) % s == 0``, from low row ``j + (a + before - t) / s``; with
  ``c = k - 1 - t`` that is the nails selection of the flipped kernel with ``pt = k - 1 - before``:
  ``BedOfNails2D(s)`` followed by the stride-1 transposed convolution, with no upsampled tensor.

All of them: phase ``a`` reads low rows ``i + d`` with ``d`` in ``[dmin, dmax]``, through the selection
``M[a, d - dmin, t]`` (1 where phase ``a``'s tap ``t`` of the layer's own kernel reads offset ``d``;
summed where several taps read the same row, zero where none does). The ``s*s`` phases' kernels
``W'[o, a, b, c] = Mh[a] w[o, c] Mw[b]^T`` are folded into one convolution of the low-resolution
input with ``O*s*s`` filters of ``K'h x K'w = (dmax - dmin + 1)`` taps, padded so each phase gives
``ceil(n / s)`` rows; ``pixel_shuffle`` interleaves the phases and a crop keeps ``n`` rows. The fold
is a matrix product with the layer's own Parameter, so autograd reaches it (and its bias, repeated
per phase) directly. (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an
Efficient Sub-Pixel Convolutional Neural Network", for the sub-pixel/phase view.)

Where the C kernels are built (``convolab.engine.native``): the shuffle with its crop (and ReLU) is one
pass (``shuffle``), and a layer with many inputs and few outputs runs as one direct convolution that
reads only each phase's span of taps (``subpixel``; phases with fewer taps than the longest, or none,
read zero folded weights). A 2 x 2 folded window of a 16 -> 1 layer at factor 2 (k = 3 bed of nails
or stride-2 transpose) gets a zero row and column there, so the kernel's specialised 3 x 3 case (read
2 x 2 per phase) runs it, faster than its generic 2 x 2 path (docs/speed.md).

The lone stride-1 transposed convolution needs no phases:
:class:`FlippedConv` is one ``F.conv2d`` with the flipped kernel and explicit pads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from convolab.engine.native import available as native_available
from convolab.engine.native import shuffle as kernel_shuffle
from convolab.engine.native import subpixel as kernel_subpixel

if TYPE_CHECKING:
    from convolab.layers.conv import Conv2D
    from convolab.layers.conv_transpose import Conv2DTranspose
    from convolab.layers.upsampling import _Upsample

Pads = tuple[int, int]


# The subpixel C kernel runs up to 16 input channels, where it pays. benchmarks/rewrites.py on AMD EPYC
# Zen 3 (2 threads, training steps, kernel off / on): 16 -> 1 last layers 1.06x (seed-upsampling) and
# 1.08x (seed-transpose); at 32 input channels 0.99x (wide, 32 -> 1) and 1.00x (rgb64, 32 -> 3): no gain
# for its code there (docs/speed.md). Tests raise the bound to reach the kernel at any channel count.
SUBPIXEL_MAX_CHANNELS = 16


def phase_taps(
    s: int, k: int, pad_before: int, *, nails: bool = False, flip: bool = False
) -> tuple[torch.Tensor, int]:
    """Selection ``M[a, u, t] = 1`` where phase ``a`` reads low row offset ``u + dmin`` with tap ``t``.

    The correlation tap ``c`` of phase ``a`` reads upsampled row ``s*i + a - pad_before + c``, i.e. low
    row ``i + floor((a - pad_before + c) / s)``; ``nails`` keeps only the taps where that division is
    exact (bed of nails: the other upsampled rows are zeros). ``flip``: the layer's kernel is the
    correlation kernel reversed (a transposed convolution), so tap ``t = k - 1 - c``.
    Returns ``(M, dmin)``; ``M`` has shape ``(s, K', k)`` with ``K' = dmax - dmin + 1``.
    """
    hits = []  # (phase, low-row offset, layer tap)
    for a in range(s):
        for c in range(k):
            q = a - pad_before + c
            if not nails or q % s == 0:
                hits.append((a, q // s, k - 1 - c if flip else c))  # floor division
    dmin = min(d for _, d, _ in hits)
    dmax = max(d for _, d, _ in hits)
    m = torch.zeros(s, dmax - dmin + 1, k)
    for a, d, t in hits:
        m[a, d - dmin, t] = 1.0
    return m, dmin


def _spans(m: torch.Tensor) -> tuple[tuple[int, int], ...] | None:
    """Each phase's read offsets ``[first, first + T)`` for the C kernel (``T`` the longest phase's
    count; a shorter or empty phase reads extra offsets, whose folded weights are 0), or None where a
    phase's offsets are not contiguous."""
    used = [torch.nonzero(m[a].sum(dim=1)).flatten().tolist() for a in range(m.shape[0])]
    if any(u and u != list(range(u[0], u[-1] + 1)) for u in used):
        return None
    t, k = max(len(u) for u in used), m.shape[1]
    return tuple((min(u[0], k - t), min(u[0], k - t) + t) if u else (0, t) for u in used)


def _common_shape(conv: PhaseConv, layer: Conv2D | Conv2DTranspose) -> bool:
    """Whether the folded windows are 2 x 2 and the layer the C kernel's specialised case (16 input
    channels, 1 output, factor 2: ``common_case`` in subpixel_conv.c) once they are 3 x 3, and the
    kernels are built."""
    w = layer.weight
    if w is None or conv.s != 2 or conv.mh.shape[1] != 2 or conv.mw.shape[1] != 2:
        return False
    c, o = (w.shape[0], w.shape[1]) if conv.transposed else (w.shape[1], w.shape[0])
    return c == kernel_subpixel.LANES and o == 1 and native_available()


class PhaseConv:
    """One phase convolution (see the module doc): ``in_hw -> out_hw`` by factor ``s``.

    Args:
        layer: the Conv2D or Conv2DTranspose whose ``weight`` and ``bias`` Parameters are used.
        s: the factor (upsampling size or transposed stride; square).
        nails: bed-of-nails selection (else nearest).
        pads: ``(pad_top, pad_left)`` of the stride-1 correlation in upsampled coordinates.
        in_hw, out_hw: the low-resolution input size and the output size (the crop).
        native: the C kernels to use ("subpixel": the whole convolution, else "shuffle": its shuffle).
        relu: apply the layer's ReLU here (in the kernel's pass where one runs).

    Attributes: ``mh``, ``mw`` the selections (``phase_taps``); ``fused`` the C kernel's geometry or
    None; ``specialised`` whether the 2 x 2 windows were padded to the kernel's 3 x 3 case.
    """

    def __init__(
        self,
        layer: Conv2D | Conv2DTranspose,
        s: int,
        *,
        nails: bool,
        pads: Pads,
        in_hw: tuple[int, int],
        out_hw: tuple[int, int],
        native: Collection[str] = frozenset(),
        relu: bool = False,
    ) -> None:
        from convolab.layers.conv_transpose import Conv2DTranspose

        self.layer, self.s, self.out_hw = layer, s, out_hw
        self.rewrite = "sub-pixel"  # what convolab.engine.explain reports (the factories name the pattern)
        self.transposed = isinstance(layer, Conv2DTranspose)  # weight (C, O, kh, kw), flipped taps
        self.shuffle, self.relu = "shuffle" in native, relu
        kh, kw = layer.kernel_size
        self.mh, dh = phase_taps(s, kh, pads[0], nails=nails, flip=self.transposed)
        self.mw, dw = phase_taps(s, kw, pads[1], nails=nails, flip=self.transposed)
        self.specialised = "subpixel" in native and _common_shape(self, layer)
        if self.specialised:
            # the C kernel's specialised case is a 3 x 3 window read 2 x 2 per phase: a 2 x 2 window
            # (bed of nails, strided transposes) gets a row and a column of zero taps at its end
            self.mh, self.mw = F.pad(self.mh, (0, 0, 0, 1)), F.pad(self.mw, (0, 0, 0, 1))
        self._fold: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}  # (kh*kw, s*s*K'h*K'w)
        h, w = in_hw
        ph, pw = math.ceil(out_hw[0] / s), math.ceil(out_hw[1] / s)
        # low-res padding so each phase yields ph x pw outputs; negative values crop
        self.pads = (
            -dw,
            pw - 1 + dw + self.mw.shape[1] - 1 - (w - 1),
            -dh,
            ph - 1 + dh + self.mh.shape[1] - 1 - (h - 1),
        )
        self.fused = self._geometry((dh, dw)) if "subpixel" in native else None
        # where set, what runs when the C kernel declines an input (``strided_transpose``'s layer call)
        self.otherwise: Callable[[torch.Tensor], torch.Tensor] | None = None

    def _geometry(self, offset: tuple[int, int]) -> kernel_subpixel.Geometry | None:
        """The C kernel's geometry: square folded windows, every phase the same number of taps."""
        rows, cols = _spans(self.mh), _spans(self.mw)
        if (
            rows is None
            or cols is None
            or self.mh.shape[1] != self.mw.shape[1]
            or self.s > kernel_subpixel.MAX_FACTOR
        ):
            return None
        if rows[0][1] - rows[0][0] != cols[0][1] - cols[0][0]:
            return None
        return kernel_subpixel.Geometry(self.s, self.mh.shape[1], offset, rows, cols, self.out_hw)

    def kernel_fits(self) -> bool:
        """Whether the subpixel C kernel runs for this layer's float32 channels_last CPU inputs (its
        limits and the plan's channel bound; the library built)."""
        w = self.kernel()
        o, c = w.shape[:2]
        return (
            self.fused is not None
            and c <= SUBPIXEL_MAX_CHANNELS
            and kernel_subpixel.fits(c, o, self.fused)
            and native_available()
        )

    def kernel(self) -> torch.Tensor:
        """The layer's weight as ``(O, C, kh, kw)`` (a view of its Parameter; flipping is in ``M``)."""
        w = self.layer.weight
        if w is None:
            raise RuntimeError(f"{self.layer.label}: not built, no weights to fold (build the model first)")
        return w.transpose(0, 1) if self.transposed else w

    def weight(self, taps_last: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The folded filters ``(O*s*s, C, K'h, K'w)`` in pixel_shuffle's channel order (``taps_last``:
        ``(O*s*s, K'h, K'w, C)``, the C kernel's layout) and the bias repeated per phase.

        ``W'[o, a, b, c, u, v] = sum_{t, l} Mh[a, u, t] Mw[b, v, l] w[o, c, t, l]``: one matrix
        product of the ``(O*C, kh*kw)`` filters with the fixed selection ``(s*s*K'h*K'w, kh*kw)``
        (an einsum of the three costs ~5x more per step, forward and backward).
        """
        w = self.kernel()
        key = (w.device, w.dtype)
        if key not in self._fold:  # one host-to-device copy per device, not per step
            fold = torch.einsum("aut,bvl->abuvtl", self.mh, self.mw)
            self._fold[key] = fold.reshape(-1, fold.shape[-2] * fold.shape[-1]).t().contiguous().to(w)
        o, c, kh, kw = w.shape
        s, uh, uw = self.s, self.mh.shape[1], self.mw.shape[1]
        w2 = (w.reshape(o * c, kh * kw) @ self._fold[key]).view(o, c, s, s, uh, uw)
        if taps_last:
            w2 = w2.permute(0, 2, 3, 4, 5, 1).reshape(o * s * s, uh, uw, c)
        else:
            w2 = w2.permute(0, 2, 3, 1, 4, 5).reshape(o * s * s, c, uh, uw)
        b = self.layer.bias
        return w2, (b.repeat_interleave(s * s) if b is not None else None)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        w = self.layer.weight
        if (
            self.fused is not None
            and w is not None
            and x.shape[1] <= SUBPIXEL_MAX_CHANNELS
            and kernel_subpixel.eligible(x, self.kernel(), self.fused)
        ):
            wt, b2 = self.weight(taps_last=True)
            return kernel_subpixel.subpixel_conv(x, wt, b2, self.fused, relu=self.relu)
        if self.otherwise is not None:
            y = self.otherwise(x)
            return torch.relu(y) if self.relu else y
        w2, b2 = self.weight()
        left, right, top, bottom = self.pads
        if left == right and top == bottom and left >= 0 and top >= 0:
            y = F.conv2d(x, w2, b2, padding=(top, left))
        else:
            y = F.conv2d(F.pad(x, (left, right, top, bottom)), w2, b2)
        if self.shuffle and kernel_shuffle.eligible(y, self.s):  # one pass, crop (and ReLU) included
            return kernel_shuffle.shuffle_crop(y, self.s, self.out_hw, relu=self.relu)
        y = F.pixel_shuffle(y, self.s)  # (N, O, ph*s, pw*s)
        y = y[:, :, : self.out_hw[0], : self.out_hw[1]]
        return torch.relu(y) if self.relu else y


def _transpose_pads(
    layer: Conv2DTranspose, input_shape: tuple[int, ...]
) -> tuple[Pads, Pads, tuple[int, int]]:
    """``((pt, pb), (pl, pr), (nh, nw))``: the stride-1 correlation's pads per axis (in the input's
    coordinates, upsampled where ``input_shape`` is) and the output size, from the layer's ``crops()``."""
    crops = layer.crops(input_shape)
    pads = []
    for (before, n), i, k in zip(crops, input_shape[1:], layer.kernel_size, strict=True):
        pt = k - 1 - before
        pads.append((pt, n - int(i) - pt + k - 1))
    return pads[0], pads[1], (crops[0][1], crops[1][1])


def after_upsampling(
    up: _Upsample,
    layer: Conv2D | Conv2DTranspose,
    in_shape: tuple[int, ...],
    native: Collection[str] = frozenset(),
    relu: bool = False,
) -> PhaseConv:
    """``layer(up(x))`` for a square UpSampling2D(nearest) or BedOfNails2D ``up`` and a stride-1,
    undilated Conv2D ('same'/'valid') or Conv2DTranspose ``layer``; ``in_shape``: ``x``'s ``(C, H, W)``."""
    from convolab.layers.conv_transpose import Conv2DTranspose
    from convolab.layers.padding import padding_amounts
    from convolab.layers.upsampling import BedOfNails2D

    s, (c, h, w) = up.size[0], in_shape
    if isinstance(layer, Conv2DTranspose):
        (pt, _), (pl, _), out_hw = _transpose_pads(layer, (c, h * s, w * s))
    else:
        (kh, kw) = layer.kernel_size
        (pt, pb), (pl, pr) = (
            padding_amounts(h * s, kh, 1, layer.padding),
            padding_amounts(w * s, kw, 1, layer.padding),
        )
        out_hw = (h * s + pt + pb - kh + 1, w * s + pl + pr - kw + 1)
    nails = isinstance(up, BedOfNails2D)
    op = PhaseConv(
        layer, s, nails=nails, pads=(pt, pl), in_hw=(h, w), out_hw=out_hw, native=native, relu=relu
    )
    op.rewrite = "sub-pixel"
    return op


def strided_transpose(
    layer: Conv2DTranspose,
    in_shape: tuple[int, ...],
    native: Collection[str] = frozenset(),
    relu: bool = False,
) -> PhaseConv:
    """An undilated Conv2DTranspose with square stride ``s``: the nails phase convolution of its
    flipped kernel (module doc); ``in_shape``: its input's ``(C, H, W)``."""
    s = layer.strides[0]
    (pt, _), (pl, _), out_hw = _transpose_pads(layer, in_shape)
    hw = (in_shape[1], in_shape[2])
    op = PhaseConv(layer, s, nails=True, pads=(pt, pl), in_hw=hw, out_hw=out_hw, native=native, relu=relu)
    op.rewrite = "sub-pixel (strided transpose)"
    return op


class FlippedConv:
    """A stride-1, undilated Conv2DTranspose as one ``F.conv2d``: the kernel ``(C, O, kh, kw)`` as
    ``(O, C, kh, kw)`` flipped in both taps, pads ``(k - 1 - before, n - i - (k - 1 - before) + k - 1)``
    per axis (``F.pad`` where they are unequal or negative), the bias inside the convolution."""

    rewrite = "flipped conv"  # what convolab.engine.explain reports

    def __init__(self, layer: Conv2DTranspose, in_shape: tuple[int, ...]) -> None:
        self.layer = layer
        (pt, pb), (pl, pr), self.out_hw = _transpose_pads(layer, in_shape)
        self.pads = (pl, pr, pt, pb)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.layer.weight
        if weight is None:
            raise RuntimeError(f"{self.layer.label}: not built (build the model first)")
        w = weight.transpose(0, 1).flip(2, 3)  # (O, C, kh, kw), taps reversed
        left, right, top, bottom = self.pads
        if left == right and top == bottom and left >= 0 and top >= 0:
            return F.conv2d(x, w, self.layer.bias, padding=(top, left))
        return F.conv2d(F.pad(x, self.pads), w, self.layer.bias)
