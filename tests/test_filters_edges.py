"""Sobel gradient magnitude/direction and LoG zero-crossings on images with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from convolab.filters import (
    gradient_direction,
    gradient_magnitude,
    log_edges,
    sobel_gradients,
    zero_crossings,
)


def test_magnitude_equals_scipy_sobel_hypot():
    img = np.random.default_rng(3).random((20, 24))
    expect = np.hypot(ndi.sobel(img, axis=1, mode="mirror"), ndi.sobel(img, axis=0, mode="mirror"))
    np.testing.assert_allclose(gradient_magnitude(img, border="reflect"), expect, atol=1e-9)


def test_ramp_gradient_literal_and_direction():
    ramp = np.tile(np.arange(6.0), (5, 1))  # brighter to the right by 1 per pixel
    gx, gy = sobel_gradients(ramp, border="replicate", padding="valid")
    np.testing.assert_allclose(gx, 8.0)  # (1 + 2 + 1) * (x+1 - (x-1))
    np.testing.assert_allclose(gy, 0.0)
    np.testing.assert_allclose(gradient_direction(ramp, padding="valid"), 0.0)  # points right
    down = ramp.T.copy()  # brighter downwards
    np.testing.assert_allclose(gradient_direction(down, padding="valid"), np.pi / 2)
    np.testing.assert_allclose(gradient_direction(down[::-1].copy(), padding="valid"), -np.pi / 2)
    np.testing.assert_allclose(gradient_direction(ramp[:, ::-1].copy(), padding="valid"), np.pi)


def test_torch_in_torch_out():
    x = torch.rand(3, 10, 12)
    m = gradient_magnitude(x)
    d = gradient_direction(x, stride=2)
    assert isinstance(m, torch.Tensor) and m.shape == (3, 10, 12)
    assert d.shape == (3, 5, 6) and float(d.abs().max()) <= np.pi


def test_zero_crossings_literal():
    r = np.array([[1.0, 0.5, -0.2, -1.0], [2.0, 1.0, 1.0, -3.0]])
    # row 0: crossing between 0.5 and -0.2 -> on -0.2 (smaller |.|); row 1: 1.0 | -3.0 -> on 1.0;
    # vertical: -0.2 over 1.0 -> on -0.2; -1.0 over -3.0: no crossing
    expect = np.array([[False, False, True, False], [False, False, True, False]])
    np.testing.assert_array_equal(zero_crossings(r), expect)
    # a slope threshold of 1.0 keeps only |a - b| > 1: 1.0 | -3.0 (4.0) and -0.2 over 1.0 (1.2)
    np.testing.assert_array_equal(zero_crossings(r, threshold=1.0), expect)
    np.testing.assert_array_equal(
        zero_crossings(r, threshold=2.0), [[False] * 4, [False, False, True, False]]
    )
    with pytest.raises(ValueError, match="threshold must be >= 0, got -1"):
        zero_crossings(r, threshold=-1)


def test_log_edges_find_a_disc_boundary():
    yy, xx = np.mgrid[0:64, 0:64]
    disc = (((yy - 32) ** 2 + (xx - 32) ** 2) < 15**2).astype(np.float64)
    edges = log_edges(disc, sigma=1.5, border="replicate")
    assert edges.dtype == bool and edges.any()
    radii = np.hypot(*(np.nonzero(edges) - np.array([[32], [32]])))
    assert np.all(np.abs(radii - 15) < 2.0), (radii.min(), radii.max())  # on the boundary, nowhere else
    t = log_edges(torch.from_numpy(disc)[None], sigma=1.5, border="replicate")
    np.testing.assert_array_equal(t[0].numpy(), edges)
    with pytest.raises(ValueError, match="grayscale"):
        log_edges(np.zeros((8, 8, 3)))
