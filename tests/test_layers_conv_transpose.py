"""Conv2DTranspose against a NumPy scatter-add reference followed by Keras's crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convolab.layers import Conv2DTranspose
from layer_oracles import conv2d_transpose as np_deconv


def _run(layer: Conv2DTranspose, x: np.ndarray) -> np.ndarray:
    torch.manual_seed(2)
    layer.build(tuple(x.shape))
    layer.double()
    with torch.no_grad():
        if layer.bias is not None:
            layer.bias.uniform_(-1, 1)
        return layer(torch.as_tensor(x)[None])[0].numpy()


@pytest.mark.parametrize(
    ("shape", "filters", "k", "s", "padding", "op", "d"),
    [
        ((2, 3, 3), 2, (3, 3), (2, 2), "same", None, (1, 1)),  # the k=3, s=2 case: crop (0, 1)
        ((1, 4, 5), 2, (3, 3), (2, 2), "valid", None, (1, 1)),
        ((1, 3, 4), 1, (1, 1), (3, 3), "valid", None, (1, 1)),  # k < s: Keras's tail of zeros + bias
        ((2, 3, 3), 2, (2, 3), (3, 2), "valid", None, (1, 1)),
        ((1, 4, 4), 2, (4, 4), (2, 2), "same", None, (1, 1)),  # even kernel 'same'
        ((1, 3, 4), 2, (3, 3), (2, 2), "same", (1, 1), (1, 1)),  # explicit output_padding, odd kernel
        ((1, 3, 3), 1, (3, 3), (3, 2), "valid", (2, 1), (1, 1)),
        ((2, 4, 3), 1, (3, 2), (1, 1), "same", None, (2, 3)),  # dilation
        ((1, 5, 5), 3, (5, 5), (1, 1), "valid", None, (1, 1)),
    ],
)
def test_transpose_matches_scatter_add_then_crop(shape, filters, k, s, padding, op, d) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    layer = Conv2DTranspose(filters, k, strides=s, padding=padding, output_padding=op, dilation_rate=d)
    got = _run(layer, x)
    want = np_deconv(x, layer.weight.detach().numpy(), layer.bias.detach().numpy(), s, padding, op, d)
    assert got.shape == want.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_literal_k3_s2_same_on_2x2() -> None:
    """Ones kernel on [[1, 2], [3, 4]]: the full 5x5 scatter-add is
    [[1,1,3,2,2],[1,1,3,2,2],[4,4,10,6,6],[3,3,7,4,4],[3,3,7,4,4]]; Keras keeps rows/cols 0..3."""
    layer = Conv2DTranspose(1, 3, strides=2, padding="same", use_bias=False)
    layer.build((1, 2, 2))
    with torch.no_grad():
        layer.weight.fill_(1.0)
    y = layer(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))[0, 0]
    assert y.tolist() == [[1, 1, 3, 2], [1, 1, 3, 2], [4, 4, 10, 6], [3, 3, 7, 4]]


def test_no_pytorch_padding_pair_reproduces_k3_s2_same() -> None:
    """Keras crops (0, 1) of the full output; PyTorch removes `padding` from BOTH sides. Every
    (padding, output_padding) pair either has the wrong length or the wrong numbers."""
    torch.manual_seed(0)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64)
    layer = Conv2DTranspose(3, 3, strides=2, padding="same")
    layer.build((2, 5, 6))
    layer.double()
    want = layer(x)
    w = layer.weight.detach().numpy()
    np.testing.assert_allclose(
        want[0].detach().numpy(), np_deconv(x[0].numpy(), w, np.zeros(3), (2, 2), "same")
    )
    matches = []
    for p in range(3):
        for a in range(2):  # PyTorch requires output_padding < stride
            y = F.conv_transpose2d(x, layer.weight, layer.bias, stride=2, padding=p, output_padding=a)
            if y.shape == want.shape and torch.allclose(y, want):
                matches.append((p, a))
    assert matches == []
    # the closest pair, padding=1 and output_padding=1, has the right shape but is shifted by one pixel
    y = F.conv_transpose2d(x, layer.weight, layer.bias, stride=2, padding=1, output_padding=1)
    assert y.shape == want.shape
    torch.testing.assert_close(y[..., :-1, :-1], want[..., 1:, 1:])


def test_output_padding_rules() -> None:
    with pytest.raises(ValueError, match=r"output_padding must be < strides \[2, 2\].*got \[2, 1\]"):
        Conv2DTranspose(1, 3, strides=2, output_padding=(2, 1))


def test_output_padding_zero_with_stride_one_is_refused() -> None:
    # Keras: output_padding[i] >= strides[i] raises; with stride 1, output_padding 1 is refused, 0 allowed
    Conv2DTranspose(1, 3, strides=1, output_padding=0)
    with pytest.raises(ValueError, match=r"output_padding must be < strides \[1, 1\]"):
        Conv2DTranspose(1, 3, strides=1, output_padding=1)


def test_keras_same_output_padding_quirk() -> None:
    # even kernel, 'same', a = 0: n = (i - 1) s + 2 - 2 + 0 = 4 for i = 3, s = 2 -> ceil(4/2) = 2 != 3
    layer = Conv2DTranspose(1, 2, strides=2, padding="same", output_padding=0, name="up")
    with pytest.raises(
        ValueError, match=r"Conv2DTranspose 'up': padding='same' with output_padding=0 on axis H"
    ):
        layer.compute_output_shape((1, 3, 3))
    with pytest.raises(ValueError, match="TensorFlow needs"):
        layer(torch.zeros(1, 1, 3, 3))  # the forward pass refuses the same way
    # odd kernel: fine
    odd = Conv2DTranspose(1, 3, strides=2, padding="same", output_padding=1)
    assert odd.compute_output_shape((1, 3, 3)) == (1, 6, 6)


def test_gradcheck_crop_and_extend_paths() -> None:
    torch.manual_seed(0)
    for kwargs in (
        {"kernel_size": 3, "strides": 2, "padding": "same"},  # crop (0, 1)
        {"kernel_size": 1, "strides": 3, "padding": "valid"},  # zero tail + bias
        {"kernel_size": 3, "strides": 2, "padding": "valid", "output_padding": 1},
    ):
        layer = Conv2DTranspose(2, **kwargs)
        layer.build((2, 3, 4))
        layer.double()
        x = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda x, w, b, layer=layer: _with(layer, x, w, b), (x, layer.weight, layer.bias)
        )


def _with(layer: Conv2DTranspose, x, w, b):
    return torch.func.functional_call(layer, {"weight": w, "bias": b}, (x,))
