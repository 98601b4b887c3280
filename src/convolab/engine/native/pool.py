"""``relu(max_pool2d(z))`` for non-overlapping windows in one C pass each way (``pool_relu.c``).

The plan (``convolab.engine.plan``) pools a ``Conv2D(relu) -> MaxPool2D`` pair before its ReLU. PyTorch
then runs four kernels over the conv's output: ``max_pool2d_with_indices`` (int64 indices),
``relu_``, and backward ``threshold_backward`` plus ``max_pool2d_with_indices_backward``, which first
zero-fills the whole input gradient and then scatters into it. For the lecture's first layer that is
a 12.8 MB tensor at batch 256, written twice. Here the forward keeps one byte per pooled value (the
winner's window position, or "no gradient" where the ReLU is off) and the backward writes each input
gradient element once. Same values bit for bit as the PyTorch path (tests/test_native.py): the first
maximum in row-major window order wins, NaN wins, ReLU keeps NaN, and its backward passes the
gradient wherever its output is not <= 0 (NaN included), as ``threshold_backward`` does.
"""

from __future__ import annotations

import torch

from convolab.engine.native import build, trace

MAX_WINDOW = 254  # window positions fit a byte; 255 marks "no gradient"
DEAD = 255


def eligible(z: torch.Tensor, pool_size: tuple[int, int]) -> bool:
    """Whether :func:`pool_relu` runs the C kernels on ``z`` (else the caller's PyTorch path runs)."""
    kh, kw = pool_size
    return (
        z.device.type == "cpu"
        and z.dtype == torch.float32
        and z.dim() == 4
        and z.is_contiguous(memory_format=torch.channels_last)
        and 0 < kh * kw <= MAX_WINDOW
        and z.numel() > 0
        and build.library() is not None
    )


class _PoolReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, kh: int, kw: int, ho: int, wo: int, winners: bool):
        lib = build.loaded()  # eligible() checked it
        n, c, h, w = z.shape
        y = torch.empty((n, c, ho, wo), memory_format=torch.channels_last)
        idx = torch.empty((n, ho, wo, c), dtype=torch.uint8)
        lib.pool_relu_forward(z.data_ptr(), y.data_ptr(), idx.data_ptr(), n, h, w, c, kh, kw, ho, wo)
        ctx.save_for_backward(idx)
        ctx.geometry = (n, c, h, w, kh, kw, ho, wo)
        if winners:
            ctx.mark_non_differentiable(idx)
            return y, idx
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor, *_winners: torch.Tensor):
        (idx,) = ctx.saved_tensors
        n, c, h, w, kh, kw, ho, wo = ctx.geometry
        g = grad.contiguous(memory_format=torch.channels_last)
        if g.dtype != torch.float32:
            g = g.float()
        gz = torch.empty((n, c, h, w), memory_format=torch.channels_last)
        lib = build.loaded()
        lib.pool_relu_backward(g.data_ptr(), idx.data_ptr(), gz.data_ptr(), n, h, w, c, kh, kw, ho, wo)
        return gz, None, None, None, None, None


def pool_relu(z: torch.Tensor, pool_size: tuple[int, int], out_hw: tuple[int, int], *, winners: bool = False):
    """``relu(max_pool2d(z, pool_size, stride=pool_size))`` with output ``out_hw``: floor (a partial
    last window dropped) or ceil (kept, as end-only 'same' padding with -inf); ``eligible`` first.
    ``winners=True`` returns ``(y, winner)`` as well: uint8 ``(N, Ho, Wo, C)``, each window's winner
    ``i * kw + j`` or 255 where ``y`` is <= 0 (the plan's switches, ``convolab.engine.switches``).

    Args:
        z: ``(N, C, H, W)`` float32, channels_last, on the CPU.
        pool_size: ``(kh, kw)``, also the strides.
        out_hw: ``(Ho, Wo)``, each ``floor(H / kh)`` or ``ceil(H / kh)``.
    """
    (kh, kw), (ho, wo) = pool_size, out_hw
    h, w = z.shape[2], z.shape[3]
    if ho not in (h // kh, -(-h // kh)) or wo not in (w // kw, -(-w // kw)):
        raise ValueError(f"pool_relu: output {out_hw} is neither floor nor ceil of {(h, w)} / {pool_size}")
    trace.record("pool")
    return _PoolReLU.apply(z, kh, kw, ho, wo, winners)


class _Unpool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, idx: torch.Tensor, kh: int, kw: int, h: int, w: int, relu: bool):
        lib = build.loaded()  # unpool_eligible() checked it
        n, c, ho, wo = x.shape
        out = torch.empty((n, c, h, w), memory_format=torch.channels_last)
        lib.unpool_forward(
            x.data_ptr(), idx.data_ptr(), out.data_ptr(), n, h, w, c, kh, kw, ho, wo, int(relu)
        )
        ctx.save_for_backward(idx, x if relu else None)
        ctx.geometry = (n, c, h, w, kh, kw, ho, wo, int(relu))
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        idx, x = ctx.saved_tensors
        n, c, h, w, kh, kw, ho, wo, relu = ctx.geometry
        g = grad.contiguous(memory_format=torch.channels_last)
        if g.dtype != torch.float32:
            g = g.float()
        gx = torch.empty((n, c, ho, wo), memory_format=torch.channels_last)
        xp = x.data_ptr() if x is not None else gx.data_ptr()  # read only where relu
        build.loaded().unpool_gather(
            g.data_ptr(), idx.data_ptr(), xp, gx.data_ptr(), n, h, w, c, kh, kw, ho, wo, relu
        )
        return gx, None, None, None, None, None, None


def unpool_eligible(x: torch.Tensor) -> bool:
    """Whether :func:`unpool` runs the C kernels on ``x`` (else the caller's PyTorch path runs)."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and x.numel() > 0
        and build.library() is not None
    )


def unpool(
    x: torch.Tensor,
    winners: torch.Tensor,
    pool_size: tuple[int, int],
    in_hw: tuple[int, int],
    *,
    relu: bool = False,
) -> torch.Tensor:
    """Max unpooling at the winners of a :func:`pool_relu` / ``conv_pool_relu`` pool
    (``unpool_eligible`` first): ``x`` ``(N, C, Ho, Wo)`` (``relu(x)`` where ``relu``) goes to position
    ``winners`` (uint8 ``(N, Ho, Wo, C)``, ``i * kw + j``; ``DEAD`` = the window's first position) of
    each window of an ``in_hw`` plane; zeros elsewhere. Output ``(N, C, H, W)`` channels_last; the
    backward is a gather (masked where ``x <= 0`` when ``relu``, as ReLU's backward)."""
    (kh, kw), (h, w) = pool_size, in_hw
    if x.shape[0] != winners.shape[0] or tuple(winners.shape[1:]) != (x.shape[2], x.shape[3], x.shape[1]):
        raise ValueError(f"unpool: winners {tuple(winners.shape)} do not fit values {tuple(x.shape)}")
    trace.record("pool")  # the pool kernel's library: unpooling at its winners
    return _Unpool.apply(x, winners, kh, kw, h, w, relu)
