"""convolab.engine.native.subpixel: the sub-pixel convolution in C equals PyTorch's conv + pixel_shuffle path.

The oracle is the plan's own PyTorch path (``phase_conv.after_upsampling`` with no kernels: the folded
``F.conv2d``, ``F.pixel_shuffle``, the crop, ReLU) run in float64 on the same values, for the output,
the input gradient and the layer's weight and bias gradients (through the fold). The kernel sums in
another order than oneDNN, so real values agree to rounding; integer values make every sum exact,
and there the kernel equals PyTorch's float32 path bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convolab.engine import native, phase_conv
from convolab.engine.native import subpixel as ksub
from convolab.layers.conv import Conv2D
from convolab.layers.upsampling import UpSampling2D

needs_kernels = pytest.mark.skipif(not native.available(), reason=f"C kernels: {native.status()}")
CL = torch.channels_last


# the plan bounds the subpixel kernel to 16 input channels (measured); these tests reach it at any count
pytestmark = pytest.mark.usefixtures("subpixel_kernel_at_any_channels")


def _layer(c, o, h, w, s, k, padding, relu, integers, seed):
    gen = torch.Generator().manual_seed(seed)
    conv = Conv2D(o, k, padding=padding, activation="relu" if relu else None)
    conv.build((c, h * s, w * s))
    with torch.no_grad():
        if integers:
            conv.weight.copy_(torch.randint(-3, 4, conv.weight.shape, generator=gen).float())
            conv.bias.copy_(torch.randint(-3, 4, conv.bias.shape, generator=gen).float())
        else:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.2)
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=gen) * 0.1)
    return UpSampling2D(size=s), conv


def _run(sub, conv, x, g):
    """Output, input gradient, weight and bias gradients of ``sub`` (a phase_conv.PhaseConv) at ``x``."""
    x = x.clone().requires_grad_()
    conv.weight.grad = conv.bias.grad = None
    y = sub(x)
    y.backward(g.to(y.dtype))
    return y.detach(), x.grad, conv.weight.grad.clone(), conv.bias.grad.clone()


def _case(n, c, o, h, w, s, k, padding, relu, integers, seed=0):
    up, conv = _layer(c, o, h, w, s, k, padding, relu, integers, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    if integers:
        x = torch.randint(-4, 5, (n, c, h, w), generator=gen).float()
    else:
        x = torch.randn(n, c, h, w, generator=gen)
    x = x.contiguous(memory_format=CL)
    got_sub = phase_conv.after_upsampling(up, conv, (c, h, w), frozenset({"subpixel"}), relu)
    assert got_sub.fused is not None and ksub.eligible(x, conv.weight, got_sub.fused)
    y_shape = (n, o, *got_sub.out_hw)
    g = (
        torch.randint(-3, 4, y_shape, generator=gen).float()
        if integers
        else torch.randn(y_shape, generator=gen)
    )
    got = _run(got_sub, conv, x, g)
    assert got[0].is_contiguous(memory_format=CL) and got[1].is_contiguous(memory_format=CL)
    if integers:
        ref = _run(phase_conv.after_upsampling(up, conv, (c, h, w), frozenset(), relu), conv, x, g)
    else:  # float64 oracle: the same layer, weights and data in double
        conv.double()
        ref = _run(
            phase_conv.after_upsampling(up, conv, (c, h, w), frozenset(), relu), conv, x.double(), g.double()
        )
        conv.float()
    return ref, got


GEOMETRIES = [
    # n, c, o, h, w, s, k, padding
    (9, 16, 1, 14, 14, 2, 3, "same"),  # the lecture's last layer: the kernel's common case
    (3, 16, 1, 5, 7, 2, 3, "same"),  # the common case on a small, non-square image (borders only)
    (4, 16, 1, 8, 8, 2, 3, "valid"),  # a crop: 16 - 2 = 14 rows out of 16
    (2, 16, 5, 4, 19, 2, 3, "same"),  # several outputs: the generic path
    (10, 32, 16, 8, 8, 2, 3, "valid"),  # 64 phases: the most the kernel takes
    (1, 48, 2, 20, 33, 2, 1, "valid"),  # 1 x 1 filters: one tap per phase
    (3, 16, 3, 3, 3, 3, 3, "same"),  # s = 3: phases of 2, 1, 2 taps, all read as 2
    (2, 16, 1, 5, 6, 2, 4, "same"),  # even k: phases of 3 and 2 taps, read as 3
    (2, 16, 1, 6, 5, 2, 5, "same"),  # 5 x 5: a 3 x 3 folded window per phase
    (2, 16, 2, 6, 6, 1, 3, "same"),  # s = 1: a plain convolution
]


@needs_kernels
@pytest.mark.parametrize("n, c, o, h, w, s, k, padding", GEOMETRIES)
@pytest.mark.parametrize("relu", [False, True])
def test_exact_where_the_sums_are(n, c, o, h, w, s, k, padding, relu):
    ref, got = _case(n, c, o, h, w, s, k, padding, relu, integers=True)
    for name, a, b in zip(("y", "dx", "dw", "db"), ref, got, strict=True):
        assert torch.equal(a, b), name


@needs_kernels
@pytest.mark.parametrize("n, c, o, h, w, s, k, padding", GEOMETRIES)
@pytest.mark.parametrize("relu", [False, True])
def test_matches_a_float64_reference_on_real_values(n, c, o, h, w, s, k, padding, relu):
    ref, got = _case(n, c, o, h, w, s, k, padding, relu, integers=False)
    for name, a, b in zip(("y", "dx", "dw", "db"), ref, got, strict=True):
        scale = a.abs().max().item() + 1.0
        assert (a - b.double()).abs().max().item() <= 1e-5 * scale, name


@needs_kernels
def test_the_same_for_any_number_of_threads():
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_case(33, 16, 1, 14, 14, 2, 3, "same", False, integers=False)[1])
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


@needs_kernels
def test_nan_reaches_the_outputs_that_read_it():
    up, conv = _layer(16, 1, 6, 6, 2, 3, "same", False, False, 0)
    x = torch.randn(1, 16, 6, 6).contiguous(memory_format=CL)
    x[0, 3, 2, 2] = float("nan")
    sub = phase_conv.after_upsampling(up, conv, (16, 6, 6), frozenset({"subpixel"}))
    y = sub(x)
    ref = conv.call(up.call(x))  # the layers themselves: upsample, then convolve
    assert torch.equal(y.isnan(), ref.isnan()) and y.isnan().sum() == 16  # a 2x2 block seen by 3x3 taps


@needs_kernels
def test_declines_what_it_does_not_compute():
    up, conv = _layer(16, 1, 6, 6, 2, 3, "same", False, False, 0)
    geom = phase_conv.after_upsampling(up, conv, (16, 6, 6), frozenset({"subpixel"})).fused
    x = torch.randn(2, 16, 6, 6).contiguous(memory_format=CL)
    assert ksub.eligible(x, conv.weight, geom)
    assert not ksub.eligible(torch.randn(2, 16, 6, 6), conv.weight, geom)  # NCHW
    assert not ksub.eligible(x.double(), conv.weight.double(), geom)
    x8 = torch.randn(2, 8, 6, 6).contiguous(memory_format=CL)
    assert not ksub.eligible(x8, torch.randn(1, 8, 3, 3), geom)  # channels not a multiple of 16
    assert not ksub.eligible(x, torch.randn(17, 16, 3, 3), geom)  # 68 phases: oneDNN fills its vectors
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not ksub.eligible(x, conv.weight, geom)
    with pytest.raises(ValueError, match="unequal"):
        ksub.Geometry(2, 3, (0, 0), ((0, 2), (1, 2)), ((0, 2), (1, 3)), (4, 4))
    with pytest.raises(ValueError, match="factor"):
        ksub.Geometry(9, 3, (0, 0), ((0, 1),) * 9, ((0, 1),) * 9, (4, 4))
    with pytest.raises(ValueError, match="do not fit"):
        ksub.Geometry(2, 3, (0, 0), ((0, 2), (1, 4)), ((0, 2), (1, 3)), (4, 4))


@needs_kernels
def test_the_plan_runs_it_for_the_lecture_models_last_layer(monkeypatch):
    from convolab.engine.device import prepare
    from convolab.engine.predict import forward_fn
    from convolab.model.sequential import Sequential

    calls = []
    real = ksub.subpixel_conv
    monkeypatch.setattr(
        ksub, "subpixel_conv", lambda x, *a, **k: calls.append(x.shape[1]) or real(x, *a, **k)
    )
    model = prepare(Sequential.from_spec("seed-upsampling"))
    x = torch.rand(4, 1, 28, 28).contiguous(memory_format=CL)
    with torch.no_grad():
        ref = forward_fn(model, native=False)(x, False)
        got = forward_fn(model, native=True)(x, False)
    assert calls == [16]  # dec_out (16 channels in); the 4- and 8-channel layers stay with oneDNN
    assert (ref - got).abs().max().item() < 1e-5


@needs_kernels
@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 9),
    blocks=st.integers(1, 2),
    o=st.integers(1, 4),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    s=st.integers(1, 3),
    k=st.sampled_from([1, 2, 3]),
    padding=st.sampled_from(["same", "valid"]),
    relu=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_exact_on_integers(n, blocks, o, h, w, s, k, padding, relu, seed):
    """Any small geometry the kernel takes: bit for bit PyTorch's path where the sums are exact."""
    if padding == "valid" and (h * s < k or w * s < k):
        return  # no output: the layer refuses it too
    up, conv = _layer(16 * blocks, o, h, w, s, k, padding, relu, True, seed)
    sub = phase_conv.after_upsampling(up, conv, (16 * blocks, h, w), frozenset({"subpixel"}), relu)
    x = torch.zeros(n, 16 * blocks, h, w).contiguous(memory_format=CL)
    if sub.fused is None or not ksub.eligible(x, conv.weight, sub.fused):
        return  # the kernel declined (e.g. the window): PyTorch's path
    ref, got = _case(n, 16 * blocks, o, h, w, s, k, padding, relu, integers=True, seed=seed)
    for a, b in zip(ref, got, strict=True):
        assert torch.equal(a, b)
