"""MaxPool2D and AvgPool2D against NumPy loops: 'same' padding never wins / is not counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convolab.layers import AvgPool2D, MaxPool2D
from layer_oracles import pool2d

CONFIGS = [
    ((2, 2), None, "valid", (2, 7, 7)),
    ((2, 2), None, "same", (2, 7, 7)),  # 7 -> 4: one padded row/col at the bottom/right
    ((3, 3), (2, 2), "same", (1, 8, 8)),  # overlapping windows, asymmetric split (0, 1)
    ((3, 3), (2, 2), "same", (1, 7, 9)),  # symmetric split (1, 1)
    ((3, 2), (1, 3), "same", (2, 5, 7)),
    ((3, 3), (1, 1), "valid", (1, 6, 5)),
    ((4, 4), (3, 3), "same", (1, 4, 5)),
    ((1, 1), (2, 2), "same", (1, 5, 5)),
]


@pytest.mark.parametrize(("k", "s", "padding", "shape"), CONFIGS)
def test_max_pool_matches_numpy(k, s, padding, shape) -> None:
    x = np.random.default_rng(0).standard_normal(shape) - 10.0  # all negative: zero padding would win
    layer = MaxPool2D(k, strides=s, padding=padding)
    y, switches = layer.forward_with_switches(torch.as_tensor(x)[None])
    want, want_switches = pool2d(x, k, s or k, padding, "max")
    np.testing.assert_array_equal(y[0].numpy(), want)
    np.testing.assert_array_equal(switches[0].numpy(), want_switches)
    np.testing.assert_array_equal(layer(torch.as_tensor(x)[None])[0].numpy(), want)


@pytest.mark.parametrize(("k", "s", "padding", "shape"), CONFIGS)
def test_avg_pool_matches_numpy(k, s, padding, shape) -> None:
    x = np.random.default_rng(1).standard_normal(shape)
    y = AvgPool2D(k, strides=s, padding=padding)(torch.as_tensor(x)[None])[0].numpy()
    np.testing.assert_allclose(y, pool2d(x, k, s or k, padding, "avg")[0], rtol=1e-12)


def test_literals_on_arange() -> None:
    x = torch.arange(25.0).view(1, 1, 5, 5)
    # 'same' 2x2 on 5x5: P = 1, all after; the last row/col windows see only real pixels
    assert MaxPool2D(2, padding="same")(x)[0, 0].tolist() == [[6, 8, 9], [16, 18, 19], [21, 23, 24]]
    assert AvgPool2D(2, padding="same")(x)[0, 0].tolist() == [[3, 5, 6.5], [13, 15, 16.5], [20.5, 22.5, 24]]
    y, s = MaxPool2D(2).forward_with_switches(x)
    assert y[0, 0].tolist() == [[6, 8], [16, 18]] and s[0, 0].tolist() == [[6, 8], [16, 18]]
    # -x: the max of each window is its top-left pixel; with 'same' 3x3 stride 2 on 5x5 (pads 1, 1)
    y, s = MaxPool2D(3, strides=2, padding="same").forward_with_switches(-x)
    assert s[0, 0].tolist() == [[0, 1, 3], [5, 6, 8], [15, 16, 18]]


def test_strides_default_to_pool_size_and_config_keeps_none() -> None:
    layer = MaxPool2D(3)
    assert layer.strides == (3, 3) and layer.get_config()["strides"] is None
    assert layer.compute_output_shape((1, 10, 10)) == (1, 3, 3)


def test_switches_with_asymmetric_padding_point_into_unpadded_plane() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 2, 8, 6)
    layer = MaxPool2D(3, strides=2, padding="same")  # H: 8 -> pads (0, 1); W: 6 -> pads (0, 1)
    y, s = layer.forward_with_switches(x)
    flat = x.flatten(2)
    torch.testing.assert_close(flat.gather(2, s.flatten(2)).view_as(y), y)
    assert int(s.min()) >= 0 and int(s.max()) < 8 * 6


def test_gradcheck_pool_paths() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    for layer in (AvgPool2D(2, padding="same"), AvgPool2D(3, 2, "same"), MaxPool2D(2, padding="same")):
        assert torch.autograd.gradcheck(layer, (x,))
