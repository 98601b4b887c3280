"""engine.native: the C pool+ReLU kernel equals PyTorch's path bit for bit; the build degrades cleanly.

The oracle is PyTorch itself: ``relu_(max_pool2d(z, k, k, ceil_mode=...))`` and its autograd gradient,
run on the same tensor. Equality is ``torch.equal`` on values and on gradients (not a tolerance): the
kernel only moves values, it computes no new ones. Ties (constant regions, the background of real
images), negative and zero maxima (ReLU off: no gradient), NaN and infinities are all in the cases.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convolab.engine import native
from convolab.engine.native import build
from convolab.engine.native import conv_pool as kconv
from convolab.engine.native import pool as kpool
from convolab.engine.native import shuffle as kshuffle

needs_kernels = pytest.mark.skipif(not native.available(), reason=f"C kernels: {native.status()}")


def _oracle(z: torch.Tensor, k: tuple[int, int], ceil: bool, g: torch.Tensor):
    z = z.detach().clone().requires_grad_()
    y = torch.relu_(F.max_pool2d(z, k, k, ceil_mode=ceil))
    y.backward(g)
    return y.detach(), z.grad


def _kernel(z: torch.Tensor, k: tuple[int, int], ceil: bool, g: torch.Tensor):
    z = z.detach().clone().requires_grad_()
    h, w = z.shape[2:]
    rnd = math.ceil if ceil else math.floor
    out = (rnd(h / k[0]), rnd(w / k[1]))
    assert kpool.eligible(z, k)
    y = kpool.pool_relu(z, k, out)
    y.backward(g)
    return y.detach(), z.grad


def _check(z: torch.Tensor, k=(2, 2), ceil=False, seed=0):
    z = z.contiguous(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(seed)
    y_ref = F.max_pool2d(z, k, k, ceil_mode=ceil)
    g = torch.randn(y_ref.shape, generator=gen).contiguous(memory_format=torch.channels_last)
    y1, g1 = _oracle(z, k, ceil, g)
    y2, g2 = _kernel(z, k, ceil, g)
    assert y2.shape == y1.shape and y2.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y1.nan_to_num(7.0), y2.nan_to_num(7.0)) and torch.equal(y1.isnan(), y2.isnan())
    assert torch.equal(g1, g2)
    assert g2.is_contiguous(memory_format=torch.channels_last)


@needs_kernels
@pytest.mark.parametrize(
    "shape, k, ceil",
    [
        ((4, 16, 28, 28), (2, 2), False),  # the lecture's first pool
        ((4, 8, 14, 14), (2, 2), False),
        ((4, 4, 7, 7), (2, 2), True),  # 'same' 7 -> 4: the last window is one row/column
        ((4, 4, 7, 7), (2, 2), False),  # 'valid' 7 -> 3: the last row/column gets no gradient
        ((2, 1, 9, 11), (3, 3), True),
        ((2, 3, 10, 10), (3, 3), False),
        ((3, 5, 6, 9), (2, 3), True),  # rectangular windows, channels not a multiple of the lanes
        ((1, 17, 5, 5), (1, 1), False),  # 1x1 windows: a plain ReLU
        ((2, 2, 4, 4), (4, 4), False),
        ((1, 6, 16, 16), (15, 15), True),  # 225 positions: still a byte
    ],
)
def test_random_values_match_pytorch(shape, k, ceil):
    _check(torch.randn(shape, generator=torch.Generator().manual_seed(1)), k, ceil)


@needs_kernels
def test_ties_zero_and_negative_maxima_match_pytorch():
    z = torch.randn(3, 8, 12, 12, generator=torch.Generator().manual_seed(2))
    z[:, :, :6] = 0.25  # constant region: every window ties, the first position wins
    z[:, :, 6:8] = 0.0  # maxima exactly 0: ReLU passes no gradient
    z[:, :3, 8:] = -1.5  # negative maxima
    z[0, 0, 10, 10] = 0.25
    z[0, 0, 10, 11] = 0.25  # a tie inside a random window
    _check(z)
    _check(z, (3, 3), ceil=True)


@needs_kernels
def test_nan_and_infinities_match_pytorch():
    z = torch.randn(2, 5, 8, 8, generator=torch.Generator().manual_seed(3))
    z[0, 0, 0, 0] = float("nan")  # NaN first in its window
    z[0, 1, 1, 1] = float("nan")  # NaN last in its window
    z[0, 2, 2, 2], z[0, 2, 2, 3] = float("nan"), float("nan")  # two NaNs: the last wins
    z[1, 0, 4:6, 4:6] = float("-inf")  # a window of -inf: ReLU -> 0, no gradient
    z[1, 1, 0, 1] = float("inf")
    _check(z)


@needs_kernels
@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 9),
    h=st.integers(1, 13),
    w=st.integers(1, 13),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    ceil=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_small_integer_values_many_ties(n, c, h, w, kh, kw, ceil, seed):
    if (not ceil and (h < kh or w < kw)) or h < 1 or w < 1:
        return  # no output: PyTorch refuses the shape too
    gen = torch.Generator().manual_seed(seed)
    z = torch.randint(-2, 3, (n, c, h, w), generator=gen).float()  # 5 values: ties everywhere
    _check(z, (kh, kw), ceil, seed)


@needs_kernels
def test_threads_give_the_same_result():
    z = torch.randn(64, 16, 28, 28, generator=torch.Generator().manual_seed(4))  # above the OpenMP cut
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _kernel(
            z.contiguous(memory_format=torch.channels_last), (2, 2), False, torch.ones(64, 16, 14, 14)
        )
        torch.set_num_threads(2)
        two = _kernel(
            z.contiguous(memory_format=torch.channels_last), (2, 2), False, torch.ones(64, 16, 14, 14)
        )
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


@needs_kernels
def test_shares_torchs_openmp_runtime():
    """One libgomp in the process: the kernels use torch's threads, not a second pool."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    gomps = {line.split()[-1] for line in maps if "libgomp" in line}
    assert len(gomps) <= 1, gomps


@needs_kernels
def test_not_eligible_outside_the_kernels_case():
    z = torch.randn(2, 4, 8, 8)
    assert not kpool.eligible(z.contiguous(memory_format=torch.channels_last).double(), (2, 2))
    assert not kpool.eligible(z.contiguous(memory_format=torch.channels_last).bfloat16(), (2, 2))
    assert not kpool.eligible(z[:, :, ::2], (2, 2))  # not channels_last-contiguous
    assert not kpool.eligible(z.contiguous(memory_format=torch.channels_last), (16, 16))  # 256 positions
    with pytest.raises(ValueError, match="neither floor nor ceil"):
        kpool.pool_relu(z.contiguous(memory_format=torch.channels_last), (2, 2), (5, 4))


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv(build.ENV_SWITCH, "0")
    build.reset()
    try:
        assert not native.available()
        assert "CONVOLAB_NATIVE=0" in native.status()
        assert not kpool.eligible(
            torch.randn(1, 4, 4, 4).contiguous(memory_format=torch.channels_last), (2, 2)
        )
    finally:
        build.reset()


def test_no_compiler_and_failing_compiler_fall_back(monkeypatch, tmp_path):
    monkeypatch.setenv(build.ENV_DIR, str(tmp_path / "k"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    build.reset()
    try:
        assert build.library() is None and "no C compiler" in build.status()
        fake = tmp_path / "cc"
        fake.write_text("#!/bin/sh\necho 'cc: error: this compiler always fails' >&2\nexit 1\n")
        fake.chmod(0o755)
        monkeypatch.setenv("CC", str(fake))
        build.reset()
        assert build.library() is None
        assert "build failed" in build.status() and "always fails" in build.status()
        assert not list((tmp_path / "k").glob("*.so"))  # no half-written library left
    finally:
        build.reset()


@needs_kernels
def test_built_once_then_loaded_from_the_cache_and_rebuilt_when_broken(monkeypatch, tmp_path):
    monkeypatch.setenv(build.ENV_DIR, str(tmp_path))
    build.reset()
    try:
        assert build.library() is not None
        (lib,) = tmp_path.glob("convolab-native-*.so")
        stamp = lib.stat().st_mtime_ns
        build.reset()
        assert build.library() is not None and lib.stat().st_mtime_ns == stamp  # not rebuilt
        broken = tmp_path / "broken"
        broken.write_bytes(b"not a shared library")
        broken.replace(lib)  # a new file (the loaded one stays mapped, as after a crash mid-copy)
        # a fresh process (this one would get its loaded copy back from dlopen by name)
        code = (
            "from convolab.engine.native import build; assert build.library() is not None; "
            "print(build.status())"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert str(lib) in out.stdout and lib.stat().st_size > 1000  # rebuilt in place
    finally:
        build.reset()


def _lecture_steps(kernels_on, x: torch.Tensor, steps: int = 4):
    from convolab.engine.device import prepare
    from convolab.engine.optimizer import make_adam
    from convolab.engine.predict import predict
    from convolab.engine.step import TrainStep
    from convolab.model.sequential import Sequential

    torch.manual_seed(9)
    model = prepare(Sequential.from_spec("seed-upsampling"))
    step = TrainStep(model, make_adam(model, 1e-2), "bce", native=kernels_on)
    losses = torch.stack([step(x[i * 8 : (i + 1) * 8], x[i * 8 : (i + 1) * 8]) for i in range(steps)])
    return (
        losses,
        [p.detach().clone() for p in model.parameters()],
        predict(model, x, native=kernels_on),
    )


def _data(n: int = 32) -> torch.Tensor:
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x[:, :, :5] = 0.0  # a background band: ties in every pooling window above it
    return x


@needs_kernels
def test_pool_kernel_training_is_the_same_bit_for_bit(monkeypatch):
    """The lecture's model, 4 Adam steps, the exact kernels (pool, shuffle; the first layer's fused
    kernel off): losses, weights and predictions equal to PyTorch's path; the kernel did run."""
    calls = []
    real = kpool.pool_relu
    monkeypatch.setattr(kpool, "pool_relu", lambda *a: calls.append(1) or real(*a))
    on, off = _lecture_steps({"pool", "shuffle"}, _data()), _lecture_steps(False, _data())
    assert len(calls) == 3 * 4 + 3  # three pools per step, then predict's one batch
    assert torch.equal(on[0], off[0])
    assert all(torch.equal(a, b) for a, b in zip(on[1], off[1], strict=True))
    assert torch.equal(on[2], off[2])


@needs_kernels
def test_all_kernels_train_the_same_function(monkeypatch):
    """With the first layer fused too, the same training to float rounding (its sums run in another
    order than oneDNN's); the fused kernel ran for every step and for predict."""
    calls = []
    real = kconv.conv_pool_relu
    monkeypatch.setattr(kconv, "conv_pool_relu", lambda *a: calls.append(a[0].shape[1]) or real(*a))
    on, off = _lecture_steps(True, _data()), _lecture_steps(False, _data())
    # the first layer at each step and in predict; in predict (no gradients) the third pair's
    # 8-channel input qualifies too
    assert calls == [1, 1, 1, 1, 1, 8]
    torch.testing.assert_close(on[0], off[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(on[1], off[1], strict=True):  # Adam at lr 1e-2: a fraction of one step
        torch.testing.assert_close(a, b, rtol=1e-3, atol=3e-4)
    torch.testing.assert_close(on[2], off[2], rtol=1e-4, atol=1e-5)


# --- the fused first layer: conv + pool + relu (native/conv_pool.py) ---


def _conv_oracle(x, w, b, padding, pool, ceil, g):
    """PyTorch's path: Keras padding by hand (asymmetric for even kernels), conv, pool, relu."""
    from convolab.layers.padding import padding_amounts

    w = w.detach().clone().requires_grad_()
    b = b.detach().clone().requires_grad_() if b is not None else None
    (kh, kw), (h, wd) = w.shape[2:], x.shape[2:]
    (pt, pb), (pl, pr) = padding_amounts(h, kh, 1, padding), padding_amounts(wd, kw, 1, padding)
    z = F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, b)
    y = torch.relu_(F.max_pool2d(z, pool, pool, ceil_mode=ceil))
    y.backward(g)
    return y.detach(), w.grad, (b.grad if b is not None else None), (pt, pl), tuple(z.shape[2:])


def _conv_kernel(x, w, b, pads, conv_hw, pool, out_hw, g):
    w = w.detach().clone().requires_grad_()
    b = b.detach().clone().requires_grad_() if b is not None else None
    geom = kconv.Geometry(pads, conv_hw, pool, out_hw)
    assert kconv.eligible(x, w, geom)
    y = kconv.conv_pool_relu(x, w, b, geom)
    y.backward(g)
    return y.detach(), w.grad, (b.grad if b is not None else None)


def _conv_case(n, c, o, h, w, k, padding, pool, ceil, integers, bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    if integers:  # every sum exact in float32: any order gives the same bits
        x = torch.randint(0, 3, (n, c, h, w), generator=gen).float()
        wt = torch.randint(-1, 2, (o, c, *k), generator=gen).float()
        b = torch.randint(-2, 3, (o,), generator=gen).float() if bias else None
    else:
        x = torch.rand(n, c, h, w, generator=gen)
        x[:, :, : h // 3] = 0.0  # background: exact ties (every window's conv value is the bias)
        wt = torch.randn(o, c, *k, generator=gen) * 0.4
        b = torch.randn(o, generator=gen) * 0.1 if bias else None
    x = x.contiguous(memory_format=torch.channels_last)
    wt = wt.contiguous(memory_format=torch.channels_last)
    from convolab.layers.padding import padding_amounts

    (pt, pb), (pl, pr) = padding_amounts(h, k[0], 1, padding), padding_amounts(w, k[1], 1, padding)
    conv_hw = (h + pt + pb - k[0] + 1, w + pl + pr - k[1] + 1)
    rnd = math.ceil if ceil else math.floor
    out_hw = (rnd(conv_hw[0] / pool[0]), rnd(conv_hw[1] / pool[1]))
    g = (
        torch.randint(-3, 4, (n, o, *out_hw), generator=gen).float()
        if integers
        else torch.randn(n, o, *out_hw, generator=gen)
    )
    g = g.contiguous(memory_format=torch.channels_last)
    ref = _conv_oracle(x, wt, b, padding, pool, ceil, g)
    got = _conv_kernel(x, wt, b, ref[3], ref[4], pool, out_hw, g)
    return ref, got


CONV_CASES = [  # n, c, o, h, w, kernel, padding, pool, ceil
    (4, 1, 16, 28, 28, (3, 3), "same", (2, 2), False),  # the lecture's first layer
    (3, 3, 5, 9, 11, (3, 3), "same", (2, 2), True),  # RGB, filters not a multiple of the 16 lanes
    (2, 1, 40, 8, 8, (2, 2), "same", (2, 2), False),  # even kernel: Keras pads after; 3 lane blocks
    (2, 2, 7, 10, 9, (4, 4), "same", (3, 3), True),
    (3, 1, 8, 12, 12, (3, 3), "valid", (2, 2), False),
    (2, 3, 16, 11, 11, (5, 5), "valid", (2, 2), True),  # 75 taps: the largest the kernel takes
    (9, 1, 3, 6, 6, (3, 3), "same", (1, 1), False),  # 1x1 pool; 9 images: two gradient chunks
]


@needs_kernels
@pytest.mark.parametrize("case", CONV_CASES)
def test_fused_conv_is_exact_where_the_sums_are(case):
    """Small integers: every sum is exact, so the kernel must equal PyTorch's path bit for bit,
    ties (the first maximum wins) and dead ReLUs included."""
    ref, got = _conv_case(*case, integers=True)
    assert torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1]) and torch.equal(ref[2], got[2])


@needs_kernels
@pytest.mark.parametrize("case", CONV_CASES)
def test_fused_conv_matches_pytorch_on_real_values(case):
    ref, got = _conv_case(*case, integers=False, seed=1)
    torch.testing.assert_close(got[0], ref[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got[2], ref[2], rtol=1e-4, atol=1e-5)


@needs_kernels
def test_fused_conv_without_bias_and_its_weight_gradient_layout():
    ref, got = _conv_case(2, 1, 16, 8, 8, (3, 3), "same", (2, 2), False, integers=True, bias=False)
    assert got[2] is None and torch.equal(ref[1], got[1])


@needs_kernels
def test_fused_conv_is_the_same_for_any_number_of_threads():
    before = torch.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out.append(
                _conv_case(64, 1, 16, 28, 28, (3, 3), "same", (2, 2), False, integers=False, seed=3)[1]
            )
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(a, b) for a, b in zip(out[0], out[1], strict=True))


@needs_kernels
def test_fused_conv_declines_what_it_does_not_compute():
    w = torch.randn(16, 1, 3, 3)
    geom = kconv.Geometry((1, 1), (8, 8), (2, 2), (4, 4))
    x = torch.rand(2, 1, 8, 8)
    assert kconv.eligible(x, w, geom)
    assert not kconv.eligible(x.clone().requires_grad_(), w, geom)  # not the data: its gradient is needed
    assert not kconv.eligible(x.double(), w.double(), geom)
    assert not kconv.eligible(torch.rand(2, 4, 8, 8), torch.randn(16, 4, 5, 5), geom)  # 100 taps
    assert not kconv.eligible(x, torch.randn(300, 1, 3, 3), geom)  # more filters than the kernel's bound
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not kconv.eligible(x, w, geom)
    with pytest.raises(ValueError, match="neither floor nor ceil"):
        kconv.Geometry((1, 1), (8, 8), (2, 2), (3, 4))


# the C kernel's specialised path: 3x3 kernels, C in {1, 3}, 2x2 windows (kconv.SPECIALISED switches it)
FAST_CASES = [  # n, c, o, h, w, padding, ceil
    (9, 1, 16, 28, 28, "same", False),  # the lecture's first layer; 9 images: two gradient chunks
    (3, 3, 16, 12, 12, "same", False),  # RGB
    (2, 1, 20, 13, 11, "same", True),  # odd sizes, ceil: the last row's and column's windows cut short;
    #                                    an odd count of whole columns (the pair loop's tail); 2 blocks
    (2, 3, 5, 9, 7, "same", True),  # filters fewer than the lanes
    (2, 1, 33, 11, 13, "valid", True),  # 'valid' 9 x 11, cut short; 3 lane blocks, the last of one filter
    (3, 3, 16, 10, 9, "valid", False),  # floor: the last conv row and column in no window
    (1, 1, 16, 4, 4, "same", False),
    (1, 3, 1, 3, 3, "same", True),  # one whole window, the rest cut short
    (2, 1, 7, 3, 5, "valid", True),  # a conv output of one row: no whole window at all
    (1, 3, 16, 5, 340, "same", True),  # the widest rows the backward's quad rows take (QROW)
    (1, 3, 16, 5, 345, "same", True),  # wider: its other variant (the same sums)
]


def _fast_case(monkeypatch, specialised, case, **kw):
    monkeypatch.setattr(kconv, "SPECIALISED", specialised)
    n, c, o, h, w, padding, ceil = case
    return _conv_case(n, c, o, h, w, (3, 3), padding, (2, 2), ceil, **kw)


@needs_kernels
@pytest.mark.parametrize("specialised", [True, False])
@pytest.mark.parametrize("case", FAST_CASES)
def test_fused_conv_specialised_and_generic_paths_exact_where_the_sums_are(monkeypatch, specialised, case):
    """Both of the C file's paths on the specialised path's geometry: bit for bit PyTorch's path on
    small integers, forward, weight and bias gradients (ties and dead ReLUs included)."""
    ref, got = _fast_case(monkeypatch, specialised, case, integers=True, seed=7)
    assert torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1]) and torch.equal(ref[2], got[2])


@needs_kernels
@pytest.mark.parametrize("case", FAST_CASES)
def test_fused_conv_specialised_path_sums_as_the_generic_one(monkeypatch, case):
    """Real values: the forward sums in the same order on both paths (the same bits), and so do the
    gradients' where no window is cut short (else the specialised path adds those last: rounding);
    both agree with PyTorch's path."""
    ref, fast = _fast_case(monkeypatch, True, case, integers=False, seed=2)
    _, generic = _fast_case(monkeypatch, False, case, integers=False, seed=2)
    assert torch.equal(fast[0], generic[0])
    n, c, o, h, w, padding, ceil = case
    hz, wz = ref[4]
    if not (ceil and (hz % 2 or wz % 2)):
        assert torch.equal(fast[1], generic[1]) and torch.equal(fast[2], generic[2])
    for got in (fast, generic):
        torch.testing.assert_close(got[0], ref[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got[1], ref[1], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got[2], ref[2], rtol=1e-4, atol=1e-5)


@needs_kernels
@pytest.mark.parametrize("specialised", [True, False])
@pytest.mark.parametrize("case", [(64, 1, 16, 28, 28, "same", False), (24, 3, 20, 15, 13, "same", True)])
def test_fused_conv_both_paths_the_same_for_any_number_of_threads(monkeypatch, specialised, case):
    before = torch.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out.append(_fast_case(monkeypatch, specialised, case, integers=False, seed=3)[1])
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(a, b) for a, b in zip(out[0], out[1], strict=True))


def _nan_inf_case(monkeypatch, specialised, c, ceil):
    """Integer data with NaN and infinities in it: the kernel against PyTorch's path, NaN where it has
    NaN, the rest bit for bit (a NaN input or an infinity times a zero weight or gradient spreads NaN
    through the conv sums and the weight gradient, as in PyTorch)."""
    monkeypatch.setattr(kconv, "SPECIALISED", specialised)
    gen = torch.Generator().manual_seed(11)
    n, o, h, w = 3, 16, 11 if ceil else 12, 11 if ceil else 12  # the last image finite
    x = torch.randint(0, 3, (n, c, h, w), generator=gen).float()
    x[0, 0, 2, 3] = float("nan")  # a NaN: every window that reads it wins with NaN
    x[0, -1, 3, 3] = float("nan")  # a second NaN in the same windows: the last one wins
    x[1, 0, 5, 6] = float("inf")
    x[1, -1, 8, 1] = float("-inf")
    x[1, 0, h - 1, w - 1] = float("nan")  # in the cut-short windows (ceil) or the last full ones
    x = x.contiguous(memory_format=torch.channels_last)
    wt = torch.randint(-1, 2, (o, c, 3, 3), generator=gen).float()
    b = torch.randint(-2, 3, (o,), generator=gen).float()
    hz, wz = h, w
    out_hw = (-(-hz // 2), -(-wz // 2)) if ceil else (hz // 2, wz // 2)
    g = (
        torch.randint(-3, 4, (n, o, *out_hw), generator=gen)
        .float()
        .contiguous(memory_format=torch.channels_last)
    )
    ref = _conv_oracle(x, wt, b, "same", (2, 2), ceil, g)
    got = _conv_kernel(x, wt, b, ref[3], ref[4], (2, 2), out_hw, g)
    return ref, got


@needs_kernels
@pytest.mark.parametrize("specialised", [True, False])
@pytest.mark.parametrize("c, ceil", [(1, False), (3, True), (1, True)])
def test_fused_conv_nan_and_infinities_match_pytorch(monkeypatch, specialised, c, ceil):
    ref, got = _nan_inf_case(monkeypatch, specialised, c, ceil)
    for r, k in zip(ref[:3], got, strict=True):
        assert torch.equal(r.isnan(), k.isnan()), (r.isnan().sum(), k.isnan().sum())
        assert torch.equal(r.nan_to_num(0.5, 1e30, -1e30), k.nan_to_num(0.5, 1e30, -1e30))
    assert ref[0].isnan().any() and ref[0].isinf().any() and ref[1].isnan().any()


@needs_kernels
@pytest.mark.parametrize("specialised", [True, False])
@pytest.mark.parametrize("case", [FAST_CASES[0], FAST_CASES[2], FAST_CASES[4]])
def test_fused_conv_within_rounding_of_a_float64_reference(monkeypatch, specialised, case):
    """Real values: both paths within float32 rounding of PyTorch's path run in float64 (the same
    winners: the data's background ties are exact in either precision)."""
    monkeypatch.setattr(kconv, "SPECIALISED", specialised)
    n, c, o, h, w, padding, ceil = case
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(n, c, h, w, generator=gen).contiguous(memory_format=torch.channels_last)
    wt, b = torch.randn(o, c, 3, 3, generator=gen) * 0.4, torch.randn(o, generator=gen) * 0.1
    hz, wz = (h, w) if padding == "same" else (h - 2, w - 2)
    out_hw = (-(-hz // 2), -(-wz // 2)) if ceil else (hz // 2, wz // 2)
    g = torch.randn(n, o, *out_hw, generator=gen, dtype=torch.float64)
    ref = _conv_oracle(x.double(), wt.double(), b.double(), padding, (2, 2), ceil, g)
    got = _conv_kernel(
        x, wt, b, ref[3], ref[4], (2, 2), out_hw, g.float().contiguous(memory_format=torch.channels_last)
    )
    torch.testing.assert_close(got[0].double(), ref[0], rtol=1e-6, atol=1e-6)
    scale = g.abs().sum().item() / o  # the gradients sum about this many terms of size ~1 per filter
    torch.testing.assert_close(got[1].double(), ref[1], rtol=1e-5, atol=1e-6 * scale)
    torch.testing.assert_close(got[2].double(), ref[2], rtol=1e-5, atol=1e-6 * scale)


@needs_kernels
@pytest.mark.parametrize("c, nan_weight", [(1, False), (3, False), (1, True)])
def test_fused_conv_sums_that_may_overflow_take_the_nan_testing_pooling(monkeypatch, c, nan_weight):
    """Huge inputs or weights, a NaN weight (no bound keeps the conv sums finite, so the pooling
    tests for NaN): the specialised path gives the generic path's bits, overflow to inf included."""
    gen = torch.Generator().manual_seed(9)
    x = torch.rand(3, c, 10, 10, generator=gen)
    x[1] *= 3e37  # one image whose sums overflow to inf
    x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(16, c, 3, 3, generator=gen)
    w[3, :, 0], w[3, :, 2] = 3e38, -3e38  # one filter whose sums overflow on any image
    if nan_weight:
        w[5, 0, 1, 1] = float("nan")  # NaN sums (the bound is NaN too)
    b = torch.randn(16, generator=gen)
    g = torch.randn(3, 16, 5, 5, generator=gen).contiguous(memory_format=torch.channels_last)
    out = []
    for specialised in (True, False):
        monkeypatch.setattr(kconv, "SPECIALISED", specialised)
        out.append(_conv_kernel(x, w, b, (1, 1), (10, 10), (2, 2), (5, 5), g))
    # overflow gives inf (and NaN too where a build has no FMA: inf - inf)
    assert out[0][0].isinf().any() and (out[0][0].isnan().any() or not nan_weight)
    for a, k in zip(*out, strict=True):
        assert torch.equal(a.isnan(), k.isnan()) and torch.equal(a.nan_to_num(0.5), k.nan_to_num(0.5))


@needs_kernels
@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 10),
    c=st.sampled_from([1, 3]),
    o=st.integers(1, 40),
    h=st.integers(2, 15),
    w=st.integers(2, 15),
    padding=st.sampled_from(["same", "valid"]),
    ceil=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_fused_conv_specialised_path_exact_on_integers(n, c, o, h, w, padding, ceil, seed):
    """Any size on the specialised path's geometry: bit for bit PyTorch's path where the sums are exact."""
    hz, wz = (h, w) if padding == "same" else (h - 2, w - 2)
    if hz < 1 or wz < 1 or (not ceil and (hz < 2 or wz < 2)):
        return
    assert kconv.SPECIALISED
    ref, got = _conv_case(n, c, o, h, w, (3, 3), padding, (2, 2), ceil, integers=True, seed=seed)
    assert torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1]) and torch.equal(ref[2], got[2])


# --- pixel_shuffle with a crop (native/shuffle.py) ---


@needs_kernels
@pytest.mark.parametrize(
    "n, o, s, h, w, out_hw",
    [
        (4, 8, 2, 4, 4, (8, 8)),  # the lecture's sub-pixel convolutions
        (4, 16, 2, 7, 7, (14, 14)),
        (4, 1, 2, 14, 14, (28, 28)),  # one output channel
        (3, 16, 2, 7, 7, (13, 13)),  # a crop ('valid' conv after the upsampling)
        (2, 5, 3, 4, 5, (10, 14)),  # s = 3, rows and columns cropped differently
        (1, 3, 1, 6, 6, (6, 6)),  # s = 1: a copy
        (64, 16, 2, 7, 7, (14, 13)),  # threads; columns cut, rows not (s = 2's block path and its edge)
        (2, 3, 2, 5, 6, (9, 12)),  # an odd channel count; rows cut
    ],
)
@pytest.mark.parametrize("relu", [False, True])
def test_shuffle_crop_matches_pytorch_bit_for_bit(n, o, s, h, w, out_hw, relu):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(n, o * s * s, h, w, generator=gen).contiguous(memory_format=torch.channels_last)
    x[0, 0, 0, 0] = float("nan")
    x[-1, -1, -1, :2] = 0.0  # ReLU's output exactly 0: no gradient
    g = torch.randn(n, o, *out_hw, generator=gen)
    ref_x, got_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref = F.pixel_shuffle(ref_x, s)[:, :, : out_hw[0], : out_hw[1]]
    ref = torch.relu(ref) if relu else ref
    assert kshuffle.eligible(got_x, s)
    got = kshuffle.shuffle_crop(got_x, s, out_hw, relu=relu)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(ref.nan_to_num(9.0), got.nan_to_num(9.0)) and torch.equal(ref.isnan(), got.isnan())
    ref.backward(g)
    got.backward(g)
    assert torch.equal(ref_x.grad, got_x.grad)


@needs_kernels
def test_shuffle_crop_declines_and_refuses():
    x = torch.randn(2, 8, 4, 4).contiguous(memory_format=torch.channels_last)
    assert not kshuffle.eligible(x, 3)  # 8 channels are not O * 9
    assert not kshuffle.eligible(torch.randn(2, 8, 4, 4), 2)  # NCHW
    assert not kshuffle.eligible(x.bfloat16(), 2)
    with pytest.raises(ValueError, match="not inside"):
        kshuffle.shuffle_crop(x, 2, (9, 8))


def test_kernel_selection_is_checked():
    from convolab.engine.device import prepare
    from convolab.engine.optimizer import make_adam
    from convolab.engine.step import TrainStep
    from convolab.model.sequential import Sequential

    assert native.select(True) == set(native.NAMES) and native.select(False) == set()
    assert native.select(["pool"]) == {"pool"}
    with pytest.raises(ValueError, match="unknown kernels"):
        native.select({"pool", "warp"})
    with pytest.raises(TypeError, match="bool or a collection"):
        native.select("pool")
    model = prepare(Sequential.from_spec("seed-upsampling"))
    with pytest.raises(ValueError, match="unknown kernels"):
        TrainStep(model, make_adam(model), native={"fast"})


@pytest.mark.skipif(
    platform.system() != "Linux" or build._compiler() is None or os.environ.get(build.ENV_SWITCH) == "0",
    reason="the kernels are built only on Linux with a C compiler, and not with CONVOLAB_NATIVE=0",
)
def test_the_kernels_build_where_they_can():
    """Where a compiler is, the kernels must build: else every test marked needs_kernels would skip
    and a broken source would pass CI (the fallback to PyTorch's ops is for users, not for tests)."""
    assert native.available(), native.status()


def test_the_kernel_sources_ship_in_the_package():
    """A wheel carries every C source and header build.py compiles (pyproject's package-data): an
    installed convolab without them would silently run the PyTorch path."""
    import fnmatch
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    root = Path(build.__file__).resolve().parents[4]  # src/convolab/engine/native/build.py
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not a source checkout")
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["convolab"]
    here = Path(build.__file__).parent
    files = [f"engine/native/{name}" for name in build.SOURCES]
    files += [f"engine/native/{h.name}" for h in here.glob("*.h")]
    assert all((here / Path(f).name).is_file() for f in files)
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_a_missing_source_falls_back_with_its_reason(monkeypatch, tmp_path):
    monkeypatch.setenv(build.ENV_DIR, str(tmp_path))
    monkeypatch.setattr(build, "SOURCES", ("no_such_kernel.c",))
    build.reset()
    try:
        assert build.library() is None
        assert "build failed" in build.status() and "no_such_kernel.c" in build.status()
    finally:
        build.reset()


@needs_kernels
@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 10),
    c=st.integers(1, 3),
    o=st.integers(1, 20),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    ph=st.integers(1, 3),
    pw=st.integers(1, 3),
    padding=st.sampled_from(["same", "valid"]),
    ceil=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_fused_conv_exact_on_integers(n, c, o, h, w, kh, kw, ph, pw, padding, ceil, seed):
    """Any small geometry the kernel takes: bit for bit PyTorch's path where the sums are exact."""
    hz, wz = (h, w) if padding == "same" else (h - kh + 1, w - kw + 1)
    if hz < 1 or wz < 1 or (not ceil and (hz < ph or wz < pw)):
        return  # no conv output or no pooled output: PyTorch refuses these too
    ref, got = _conv_case(n, c, o, h, w, (kh, kw), padding, (ph, pw), ceil, integers=True, seed=seed)
    assert torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1]) and torch.equal(ref[2], got[2])
