"""``pixel_shuffle(x, s)[:, :, :Ho, :Wo]`` (then ReLU) and its backward, a C pass each (pixel_shuffle.c).

For the plan's phase convolutions (``convolab.engine.phase_conv``): PyTorch's path is ``pixel_shuffle``,
a copy for the crop where the next layer needs a dense tensor, and in the backward a zero-padded
gradient through ``pixel_unshuffle``, and the convolution's ReLU with its ``threshold_backward``;
these are one pass each, writing each element once, on channels_last tensors. Pure moves and
selects: PyTorch's values bit for bit (tests/test_native.py).
"""

from __future__ import annotations

import torch

from convolab.engine.native import build, trace


def eligible(x: torch.Tensor, s: int) -> bool:
    """Whether :func:`shuffle_crop` runs the C kernels on ``x`` (else PyTorch's ops run)."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and s >= 1
        and x.shape[1] % (s * s) == 0
        and x.numel() > 0
        and x.is_contiguous(memory_format=torch.channels_last)
        and build.library() is not None
    )


class _ShuffleCrop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, s, ho, wo, relu):
        n, c, h, w = x.shape
        o = c // (s * s)
        y = torch.empty((n, o, ho, wo), memory_format=torch.channels_last)
        lib = build.loaded()  # eligible() checked it
        lib.pixel_shuffle_forward(x.data_ptr(), y.data_ptr(), n, h, w, o, s, ho, wo, int(relu))
        ctx.geometry, ctx.relu = (n, c, h, w, o, s, ho, wo), relu
        if relu:
            ctx.save_for_backward(y)  # the next layer keeps it anyway: no extra memory
        return y

    @staticmethod
    def backward(ctx, grad):
        n, c, h, w, o, s, ho, wo = ctx.geometry
        g = grad.contiguous(memory_format=torch.channels_last).float()
        gx = torch.empty((n, c, h, w), memory_format=torch.channels_last)
        lib = build.loaded()
        y = ctx.saved_tensors[0].data_ptr() if ctx.relu else None
        lib.pixel_shuffle_backward(g.data_ptr(), y, gx.data_ptr(), n, h, w, o, s, ho, wo)
        return gx, None, None, None, None


def shuffle_crop(x: torch.Tensor, s: int, out_hw: tuple[int, int], *, relu: bool = False) -> torch.Tensor:
    """``pixel_shuffle(x, s)[:, :, :Ho, :Wo]`` (``relu``: then ``torch.relu``), dense and channels_last
    (``eligible`` first).

    Args:
        x: ``(N, O * s * s, h, w)`` float32 channels_last on the CPU.
        s: the upsampling factor.
        out_hw: ``(Ho, Wo)``, at most ``(s * h, s * w)``.
    """
    ho, wo = out_hw
    if not (0 < ho <= s * x.shape[2] and 0 < wo <= s * x.shape[3]):
        raise ValueError(f"shuffle_crop: output {out_hw} is not inside {(s * x.shape[2], s * x.shape[3])}")
    trace.record("shuffle")
    return _ShuffleCrop.apply(x, s, ho, wo, bool(relu))
