"""Conv2D against an independent NumPy loop reference (TF 'same' padding re-derived in the test)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convolab.layers import Conv2D
from layer_oracles import conv2d as np_conv2d
from layer_oracles import tf_pads


def _run(layer: Conv2D, x: np.ndarray) -> np.ndarray:
    torch.manual_seed(1)
    t = torch.as_tensor(x, dtype=torch.float64)[None]
    layer.build(tuple(x.shape))
    layer.double()
    with torch.no_grad():
        if layer.bias is not None:
            layer.bias.uniform_(-1, 1)
        return layer(t)[0].numpy()


@pytest.mark.parametrize(
    ("shape", "filters", "k", "s", "padding", "d"),
    [
        ((1, 7, 7), 2, (3, 3), (2, 2), "same", (1, 1)),  # odd input, stride 2: symmetric split
        ((2, 8, 8), 3, (3, 3), (2, 2), "same", (1, 1)),  # even input: the extra pixel goes bottom/right
        ((1, 6, 9), 1, (4, 2), (3, 2), "same", (1, 1)),  # even kernels, different strides per axis
        ((2, 9, 8), 2, (3, 3), (1, 1), "same", (2, 3)),  # dilation, 'same'
        ((2, 10, 11), 2, (3, 2), (1, 1), "valid", (3, 2)),  # dilation, 'valid'
        ((1, 11, 9), 2, (5, 3), (3, 2), "valid", (1, 1)),  # stride leaves a remainder
        ((3, 5, 5), 4, (1, 1), (2, 2), "same", (1, 1)),
    ],
)
def test_conv_matches_numpy_loops(shape, filters, k, s, padding, d) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    layer = Conv2D(filters, k, strides=s, padding=padding, dilation_rate=d)
    got = _run(layer, x)
    want = np_conv2d(x, layer.weight.detach().numpy(), layer.bias.detach().numpy(), s, padding, d)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_literal_same_stride2_on_arange() -> None:
    """Hand-checked: 4x4 arange, 3x3 ones kernel, stride 2, 'same'. TF pads P = 1: 0 before, 1 after,
    so windows start at rows/cols 0 and 2 (PyTorch's symmetric padding=1 would start at -1 and 1)."""
    x = torch.arange(16.0).view(1, 1, 4, 4)
    layer = Conv2D.from_kernel(torch.ones(3, 3), strides=2, padding="same")
    y = layer(x)[0, 0]
    # rows 0-2 x cols 0-2: 0+1+2+4+5+6+8+9+10 = 45; rows 0-2 x cols 2-3 (+pad): 2+3+6+7+10+11 = 39;
    # rows 2-3 x cols 0-2: 8+9+10+12+13+14 = 66; rows 2-3 x cols 2-3: 10+11+14+15 = 50
    assert y.tolist() == [[45.0, 39.0], [66.0, 50.0]]
    sym = F.conv2d(x, torch.ones(1, 1, 3, 3), stride=2, padding=1)[0, 0]
    assert sym.tolist() != y.tolist()


def test_tf_padding_split_is_asymmetric_for_even_totals() -> None:
    assert tf_pads(8, 3, 2, "same") == (0, 1)
    assert tf_pads(7, 3, 2, "same") == (1, 1)
    assert tf_pads(6, 4, 3, "same") == (0, 1)  # ceil(6/3)=2: (2-1)*3+4-6 = 1


def test_keras_glorot_uniform_init() -> None:
    torch.manual_seed(0)
    layer = Conv2D(64, 3)
    layer.build((32, 9, 9))
    limit = math.sqrt(6 / (32 * 9 + 64 * 9))  # fan_in = cin*kh*kw, fan_out = filters*kh*kw
    w = layer.weight.detach()
    assert w.abs().max() <= limit and w.abs().max() > 0.95 * limit
    assert abs(w.var().item() - limit**2 / 3) < 0.05 * limit**2 / 3  # U(-a, a) has variance a^2/3
    assert torch.count_nonzero(layer.bias) == 0
    torch.manual_seed(0)
    again = Conv2D(64, 3)
    again.build((32, 9, 9))
    assert torch.equal(again.weight, layer.weight)  # torch.manual_seed makes init reproducible


def test_from_kernel_filter_bank() -> None:
    sobel_x = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    sobel_y = [list(r) for r in zip(*sobel_x, strict=True)]
    layer = Conv2D.from_kernel([sobel_x, sobel_y], name="sobel")
    assert layer.filters == 2 and layer.padding == "same" and not layer.use_bias
    cfg = layer.get_config()
    assert cfg["kernel"] == [sobel_x, sobel_y] and cfg["trainable"] is False
    again = Conv2D.from_config(cfg)
    assert again.get_config() == cfg
    x = torch.arange(25.0).view(1, 1, 5, 5)
    y = again(x)
    assert not again.weight.requires_grad  # fixed filter: non-trainable
    want = np_conv2d(
        x[0].double().numpy(), np.array([sobel_x, sobel_y])[:, None], None, (1, 1), "same", (1, 1)
    )
    np.testing.assert_allclose(y[0].numpy(), want, atol=1e-5)
    assert y[0, 0, 2, 2].item() == 8.0  # interior of a ramp with slope 1 per column: 1*2 + 2*2 + 1*2


def test_from_kernel_shape_must_match_arguments() -> None:
    with pytest.raises(ValueError, match="kernel must be a finite 2-D"):
        Conv2D.from_kernel([1.0, 2.0])
    with pytest.raises(ValueError, match="must have 2 filters of size"):
        Conv2D(2, 3, kernel=[[1.0]])


def test_channels_last_input_gives_the_same_numbers() -> None:
    torch.manual_seed(0)
    layer = Conv2D(4, 3, strides=2, padding="same")
    x = torch.randn(2, 3, 9, 8)
    y1 = layer(x)
    y2 = layer(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(y1, y2)
