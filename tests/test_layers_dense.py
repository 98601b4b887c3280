"""Dense on any-rank input (the lecture's boxes), Flatten's order versus Keras, Reshape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convolab.layers import Dense, Flatten, Reshape


def test_lecture_box_squeeze_shapes() -> None:
    """Lecture snippet a: Dense(1, no bias) on a (64, 4, 2) batch -> (64, 4, 1), Keras kernel (2, 1)."""
    boxes = torch.rand(64, 4, 2)
    d1 = Dense(1, use_bias=False)
    y = d1(boxes)
    assert y.shape == (64, 4, 1) and d1.weight.T.shape == (2, 1)  # Keras kernel = weight.T
    d2 = Dense(1, use_bias=False)
    z = d2(y.squeeze(-1))
    assert z.shape == (64, 1) and d2.weight.T.shape == (4, 1) and z.squeeze(-1).shape == (64,)


def test_dense_matches_numpy_on_last_axis() -> None:
    torch.manual_seed(0)
    layer = Dense(3, activation="relu")
    x = torch.randn(5, 4, 2, dtype=torch.float64)
    layer.build((4, 2))
    layer.double()
    with torch.no_grad():
        layer.bias.uniform_(-1, 1)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    want = np.maximum(np.einsum("nij,uj->niu", x.numpy(), w) + b, 0)
    np.testing.assert_allclose(layer(x).detach().numpy(), want, rtol=1e-12)
    assert layer.compute_output_shape((4, 2)) == (4, 3) and layer.count_params((4, 2)) == 9


def test_lecture_dense_chain_has_13_parameters() -> None:
    """Lecture snippet b: Dense(3) -> Dense(1) -> squeeze -> Dense(1): kernels (2,3), (3,1), (4,1)."""
    shapes = [(4, 2), (4, 3), (4,)]
    layers = [Dense(3), Dense(1), Dense(1)]
    assert [layer.count_params(s) for layer, s in zip(layers, shapes, strict=True)] == [9, 4, 5]
    no_bias = [Dense(3, use_bias=False), Dense(1, use_bias=False), Dense(1, use_bias=False)]
    assert sum(layer.count_params(s) for layer, s in zip(no_bias, shapes, strict=True)) == 6 + 3 + 4 == 13


def test_flatten_keras_order() -> None:
    x = torch.randn(3, 2, 4)  # (C, H, W)
    perm = Flatten.keras_order((3, 2, 4))
    keras_flat = x.permute(1, 2, 0).reshape(-1)  # Keras flattens (H, W, C)
    torch.testing.assert_close(Flatten()(x[None])[0][perm], keras_flat)
    # importing a Keras Dense kernel K (C*H*W, units): W[:, perm] = K.T gives the same outputs
    kernel = torch.randn(24, 5)
    weight = torch.empty(5, 24)
    weight[:, perm] = kernel.T
    torch.testing.assert_close(weight @ x.reshape(-1), keras_flat @ kernel)


def test_flatten_and_reshape_shapes() -> None:
    assert Flatten().compute_output_shape((16, 7, 7)) == (784,)
    assert Flatten()(torch.zeros(2, 16, 7, 7)).shape == (2, 784)
    assert Reshape((4, 4, -1)).compute_output_shape((64,)) == (4, 4, 4)
    assert Reshape((4, 4, -1))(torch.arange(128.0).view(2, 64))[1, 0, 0].tolist() == [64, 65, 66, 67]
    with pytest.raises(ValueError, match="is not divisible by 5"):
        Reshape((5, -1)).compute_output_shape((64,))


def test_dense_axis_maps_are_global() -> None:
    mh, mw = Dense(3).axis_maps((4, 5, 6))
    assert (mh.kind, mh.in_len, mw.in_len) == ("global", 5, 6)
    assert Flatten().axis_maps((2, 3, 4))[0].interval(0) == (0, 2)
