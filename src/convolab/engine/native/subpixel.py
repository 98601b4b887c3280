"""The sub-pixel convolution in one C pass each way (``subpixel_conv.c``): conv, shuffle, crop, ReLU.

``convolab.engine.phase_conv`` turns ``UpSampling2D(s) -> Conv2D(k)`` (and its bed-of-nails and
transposed relatives) into a low-resolution convolution with
``O * s * s`` folded filters and a ``pixel_shuffle``. Each output phase reads only part of the folded
``K x K`` window (for ``s = 2, k = 3``: 2 x 2 of 3 x 3, so oneDNN multiplies 5 zeros in every 9), and
with few output channels (``O * s * s = 4`` for an image's last layer) oneDNN's output-channel vectors
are mostly empty. This kernel vectorizes along the rows instead, skips the zero taps, and writes
the shuffled, cropped (and ReLU'd) output directly; the backward computes the input gradient and the
folded weights' and bias' gradients in one pass, so ``pixel_unshuffle`` and its zero padding never run.

The same function as PyTorch's path, not bit for bit: each output is one sequential sum (bias, then
the phase's taps row by row, channels innermost), exact where the sums are (integer values: tests
check it) and within rounding elsewhere; the weight gradient is summed per chunk of 8 images added
in order, so it does not depend on the number of threads.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import torch

from convolab.engine.native import build, trace

LANES = 16  # VL in subpixel_conv.c: the input channels must be a multiple
MAX_FACTOR = 8  # SMAX: upsampling factors up to 8
CHUNK = 8  # images per partial sum of the weight gradient
MAX_WINDOW = 16  # KMAX: the folded window's side
MAX_TAPS = 8  # TMAX: each phase's taps per axis
MAX_PHASES = 64  # PMAX: output channels x s x s (few: where oneDNN's output-channel vectors are empty)
MAX_CHANNELS = 4096  # MAXC: input channels
MAX_PLANE_BYTES = 256 * 2**20  # the backward's gradient planes, all chunks; larger runs PyTorch's path


@dataclass(frozen=True)
class Geometry:
    """A sub-pixel convolution: factor ``s``, folded ``K x K`` window at low-res offset ``(dh, dw)``,
    each phase's tap rows ``[rows[a][0], rows[a][1])`` and columns, the output size (the crop)."""

    s: int
    k: int
    offset: tuple[int, int]
    rows: tuple[tuple[int, int], ...]
    cols: tuple[tuple[int, int], ...]
    out_hw: tuple[int, int]

    def __post_init__(self) -> None:
        if not 1 <= self.s <= MAX_FACTOR:
            raise ValueError(f"subpixel: factor {self.s} is not in 1..{MAX_FACTOR}")
        for spans in (self.rows, self.cols):
            if len(spans) != self.s or any(not 0 <= a < b <= self.k for a, b in spans):
                raise ValueError(f"subpixel: phase taps {spans} do not fit a window of {self.k}")
        if len({b - a for a, b in self.rows + self.cols}) != 1:
            raise ValueError(f"subpixel: phases of unequal taps {self.rows}, {self.cols}")


def phase_spans(m: torch.Tensor) -> tuple[tuple[int, int], ...]:
    """Each phase's taps ``[first, first + T)`` of a selection ``M[a, u, t]`` (engine.phase_conv), ``T`` the
    longest phase's count: a shorter phase also reads taps of the window whose folded weight is 0
    (the C kernel gives every phase T taps; for s = 2 and odd k all phases have the same count)."""
    spans = []
    for a in range(m.shape[0]):
        used = torch.nonzero(m[a].sum(dim=1)).flatten().tolist()
        if used != list(range(used[0], used[-1] + 1)):
            raise ValueError(f"subpixel: phase {a}'s taps {used} are not contiguous")
        spans.append((used[0], used[-1] + 1))
    t, k = max(b - a for a, b in spans), m.shape[1]
    return tuple((min(a, k - t), min(a, k - t) + t) for a, _ in spans)


def _dims(x: torch.Tensor, weight: torch.Tensor, g: Geometry, relu: bool) -> list[int]:
    n, c, h, w = x.shape
    o = weight.shape[0] // (g.s * g.s)
    pad = [0] * (MAX_FACTOR - g.s)
    return [
        n,
        h,
        w,
        c,
        o,
        g.s,
        g.k,
        g.offset[0],
        g.offset[1],
        g.out_hw[0],
        g.out_hw[1],
        int(relu),
        *(a for a, _ in g.rows),
        *pad,
        *(b for _, b in g.rows),
        *pad,
        *(a for a, _ in g.cols),
        *pad,
        *(b for _, b in g.cols),
        *pad,
    ]


def _plane_cells(x: torch.Tensor, g: Geometry) -> int:
    """Floats in one phase's gradient plane ``(Hg, Wg)`` of one image (``init_geom`` in the C file)."""
    h, w = x.shape[2:]
    (dh, dw), k = g.offset, g.k
    ph, pw = -(-g.out_hw[0] // g.s), -(-g.out_hw[1] // g.s)
    return (max(h - dh, ph) + max(0, k - 1 + dh)) * (max(w - dw, pw) + max(0, k - 1 + dw))


def fits(c: int, o: int, g: Geometry) -> bool:
    """Whether the kernel's limits admit ``c`` input and ``o`` output channels at geometry ``g`` (what
    :func:`eligible` checks that does not depend on the input tensor)."""
    return (
        c % LANES == 0
        and c <= MAX_CHANNELS
        and o * g.s * g.s <= MAX_PHASES
        and g.k <= MAX_WINDOW
        and g.rows[0][1] - g.rows[0][0] <= MAX_TAPS
    )


def eligible(x: torch.Tensor, weight: torch.Tensor, g: Geometry) -> bool:
    """Whether :func:`subpixel_conv` runs the C kernel for the layer's ``(O, C, kh, kw)`` filters
    ``weight`` (else PyTorch's conv and shuffle run)."""
    o, c = weight.shape[:2]
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")  # --amp bf16 runs its convolutions in bf16
        and x.dim() == 4
        and x.shape[0] > 0
        and x.shape[1] == c
        and fits(c, o, g)
        and x.is_contiguous(memory_format=torch.channels_last)
        and 4 * -(-x.shape[0] // CHUNK) * o * g.s * g.s * _plane_cells(x, g) <= MAX_PLANE_BYTES
        and build.library() is not None
    )


class _SubPixel(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, dims, plane):
        n, o, ho, wo = dims[0], dims[4], dims[9], dims[10]
        wt = weight.detach().contiguous()  # (P, K, K, C): channels innermost
        b = bias.detach().contiguous() if bias is not None else weight.new_zeros(weight.shape[0])
        y = torch.empty((n, o, ho, wo), memory_format=torch.channels_last)
        arr = (ctypes.c_int64 * len(dims))(*dims)
        build.loaded().subpixel_forward(x.data_ptr(), wt.data_ptr(), b.data_ptr(), y.data_ptr(), arr)
        ctx.save_for_backward(x, wt, y if dims[11] else None)
        ctx.dims, ctx.plane, ctx.has_bias = dims, plane, bias is not None
        return y

    @staticmethod
    def backward(ctx, grad):
        x, wt, y = ctx.saved_tensors
        dims = ctx.dims
        g = grad.contiguous(memory_format=torch.channels_last).float()
        p, k, c = wt.shape[0], wt.shape[1], wt.shape[3]
        gx = torch.empty_like(x, memory_format=torch.channels_last) if ctx.needs_input_grad[0] else None
        dw, db = torch.empty((p, k, k, c)), torch.empty(p)
        chunks = -(-dims[0] // CHUNK)
        scratch, planes = torch.empty((chunks, p * k * k * c + p)), torch.empty((chunks, ctx.plane))
        build.loaded().subpixel_backward(
            x.data_ptr(),
            wt.data_ptr(),
            g.data_ptr(),
            y.data_ptr() if y is not None else None,
            gx.data_ptr() if gx is not None else None,
            dw.data_ptr(),
            db.data_ptr(),
            scratch.data_ptr(),
            planes.data_ptr(),
            (ctypes.c_int64 * len(dims))(*dims),
        )
        return gx, dw, (db if ctx.has_bias else None), None, None


def subpixel_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    geometry: Geometry,
    *,
    relu: bool = False,
) -> torch.Tensor:
    """``pixel_shuffle(conv2d(pad(x), weight, bias), s)[:, :, :Ho, :Wo]`` (``relu``: then ReLU), skipping
    each phase's zero taps (``eligible`` first).

    Args:
        x: ``(N, C, h, w)`` float32 channels_last on the CPU (the low-resolution input).
        weight: the folded ``(O * s * s, K, K, C)`` filters (``engine.phase_conv``'s
            ``weight(taps_last=True)``), pixel_shuffle's order; zero outside each phase's taps
            (``geometry.rows``/``cols``: the kernel does not read them, and their gradient is 0).
        bias: ``(O * s * s,)`` or None.
        geometry: :class:`Geometry`; ``offset`` places the window: phase output ``(i, j)`` reads
            input rows ``i + offset[0] + u``.

    Output shape:
        ``(N, O, Ho, Wo)``, channels_last.
    """
    plane = weight.shape[0] * _plane_cells(x, geometry)
    trace.record("subpixel")
    return _SubPixel.apply(x, weight, bias, _dims(x, weight, geometry, relu), plane)
