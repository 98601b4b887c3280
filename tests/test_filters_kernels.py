"""Kernel constructors: literal values, normalisation, sizes, the registry and its error messages."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from convolab.filters import kernels as K


def test_gradient_kernels_literal():
    np.testing.assert_array_equal(K.sobel_x(), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(K.sobel_y(), [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    np.testing.assert_array_equal(K.prewitt_x(), [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])
    np.testing.assert_array_equal(K.prewitt_y(), [[-1, -1, -1], [0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(K.scharr_x(), [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])
    np.testing.assert_array_equal(K.scharr_y(), [[-3, -10, -3], [0, 0, 0], [3, 10, 3]])


def test_laplacians_and_sharpen_literal():
    np.testing.assert_array_equal(K.laplacian(), [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(K.laplacian(8), [[1, 1, 1], [1, -8, 1], [1, 1, 1]])
    np.testing.assert_array_equal(K.sharpen(), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_array_equal(K.identity(), [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="neighbours must be 4 or 8, got 6"):
        K.laplacian(6)


def test_kernels_are_new_float64_arrays():
    for spec in K.KERNELS.values():
        k = spec.build(None, None)
        assert isinstance(k, np.ndarray) and k.dtype == np.float64 and k.ndim == 2
    a = K.sobel_x()
    a[0, 0] = 99
    assert K.sobel_x()[0, 0] == -1  # no shared state


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_box_sums_to_one(size):
    k = K.box(size)
    assert k.shape == (size, size)
    assert k.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("sigma", "truncate", "side"),
    [(1.0, 4.0, 9), (1.5, 4.0, 13), (0.3, 4.0, 3), (2.0, 4.0, 17), (1.0, 2.0, 5), (0.1, 4.0, 1)],
)
def test_gaussian_size_from_truncate_like_scipy(sigma, truncate, side):
    # SciPy: radius = int(truncate * sigma + 0.5), written out here by hand for each case
    k = K.gaussian(sigma, truncate=truncate)
    assert k.shape == (side, side)
    assert k.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(k, k[::-1, ::-1])


def test_gaussian_is_scipy_impulse_response():
    # gaussian_filter of a unit impulse is the (symmetric) 2-D kernel itself
    for sigma in (0.7, 1.0, 2.5):
        k = K.gaussian(sigma)
        r = k.shape[0] // 2
        delta = np.zeros((2 * r + 1, 2 * r + 1))
        delta[r, r] = 1.0
        np.testing.assert_allclose(k, ndi.gaussian_filter(delta, sigma, mode="constant"), atol=1e-15)


def test_log_is_scipy_impulse_response_and_negative_centre():
    for sigma in (1.0, 2.0):
        k = K.laplacian_of_gaussian(sigma)
        r = k.shape[0] // 2
        delta = np.zeros((2 * r + 1, 2 * r + 1))
        delta[r, r] = 1.0
        np.testing.assert_allclose(k, ndi.gaussian_laplace(delta, sigma, mode="constant"), atol=1e-15)
        assert k[r, r] < 0 and abs(k.sum()) < 1e-3


def test_explicit_size():
    assert K.gaussian(1.0, size=5).shape == (5, 5)
    assert K.gaussian(1.0, size=5).sum() == pytest.approx(1.0)
    assert K.laplacian_of_gaussian(1.0, size=7).shape == (7, 7)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: K.gaussian(1.0, size=4), "gaussian size must be odd .* got 4"),
        (lambda: K.laplacian_of_gaussian(1.0, size=6), "log size must be odd .* got 6"),
        (lambda: K.gaussian(0.0), "sigma must be > 0, got 0.0"),
        (lambda: K.gaussian(-1.5), "sigma must be > 0, got -1.5"),
        (lambda: K.laplacian_of_gaussian(float("nan")), "sigma must be > 0, got nan"),
        (lambda: K.gaussian(1.0, truncate=0), "truncate must be > 0, got 0"),
        (lambda: K.box(0), "box size must be a positive integer, got 0"),
        (lambda: K.box(-3), "box size must be a positive integer, got -3"),
        (lambda: K.box(2.5), "box size must be a positive integer, got 2.5"),
        (lambda: K.gaussian(1.0, size=0), "gaussian size must be a positive integer, got 0"),
    ],
)
def test_bad_parameters_name_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_registry_names_aliases_and_suggestions():
    assert set(K.KERNELS) >= {"box", "gaussian", "sobel_x", "sobel_y", "laplacian", "log", "sharpen"}
    np.testing.assert_array_equal(K.get_kernel("Sobel-X"), K.sobel_x())
    np.testing.assert_array_equal(
        K.get_kernel("laplacian_of_gaussian", sigma=1.0), K.laplacian_of_gaussian(1.0)
    )
    np.testing.assert_array_equal(K.get_kernel("box", size=5), K.box(5))
    np.testing.assert_array_equal(K.get_kernel("sobel_x", sigma=3.0, size=7), K.sobel_x())  # fixed: ignored
    with pytest.raises(ValueError, match=r"unknown kernel 'sobl_x'; did you mean sobel_x"):
        K.get_kernel("sobl_x")
    with pytest.raises(ValueError, match=r"unknown kernel 'zzz'; choose from identity, box"):
        K.get_kernel("zzz")
    with pytest.raises(TypeError, match="kernel name must be a string"):
        K.get_kernel(3)
