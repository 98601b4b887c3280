"""filter2d against SciPy (correlate, gaussian_filter, gaussian_laplace), the TF stride/padding rule,
the Conv2D arithmetic and Conv2D.from_kernel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from convolab.filters import filter2d, gaussian, laplacian_of_gaussian, output_size
from convolab.filters import kernels as K
from convolab.layers.padding import conv_output_length

# convolab border -> scipy.ndimage mode (docs/filters.md)
MODES = {"zeros": "constant", "reflect": "mirror", "replicate": "nearest"}
RNG = np.random.default_rng(1234)


def _image(h=23, w=31):
    return RNG.random((h, w))


@pytest.mark.parametrize("border", list(MODES))
@pytest.mark.parametrize("name", list(K.KERNELS))
def test_every_kernel_equals_scipy_correlate(name, border):
    img = _image()
    k = K.KERNELS[name].build(None, None)
    got = filter2d(img, k, border=border)
    np.testing.assert_allclose(got, ndi.correlate(img, k, mode=MODES[border], cval=0.0), atol=1e-6, rtol=0)


@pytest.mark.parametrize("border", list(MODES))
@pytest.mark.parametrize("size", [2, 4, 6])
def test_even_box_centre_is_scipy_origin_minus_one(size, border):
    # TF 'same' puts the extra padding row/column after: the window is [i - (k-1)//2, i + k//2],
    # which is SciPy's origin=-1 for an even kernel (its origin=0 centre is k//2).
    img = _image(17, 20)
    k = K.box(size)
    expect = ndi.correlate(img, k, mode=MODES[border], origin=-1)
    np.testing.assert_allclose(filter2d(img, k, border=border), expect, atol=1e-6, rtol=0)


@pytest.mark.parametrize("border", list(MODES))
@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7, 3.0])
def test_gaussian_equals_gaussian_filter(sigma, border):
    img = _image(40, 33)
    got = filter2d(img, gaussian(sigma), border=border)
    expect = ndi.gaussian_filter(img, sigma, mode=MODES[border], truncate=4.0)
    np.testing.assert_allclose(got, expect, atol=1e-6, rtol=0)


@pytest.mark.parametrize("border", list(MODES))
@pytest.mark.parametrize("sigma", [0.8, 1.4, 2.5])
def test_log_equals_gaussian_laplace(sigma, border):
    img = _image(40, 33)
    got = filter2d(img, laplacian_of_gaussian(sigma), border=border)
    expect = ndi.gaussian_laplace(img, sigma, mode=MODES[border], truncate=4.0)
    np.testing.assert_allclose(got, expect, atol=1e-6, rtol=0)


def test_explicit_size_equals_scipy_radius():
    img = _image(30, 30)
    for size in (3, 5, 11):
        expect = ndi.gaussian_filter(img, 1.5, mode="nearest", radius=size // 2)
        got = filter2d(img, gaussian(1.5, size=size), border="replicate")
        np.testing.assert_allclose(got, expect, atol=1e-6, rtol=0)


def test_reflect_padding_wider_than_the_image():
    # sigma 5 -> radius 20 on a 9x12 image: more padding than F.pad's reflect allows; SciPy 'mirror'
    img = _image(9, 12)
    got = filter2d(img, gaussian(5.0), border="reflect")
    np.testing.assert_allclose(got, ndi.gaussian_filter(img, 5.0, mode="mirror"), atol=1e-6, rtol=0)
    got = filter2d(img, laplacian_of_gaussian(4.0), border="reflect", stride=2)
    # 33x33 kernel, stride 2: TF phase 0 on the 9 rows, 1 on the 12 columns (see _tf_before)
    expect = ndi.gaussian_laplace(img, 4.0, mode="mirror")[::2, 1::2]
    np.testing.assert_allclose(got, expect, atol=1e-6, rtol=0)


@pytest.mark.parametrize("rank", [1, 2, 5])
@pytest.mark.parametrize("border", list(MODES))
def test_large_arbitrary_kernels_both_paths(rank, border):
    # rank 1-2 and >= 49 taps run as 1-D passes; rank 5 runs as one 2-D conv: both equal SciPy
    k = sum(np.outer(RNG.normal(size=9), RNG.normal(size=11)) for _ in range(rank))
    img = _image(25, 28)
    np.testing.assert_allclose(
        filter2d(img, k, border=border), ndi.correlate(img, k, mode=MODES[border]), atol=1e-6, rtol=0
    )


def _tf_before(n: int, k: int, s: int) -> int:
    """TF 'same': total padding max((ceil(n/s) - 1) * s + k - n, 0), the smaller half before."""
    out = -(-n // s)
    return max((out - 1) * s + k - n, 0) // 2


@pytest.mark.parametrize("border", list(MODES))
@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize(("h", "w"), [(16, 16), (17, 19), (10, 23)])
@pytest.mark.parametrize("kernel", ["sobel_x", "box4", "gaussian5", "log7"])
def test_stride_equals_subsampled_stride_one(kernel, h, w, stride, border):
    k = {
        "sobel_x": K.sobel_x(),
        "box4": K.box(4),
        "gaussian5": K.gaussian(1.0, size=5),
        "log7": K.laplacian_of_gaussian(1.0, size=7),
    }[kernel]
    img = _image(h, w)
    kh, kw = k.shape
    # 'valid': output i reads the window starting at input i*s, as stride-1 output i*s does
    full = filter2d(img, k, padding="valid", border=border)
    np.testing.assert_allclose(
        filter2d(img, k, stride=stride, padding="valid", border=border), full[::stride, ::stride]
    )
    # 'same': output i starts at i*s - before_s; stride-1 output j starts at j - before_1
    one = filter2d(img, k, border=border)
    dy = _tf_before(h, kh, 1) - _tf_before(h, kh, stride)
    dx = _tf_before(w, kw, 1) - _tf_before(w, kw, stride)
    strided = filter2d(img, k, stride=stride, border=border)
    expect = one[dy::stride, dx::stride][: -(-h // stride), : -(-w // stride)]
    assert strided.shape == expect.shape
    np.testing.assert_allclose(strided, expect, atol=1e-12)


def test_tf_same_stride_two_is_not_the_symmetric_phase():
    # The point of the TF rule: on an even size with stride 2 and a 3x3 kernel the windows start at
    # odd pixels (before = 0), so the result is NOT one[::2, ::2].
    img = _image(16, 16)
    one = filter2d(img, K.sobel_x())
    s2 = filter2d(img, K.sobel_x(), stride=2)
    np.testing.assert_allclose(s2, one[1::2, 1::2], atol=1e-12)
    assert not np.allclose(s2, one[::2, ::2])


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_output_sizes_equal_conv_analysis(padding):
    from convolab.layers import Conv2D

    for _ in range(40):
        h, w = (int(v) for v in RNG.integers(5, 30, size=2))
        kh, kw = (int(v) for v in RNG.integers(1, 6, size=2))
        sh, sw = (int(v) for v in RNG.integers(1, 4, size=2))
        got = filter2d(torch.zeros(1, h, w), np.ones((kh, kw)), stride=(sh, sw), padding=padding)
        expect = (conv_output_length(h, kh, sh, padding), conv_output_length(w, kw, sw, padding))
        assert tuple(got.shape[-2:]) == expect == output_size(h, w, (kh, kw), (sh, sw), padding)
        layer = Conv2D.from_kernel(np.ones((kh, kw)), strides=(sh, sw), padding=padding)
        assert layer.compute_output_shape((1, h, w))[1:] == expect


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("stride", [1, 2])
def test_from_kernel_layer_equals_filter2d(padding, stride):
    from convolab.layers import Conv2D

    x = torch.rand(2, 1, 21, 18)
    for name in K.KERNELS:
        k = K.KERNELS[name].build(None, None)
        layer = Conv2D.from_kernel(k, strides=stride, padding=padding)
        with torch.no_grad():
            np.testing.assert_allclose(layer(x), filter2d(x, k, stride=stride, padding=padding), atol=1e-5)
    bank = np.stack([K.sobel_x(), K.sobel_y(), K.laplacian()])  # (3, 3, 3): 3 filters, one channel
    with torch.no_grad():
        y = Conv2D.from_kernel(bank, strides=stride, padding=padding)(x)
    for i in range(3):
        np.testing.assert_allclose(
            y[:, i : i + 1], filter2d(x, bank[i], stride=stride, padding=padding), atol=1e-5
        )


def test_layouts_kinds_and_dtypes():
    rgb = RNG.random((12, 14, 3))  # numpy: channels last
    k = K.sobel_x()
    got = filter2d(rgb, k, border="reflect")
    assert isinstance(got, np.ndarray) and got.shape == (12, 14, 3) and got.dtype == np.float64
    for c in range(3):
        np.testing.assert_allclose(got[..., c], ndi.correlate(rgb[..., c], k, mode="mirror"), atol=1e-12)
    chw = torch.from_numpy(rgb).permute(2, 0, 1)  # torch: channels first
    t = filter2d(chw, k, border="reflect")
    assert isinstance(t, torch.Tensor) and t.shape == (3, 12, 14) and t.dtype == torch.float64
    np.testing.assert_allclose(t.permute(1, 2, 0).numpy(), got, atol=1e-12)
    batch = filter2d(chw[None].float(), k, stride=2, border="reflect")
    assert batch.shape == (1, 3, 6, 7) and batch.dtype == torch.float32
    nhwc = filter2d(rgb[None], k, border="reflect")
    np.testing.assert_allclose(nhwc[0], got, atol=1e-12)
    u8 = (rgb[..., 0] * 255).astype(np.uint8)
    out = filter2d(u8, k)
    assert out.dtype == np.float32  # integers: values kept, computed in float32
    np.testing.assert_allclose(out, ndi.correlate(u8.astype(np.float64), k, mode="constant"), atol=1e-3)
    half = filter2d(chw.half(), k)
    assert half.dtype == torch.float16


def test_per_channel_equals_grouped_conv():
    # colour is filtered channel by channel: the same as conv2d(groups=C) with the kernel repeated
    x = torch.rand(2, 4, 13, 11, dtype=torch.float64)
    k = K.laplacian_of_gaussian(1.0)
    w = torch.from_numpy(k).expand(4, 1, *k.shape)
    r = k.shape[0] // 2
    expect = torch.nn.functional.conv2d(x, w, padding=r, groups=4)
    np.testing.assert_allclose(filter2d(x, k), expect, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stride": 0}, "stride must be a positive integer, got 0"),
        ({"stride": -2}, "stride must be a positive integer, got -2"),
        ({"stride": (1, 2, 3)}, "stride must be a positive integer or a pair"),
        ({"padding": "full"}, "padding must be one of same, valid, got 'full'"),
        ({"border": "wrap"}, "border must be one of zeros, reflect, replicate, got 'wrap'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        filter2d(_image(), K.box(3), **kwargs)


def test_bad_images_and_kernels():
    with pytest.raises(TypeError, match="numpy array or a torch tensor, got list"):
        filter2d([[1.0, 2.0]], K.box(3))
    with pytest.raises(ValueError, match=r"image must be \(H, W\), \(H, W, C\) or \(N, H, W, C\)"):
        filter2d(np.zeros(5), K.box(3))
    with pytest.raises(ValueError, match="kernel must be a finite, non-empty 2-D array"):
        filter2d(_image(), np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="kernel must be a finite"):
        filter2d(_image(), [[np.nan]])
    with pytest.raises(
        ValueError, match="kernel 5x5 does not fit in the image height 4 with padding='valid'"
    ):
        filter2d(np.zeros((4, 9)), K.box(5), padding="valid")


@pytest.mark.parametrize("border", list(MODES))
def test_scipy_named_operators(border):
    # ndimage.sobel/prewitt(axis=1) are our *_x, axis=0 our *_y; ndimage.laplace is our 4-neighbour
    img = _image(19, 22)
    mode = MODES[border]
    pairs = [
        (K.sobel_x(), ndi.sobel(img, axis=1, mode=mode)),
        (K.sobel_y(), ndi.sobel(img, axis=0, mode=mode)),
        (K.prewitt_x(), ndi.prewitt(img, axis=1, mode=mode)),
        (K.prewitt_y(), ndi.prewitt(img, axis=0, mode=mode)),
        (K.laplacian(), ndi.laplace(img, mode=mode)),
    ]
    for k, expect in pairs:
        np.testing.assert_allclose(filter2d(img, k, border=border), expect, atol=1e-9)


def test_convolution_is_correlation_with_the_flipped_kernel():
    # the docs' recipe for SciPy convolve / "true" convolution: flip both axes (odd kernels)
    img = _image(15, 16)
    k = RNG.normal(size=(3, 5))
    np.testing.assert_allclose(
        filter2d(img, k[::-1, ::-1].copy(), border="reflect"), ndi.convolve(img, k, mode="mirror"), atol=1e-9
    )


def test_scipy_default_reflect_equals_replicate_for_3x3():
    # SciPy's default mode 'reflect' (d c b a | a b c d, used by scikit-image) repeats the edge pixel;
    # one pixel of it is exactly 'replicate', so 3x3 kernels match it (larger ones do not)
    img = _image(12, 13)
    k = K.sobel_x()
    np.testing.assert_allclose(filter2d(img, k, border="replicate"), ndi.correlate(img, k, mode="reflect"))
    g = gaussian(1.0)
    assert not np.allclose(filter2d(img, g, border="replicate"), ndi.correlate(img, g, mode="reflect"))


def test_a_filter_bank_opens_a_model_spec():
    # Sobel x/y as a frozen first layer of a Sequential spec (through YAML text), then a learned conv
    from convolab import build_model, dumps_spec
    from convolab.layers import Conv2D

    bank = Conv2D.from_kernel(np.stack([K.sobel_x(), K.sobel_y()]), name="edges")
    spec = {
        "input_shape": [1, 12, 12],
        "layers": [
            {"type": "Conv2D", **bank.get_config()},
            {"type": "Conv2D", "filters": 3, "kernel_size": 3},
        ],
    }
    model = build_model(dumps_spec(spec))
    x = torch.rand(2, 1, 12, 12)
    with torch.no_grad():
        edges = model.get_layer("edges")(x)
    np.testing.assert_allclose(edges[:, :1], filter2d(x, K.sobel_x()), atol=1e-5)
    np.testing.assert_allclose(edges[:, 1:], filter2d(x, K.sobel_y()), atol=1e-5)
    assert not any(p.requires_grad for p in model.get_layer("edges").parameters())
    assert model(x).shape == (2, 3, 10, 10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_stay_on_the_device():
    from convolab.filters import gradient_magnitude, log_edges

    x = torch.rand(3, 40, 50, dtype=torch.float64)
    for k, kw in ((K.sobel_x(), {}), (gaussian(3.0), {"border": "reflect", "stride": 2})):
        y = filter2d(x.cuda(), k, **kw)
        assert y.is_cuda
        np.testing.assert_allclose(y.cpu(), filter2d(x, k, **kw), atol=1e-9)
    assert gradient_magnitude(x.cuda()).is_cuda
    assert log_edges(x.cuda(), 1.5).is_cuda
