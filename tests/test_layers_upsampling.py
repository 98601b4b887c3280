"""UpSampling2D (nearest, half-pixel bilinear), BedOfNails2D and MaxUnpool2D against NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convolab.layers import BedOfNails2D, MaxPool2D, MaxUnpool2D, PoolLink, UpSampling2D, max_unpool2d
from layer_oracles import pool2d, resize_bilinear_half_pixel, unpool


@pytest.mark.parametrize("size", [(2, 2), (3, 1), (1, 4), (3, 2)])
def test_nearest_is_repeat(size) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    y = UpSampling2D(size)(torch.as_tensor(x)[None])[0].numpy()
    np.testing.assert_array_equal(y, x.repeat(size[0], axis=1).repeat(size[1], axis=2))


@pytest.mark.parametrize(("size", "shape"), [((2, 2), (2, 3, 4)), ((3, 2), (1, 5, 2)), ((4, 3), (1, 1, 3))])
def test_bilinear_is_tf_half_pixel(size, shape) -> None:
    x = np.random.default_rng(1).standard_normal(shape)
    y = UpSampling2D(size, interpolation="bilinear")(torch.as_tensor(x)[None])[0].numpy()
    np.testing.assert_allclose(y, resize_bilinear_half_pixel(x, *size), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(3, 3), (5, 5), (3, 2), (1, 7)])
def test_bilinear_float32_weights_are_exact(size) -> None:
    """Issue 26: a source that sits exactly on an input sample takes that sample alone (PyTorch's float32
    kernel weighted its neighbour 1.5e-8 for odd factors; TensorFlow's weight is 0), and every output is
    the float64 TF formula's to float32 rounding."""
    sh, sw = size
    x = np.random.default_rng(3).standard_normal((2, 4, 6)).astype(np.float32)
    y = UpSampling2D(size, interpolation="bilinear")(torch.as_tensor(x)[None])[0].numpy()
    assert y.dtype == np.float32
    centre_rows = [sh * i + sh // 2 for i in range(4)] if sh % 2 else []
    centre_cols = [sw * j + sw // 2 for j in range(6)] if sw % 2 else []
    if centre_rows and centre_cols:
        np.testing.assert_array_equal(y[:, centre_rows][:, :, centre_cols], x)  # bit for bit
    reference = resize_bilinear_half_pixel(x.astype(np.float64), sh, sw)
    np.testing.assert_allclose(y, reference, rtol=0, atol=4 * np.finfo(np.float32).eps * np.abs(x).max())


def test_bilinear_literal() -> None:
    y = UpSampling2D((1, 2), interpolation="bilinear")(torch.tensor([[[[0.0, 4.0]]]]))
    # sources (u + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25, 0.75, 1
    assert y[0, 0, 0].tolist() == [0.0, 1.0, 3.0, 4.0]


def test_bed_of_nails_literal_and_gradcheck() -> None:
    x = torch.arange(1.0, 5.0).view(1, 1, 2, 2)
    y = BedOfNails2D(2)(x)[0, 0]
    assert y.tolist() == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    assert BedOfNails2D((1, 3))(x)[0, 0].tolist() == [[1, 0, 0, 2, 0, 0], [3, 0, 0, 4, 0, 0]]
    xd = torch.randn(2, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BedOfNails2D((2, 3)), (xd,))


@pytest.mark.parametrize(
    ("k", "s", "padding", "shape"),
    [((2, 2), (2, 2), "valid", (2, 6, 7)), ((2, 2), (2, 2), "same", (2, 7, 7)),
     ((3, 3), (2, 2), "same", (1, 8, 7)), ((3, 3), (1, 1), "valid", (1, 5, 6))],
)  # fmt: skip
def test_unpool_matches_numpy(k, s, padding, shape) -> None:
    x = np.random.default_rng(2).integers(0, 4, shape).astype(float)  # ties + overlaps: duplicates happen
    pool, un = MaxPool2D(k, s, padding, name="p"), MaxUnpool2D("p")
    pooled, switches = pool.forward_with_switches(torch.as_tensor(x)[None])
    values = torch.randn_like(pooled, dtype=torch.float64)  # decoder values, unrelated to the pool's
    y = un(values, switches=switches, output_size=shape[1:])[0].numpy()
    np.testing.assert_array_equal(switches[0].numpy(), pool2d(x, k, s, padding, "max")[1])
    np.testing.assert_array_equal(y, unpool(values[0].numpy(), switches[0].numpy(), shape[1:]))


def test_unpool_agrees_with_torch_without_duplicates() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 6)
    pool = MaxPool2D(2)
    y, s = pool.forward_with_switches(x)
    ours = max_unpool2d(y, s, (8, 6))
    torch.testing.assert_close(ours, F.max_unpool2d(y, s, 2, 2, output_size=(8, 6)))
    assert torch.count_nonzero(ours) == y.numel()  # 2x2 windows do not overlap: every value lands


def test_unpool_duplicates_last_window_wins_and_gets_the_gradient() -> None:
    x = torch.tensor([[[[10.0, 2.0], [3.0, 4.0]]]])
    switches = torch.tensor([[[[0, 0], [0, 3]]]])
    y = max_unpool2d(x, switches, (2, 2))
    assert y[0, 0].tolist() == [[3.0, 0.0], [0.0, 4.0]]  # position 0 chosen by windows 0, 1, 2: window 2 wins
    xd = torch.randn(1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    sd = torch.tensor([[[[0, 0], [5, 8]], [[1, 1], [1, 1]]]])
    assert torch.autograd.gradcheck(lambda v: max_unpool2d(v, sd, (3, 3)), (xd,))


def test_gradcheck_unpool_after_overlapping_same_pool() -> None:
    torch.manual_seed(0)
    pool, un = MaxPool2D(3, 2, "same", name="p"), MaxUnpool2D("p")
    _, s = pool.forward_with_switches(torch.randn(1, 2, 7, 8))
    v = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: un(v, switches=s, output_size=(7, 8)), (v,))


def test_unpool_standalone_errors() -> None:
    un = MaxUnpool2D("p", name="u")
    x = torch.randn(1, 1, 2, 2)
    with pytest.raises(ValueError, match=r"MaxUnpool2D 'u': needs the switches of its pool 'p'"):
        un(x)
    with pytest.raises(ValueError, match=r"needs the \(H, W\) of its pool 'p'"):
        un(x, switches=torch.zeros(1, 1, 2, 2, dtype=torch.long))
    assert un(x, switches=torch.zeros(1, 1, 2, 2, dtype=torch.long), output_size=(3, 3)).shape == (1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"switches must lie in \[0, 4\)"):
        un(x, switches=torch.full((1, 1, 2, 2), 4), output_size=(2, 2))
    pool = MaxPool2D(2, name="p")
    with pytest.raises(
        ValueError, match=r"input shape \(1, 3, 3\) differs from the output shape \(1, 2, 2\)"
    ):
        un.compute_output_shape((1, 3, 3), PoolLink(pool, (1, 4, 4)))
    # pure arithmetic: without the pairing it says what it needs, and no call leaves state behind
    with pytest.raises(ValueError, match=r"its output shape is its pool's input shape"):
        un.compute_output_shape((1, 2, 2))
    assert un.compute_output_shape((1, 2, 2), PoolLink(pool, (1, 4, 5))) == (1, 4, 5)
    assert un.compute_output_shape((1, 2, 2), PoolLink(pool, (1, 5, 4))) == (1, 5, 4)
    with pytest.raises(ValueError, match=r"its output shape is its pool's input shape"):
        un.compute_output_shape((1, 2, 2))


def test_axis_maps_kinds() -> None:
    assert [m.kind for m in UpSampling2D(2).axis_maps((1, 3, 3))] == ["nearest", "nearest"]
    assert UpSampling2D(2, "bilinear").axis_maps((1, 3, 3))[0].kind == "bilinear"
    mh, mw = BedOfNails2D((2, 3)).axis_maps((1, 3, 4))
    assert (mh.kind, mh.stride, mw.stride, mw.in_len) == ("nails", 2, 3, 4)
