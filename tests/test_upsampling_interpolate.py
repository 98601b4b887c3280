"""UpSampling2D(2) runs through F.interpolate: the values of np.repeat, gradient = block sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convolab.layers.upsampling import UpSampling2D


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("hw", [(7, 7), (4, 5), (1, 3)])
def test_doubling_is_numpy_repeat_and_block_sum_gradient(dtype, channels_last, hw):
    torch.manual_seed(0)
    x = torch.randn(3, 5, *hw).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    y = UpSampling2D(2)(x)
    want = np.repeat(np.repeat(x.detach().float().numpy(), 2, axis=2), 2, axis=3)
    assert y.dtype == dtype and torch.equal(y.float(), torch.from_numpy(want))  # bitwise: a copy
    if channels_last:  # stays NHWC for the next oneDNN convolution (no reorder)
        assert y.is_contiguous(memory_format=torch.channels_last)
    g = torch.randn(y.shape).to(dtype)
    y.backward(g)
    h, w = hw
    blocks = g.double().numpy().reshape(3, 5, h, 2, w, 2).sum(axis=(3, 5))  # (N, C, H, W)
    tol = 1e-6 if dtype == torch.float32 else 3e-2
    np.testing.assert_allclose(x.grad.double().numpy(), blocks, rtol=tol, atol=tol)


def test_other_factors_keep_the_integer_repeat():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    y = UpSampling2D((3, 2))(x)
    want = np.repeat(np.repeat(x.numpy(), 3, axis=2), 2, axis=3)
    assert torch.equal(y, torch.from_numpy(want))
