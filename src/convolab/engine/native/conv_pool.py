"""``relu(max_pool2d(conv2d(x)))`` for a first layer, in one C pass each way (``conv_pool_relu.c``, its
backward ``conv_pool_relu_grad.c``, what they share ``conv_pool_relu.h``).

A model's first ``Conv2D(relu) -> MaxPool2D`` sees the data (1-3 channels) and writes the step's
largest tensor: 16 x 28 x 28 floats per image for the lecture's model, 12.8 MB at batch 256, which
PyTorch's path writes in the convolution, reads in the pool, zero-fills and scatters in the pool's
backward, and reads again for the weight gradient. This kernel computes each pooled pixel's window
of convolution outputs in registers and keeps only the pooled value and its winner (one byte); the
backward sums the weight and bias gradients from the winners alone. The data needs no gradient, so
none is computed for it: the kernel applies only where ``x.requires_grad`` is false.

The same function as the PyTorch path, not bit for bit: the convolution's sums run in another order
than oneDNN's (bias, then taps in row-major order, then channels), so values differ in the last bits
(tests/test_native.py bounds them against a float64 reference, and requires equality where every
sum is exact). The weight gradient is summed per image (one chain per tap, each window's products
in position order), the images added in order into partial sums over chunks of 8 images, the chunks
added in order: the same for any number of threads. The C file has a specialised path for 3x3
kernels on 1 or 3 channels with 2x2 windows (the lecture's first layer) that sums as its generic
path does, but for the windows cut short by ceil mode, which it adds after the whole ones
(conv_pool_relu.h's header says how); ``SPECIALISED = False`` runs the generic path everywhere (the
tests compare the two).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import torch

from convolab.engine.native import build, trace

MAX_TAPS = 75  # kh * kw * C_in (TMAX in conv_pool_relu.h): 5x5 RGB; wider first layers go to oneDNN
MAX_FILTERS = 256  # PMAX in conv_pool_relu.h
MAX_WINDOW = 254  # WMAX
LANES = 16  # OB: filters are padded to a multiple
CHUNK = 8  # images per partial sum of the weight gradient (CHUNK)
SLACK = 64  # floats after each chunk's padded image (SLACK)
SPECIALISED = True  # the C file's 3x3 / C in {1, 3} / 2x2-window path where it applies (tests: False)


@dataclass(frozen=True)
class Geometry:
    """A ``Conv2D(stride 1) -> MaxPool2D(non-overlapping)`` pair on a known input size."""

    pads: tuple[int, int]  # zero rows above / columns left of the input
    conv_hw: tuple[int, int]  # the convolution's output size
    pool_size: tuple[int, int]  # also the pool's strides
    out_hw: tuple[int, int]  # the pool's output: floor or ceil of conv_hw / pool_size

    def __post_init__(self) -> None:
        for z, k, o in zip(self.conv_hw, self.pool_size, self.out_hw, strict=True):
            if o not in (z // k, -(-z // k)) or o < 1:
                raise ValueError(
                    f"conv_pool: output {self.out_hw} is neither floor nor ceil of "
                    f"{self.conv_hw} / {self.pool_size}"
                )


def eligible(x: torch.Tensor, weight: torch.Tensor, geometry: Geometry) -> bool:
    """Whether :func:`conv_pool_relu` runs the C kernel on this input (else the PyTorch path runs)."""
    o, c, kh, kw = weight.shape
    ph, pw = geometry.pool_size
    return (
        not x.requires_grad
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")  # --amp bf16 runs its convolutions in bf16
        and x.dim() == 4
        and x.shape[1] == c
        and x.shape[0] > 0
        and x.is_contiguous(memory_format=torch.channels_last)
        and kh * kw * c <= MAX_TAPS
        and o <= MAX_FILTERS
        and ph * pw <= MAX_WINDOW
        and build.library() is not None
    )


def _dims(x: torch.Tensor, weight: torch.Tensor, g: Geometry) -> tuple[int, ...]:
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    p = -(-o // LANES) * LANES
    (hz, wz), (ph, pw), (ho, wo) = g.conv_hw, g.pool_size, g.out_hw
    return (n, h, w, c, o, p, kh, kw, g.pads[0], g.pads[1], hz, wz, ph, pw, ho, wo, int(SPECIALISED))


def _padded_buffer(dims: tuple[int, ...]) -> torch.Tensor:
    """One zero-padded image per chunk of ``CHUNK`` images (the C side fills it), and ``SLACK``
    floats after each (read past a row's end by the backward's vector code, never used)."""
    n, c, kh, kw, hz, wz = dims[0], dims[3], dims[6], dims[7], dims[10], dims[11]
    return torch.empty((-(-n // CHUNK), (hz + kh - 1) * (wz + kw - 1) * c + SLACK))


class _ConvPoolReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, dims, winners):
        lib = build.loaded()  # eligible() checked it
        n, o, p, kh, kw, ho, wo = dims[0], dims[4], dims[5], dims[6], dims[7], dims[14], dims[15]
        w = weight.detach().permute(2, 3, 1, 0)  # (kh, kw, C, O): filters last
        if o == p:  # no lanes to pad (one op fewer each: this runs every step)
            wt = w.contiguous()
        else:
            wt = weight.new_zeros((kh, kw, weight.shape[1], p))
            wt[..., :o] = w
        if bias is not None and o == p and bias.dtype == torch.float32 and bias.is_contiguous():
            b = bias.detach()
        else:
            b = weight.new_zeros(p)
            if bias is not None:
                b[:o] = bias.detach()
        y = torch.empty((n, o, ho, wo), memory_format=torch.channels_last)
        idx = torch.empty((n, ho, wo, o), dtype=torch.uint8)
        pad = _padded_buffer(dims)
        lib.conv_pool_relu_forward(
            x.data_ptr(),
            wt.data_ptr(),
            b.data_ptr(),
            y.data_ptr(),
            idx.data_ptr(),
            pad.data_ptr(),
            (ctypes.c_int64 * len(dims))(*dims),
        )
        ctx.save_for_backward(x, idx)
        ctx.dims, ctx.has_bias, ctx.weight_like = dims, bias is not None, weight.detach()
        if winners:
            ctx.mark_non_differentiable(idx)
            return y, idx
        return y

    @staticmethod
    def backward(ctx, grad, *_winners):
        x, idx = ctx.saved_tensors
        dims = ctx.dims
        n, c, o, p, kh, kw = dims[0], dims[3], dims[4], dims[5], dims[6], dims[7]
        g = grad.contiguous(memory_format=torch.channels_last).float()  # no copy where it already is
        dw, db = torch.empty((kh, kw, c, p)), torch.empty(p)
        scratch = torch.empty((-(-n // CHUNK), kh * kw * c * p + p))
        pad = _padded_buffer(dims)
        lib = build.loaded()
        lib.conv_pool_relu_backward(
            x.data_ptr(),
            g.data_ptr(),
            idx.data_ptr(),
            dw.data_ptr(),
            db.data_ptr(),
            scratch.data_ptr(),
            pad.data_ptr(),
            (ctypes.c_int64 * len(dims))(*dims),
        )
        gw = torch.empty_like(ctx.weight_like).copy_(dw[..., :o].permute(3, 2, 0, 1))  # the weight's layout
        gb = (db if o == p else db[:o].clone()) if ctx.has_bias else None
        return None, gw, gb, None, None


def conv_pool_relu(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    geometry: Geometry,
    *,
    winners: bool = False,
):
    """``relu(max_pool2d(conv2d(x, weight, bias, padding), pool_size))`` (``eligible`` first);
    ``winners=True``: ``(y, winner)``, the uint8 ``(N, Ho, Wo, O)`` winners as ``pool.pool_relu``'s.

    Args:
        x: ``(N, C, H, W)`` float32 channels_last on the CPU, not requiring grad.
        weight, bias: the convolution's ``(O, C, kh, kw)`` and ``(O,)`` (or None); stride 1.
        geometry: the pads and sizes (:class:`Geometry`).

    Output shape:
        ``(N, O, Ho, Wo)``, channels_last.
    """
    trace.record("conv_pool")
    return _ConvPoolReLU.apply(x, weight, bias, _dims(x, weight, geometry), winners)
