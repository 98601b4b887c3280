"""convolab.engine.phase_conv through the plan: every phase-convolution rewrite equals the layers it replaces.

The oracle is the layer-by-layer model ``model(x)`` (convolab's Sequential: the upsampling layer, then
the layer's own ``F.conv2d`` or full ``F.conv_transpose2d`` + Keras crop + bias), compared with
``run_plan(build_plan(model), x)`` in the forward pass and in the gradients of the input and of every
parameter. Configurations are drawn from a seeded ``random.Random`` per case (channels 1..20, kernels
1..5 per axis, factors 1..4, 'same'/'valid', output_padding, odd/even/non-square sizes, relu/sigmoid/
linear, with and without the C kernels), and each case checks that its pattern is actually rewritten.

Tolerance: float32 with another summation order (the folded kernel sums the taps that read the same
low-resolution pixel first; the C kernel sums channels innermost): ``rtol = 1e-5`` and ``atol = 1e-5``
times the largest magnitude of the compared tensor (the weight gradients sum over the whole batch).
"""

from __future__ import annotations

import random

import pytest
import torch

from convolab.engine import native
from convolab.engine import plan as fastplan
from convolab.engine.device import prepare
from convolab.engine.native import subpixel as ksub
from convolab.engine.phase_conv import FlippedConv, PhaseConv, phase_taps
from convolab.model.sequential import Sequential

# the plan bounds the subpixel kernel to 16 input channels (measured); these tests reach it at any count
pytestmark = pytest.mark.usefixtures("subpixel_kernel_at_any_channels")


CL = torch.channels_last
FAMILIES = ("up-conv", "nails-conv", "up-transpose", "nails-transpose", "transpose-1", "transpose-s")
CASES_PER_FAMILY = 12


def _transpose(rng: random.Random, name: str, filters: int, kernel: list[int], stride: int) -> dict:
    op = rng.choice([None, *range(stride)])
    return {
        "type": "Conv2DTranspose",
        "name": name,
        "filters": filters,
        "kernel_size": kernel,
        "strides": stride,
        "padding": rng.choice(["same", "valid"]),
        "output_padding": op,
        "activation": rng.choice(["relu", "sigmoid", None]),
    }


def _draw(family: str, rng: random.Random) -> dict:
    """One random model spec of ``family``: the pattern, then (half the time) a 1x1 conv, so the
    pattern is not the logits layer and a fused ReLU runs."""
    c, o, s = rng.randint(1, 20), rng.randint(1, 20), rng.randint(1, 4)
    h, w = rng.randint(1, 9), rng.randint(1, 9)
    kernel = [rng.randint(1, 5), rng.randint(1, 5)]
    layers: list[dict] = []
    if family in ("up-conv", "nails-conv", "up-transpose", "nails-transpose"):
        kind = "UpSampling2D" if family.startswith("up") else "BedOfNails2D"
        layers.append({"type": kind, "name": "up", "size": s})
        if family.endswith("conv"):
            act = rng.choice(["relu", "sigmoid", None])
            pad = rng.choice(["same", "valid"])
            conv = {"type": "Conv2D", "name": "conv", "filters": o, "kernel_size": kernel, "padding": pad}
            layers.append({**conv, "activation": act})
        else:
            layers.append(_transpose(rng, "conv", o, kernel, 1))
    else:
        layers.append(_transpose(rng, "conv", o, kernel, 1 if family == "transpose-1" else max(s, 2)))
    if rng.random() < 0.5:
        layers.append(
            {"type": "Conv2D", "name": "tail", "filters": 2, "kernel_size": 1, "activation": "sigmoid"}
        )
    return {"name": family, "input_shape": [c, h, w], "latent": "conv", "layers": layers}


def _case(family: str, index: int) -> tuple[dict, bool]:
    """A valid model spec (redrawn where Keras refuses the configuration) and whether to use the C kernels."""
    rng = random.Random(f"{family}-{index}")
    while True:
        spec = _draw(family, rng)
        try:
            Sequential.from_spec(spec)
        except ValueError:
            continue
        return spec, rng.random() < 0.5


CASES = [(family, i) for family in FAMILIES for i in range(CASES_PER_FAMILY)]


def _close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    scale = max(1.0, want.abs().max().item())
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * scale, msg=lambda m: f"{what}: {m}")


def _check(spec: dict, use_native: bool, seed: int = 0) -> list:
    """Plan vs model: forward (activations and logits) and every gradient; returns the plan."""
    torch.manual_seed(seed)
    model = Sequential.from_spec(spec)
    if use_native:
        model = prepare(model)
    plan = fastplan.build_plan(model, native=use_native)
    assert plan is not None
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(3, *spec["input_shape"], generator=gen)
    if use_native:
        x = x.contiguous(memory_format=CL)
    params = list(model.parameters())
    for logits in (False, True):
        xw, xg = x.clone().requires_grad_(), x.clone().requires_grad_()
        want = model(xw, logits=logits)
        got = fastplan.run_plan(plan, xg, logits=logits)
        _close(got, want, f"forward (logits={logits})")
        g = torch.randn(want.shape, generator=gen)
        want_grads = torch.autograd.grad((want * g).sum(), [xw, *params])
        got_grads = torch.autograd.grad((got * g).sum(), [xg, *params])
        names = ["input", *(n for n, _ in model.named_parameters())]
        for name, a, b in zip(names, got_grads, want_grads, strict=True):
            _close(a, b, f"grad of {name} (logits={logits})")
    return plan


def _rewritten(family: str, plan: list, spec: dict) -> None:
    """The pattern is one plan entry of the expected class, for the layer named 'conv'."""
    fn, _, step = plan[0]
    assert step.name == "conv", [s.name for _, _, s in plan]  # an upsampling pair is one entry
    assert len(plan) == len(spec["layers"]) - (0 if family.startswith("transpose") else 1)
    assert isinstance(fn, FlippedConv if family == "transpose-1" else PhaseConv)
    assert fn.layer is step.layer


@pytest.mark.parametrize(("family", "index"), CASES)
def test_the_plan_equals_the_layers(family: str, index: int, monkeypatch) -> None:
    monkeypatch.setattr(fastplan, "STRIDED_TRANSPOSE", True)  # check the rewrite whether or not it is on
    spec, use_native = _case(family, index)
    plan = _check(spec, use_native)
    _rewritten(family, plan, spec)


def test_the_draws_cover_the_families_axes() -> None:
    """The random cases reach what they are meant to: even, odd and non-square kernels, every factor,
    both paddings, output_padding, every activation, native on and off."""
    seen: dict[str, set] = {
        k: set() for k in ("kernel", "factor", "padding", "op", "act", "native", "square")
    }
    for family, index in CASES:
        spec, use_native = _case(family, index)
        conv = next(layer for layer in spec["layers"] if layer["name"] == "conv")
        seen["kernel"].update(conv["kernel_size"])
        seen["square"].add(conv["kernel_size"][0] == conv["kernel_size"][1])
        seen["factor"].add(spec["layers"][0].get("size", conv.get("strides")))
        seen["padding"].add(conv["padding"])
        seen["op"].add(conv.get("output_padding"))
        seen["act"].add(conv["activation"])
        seen["native"].add(use_native)
    assert seen["kernel"] == {1, 2, 3, 4, 5} and seen["square"] == {True, False}
    assert seen["factor"] >= {1, 2, 3, 4} and seen["padding"] == {"same", "valid"}
    assert seen["op"] >= {None, 0, 1} and seen["act"] == {"relu", "sigmoid", None}
    assert seen["native"] == {True, False}


# ---- pinned examples: the zoo's patterns, and the geometries where the C kernel runs -------------------
def _spec(layers: list[dict], shape: list[int]) -> dict:
    return {"name": "pinned", "input_shape": shape, "latent": "conv", "layers": layers}


def _conv(kind: str, filters: int, k: int = 3, **kw) -> dict:
    return {"type": kind, "name": "conv", "filters": filters, "kernel_size": k, "activation": "relu", **kw}


TAIL = {"type": "Conv2D", "name": "tail", "filters": 1, "kernel_size": 1, "activation": "sigmoid"}
UP2 = {"type": "UpSampling2D", "name": "up", "size": 2}
T = "Conv2DTranspose"


def _nails(s: int) -> dict:
    return {"type": "BedOfNails2D", "name": "up", "size": s}


NATIVE_CASES = {
    # name: (layers, input shape): 16 or 32 channels in, few out, so the subpixel kernel takes them
    "nails-conv": ([_nails(2), _conv("Conv2D", 1, padding="same")], [16, 7, 6]),
    "up-transpose": ([UP2, _conv(T, 2)], [16, 5, 5]),
    "strided-transpose": ([_conv(T, 1, strides=2, padding="same")], [16, 14, 14]),
    "strided-transpose-op0": ([_conv(T, 3, strides=2, padding="same", output_padding=0)], [16, 4, 5]),
    "empty-phases": ([_conv(T, 1, k=1, strides=3, padding="valid")], [16, 4, 4]),  # phases 1, 2 read nothing
    "nails-empty-phases": ([_nails(4), _conv("Conv2D", 2, k=2)], [32, 3, 3]),
}


@pytest.mark.skipif(not native.available(), reason=f"C kernels: {native.status()}")
@pytest.mark.parametrize("name", list(NATIVE_CASES))
def test_the_subpixel_kernel_runs_the_new_patterns(name: str, monkeypatch) -> None:
    """Nails and transposed phase convolutions run the C kernel (``fused`` and eligible) and equal the
    layers; a ReLU before the tail is fused into it."""
    monkeypatch.setattr(fastplan, "STRIDED_TRANSPOSE", True)
    calls: list[int] = []
    real = ksub.subpixel_conv
    monkeypatch.setattr(
        ksub, "subpixel_conv", lambda x, *a, **k: calls.append(x.shape[1]) or real(x, *a, **k)
    )
    layers, shape = NATIVE_CASES[name]
    for tail in ([], [TAIL]):
        calls.clear()
        plan = _check(_spec([*layers, *tail], shape), use_native=True)
        assert isinstance(plan[0][0], PhaseConv) and plan[0][0].fused is not None
        assert plan[0][0].relu == bool(tail) and calls == [shape[0]] * 2  # logits off, on
        assert plan[0][1] == (not tail)


def test_zoo_models_rewrite_every_upsampling_and_transpose(monkeypatch) -> None:
    """seed-transpose: 1 flipped conv + 3 up+transpose phase convs; bed-of-nails: 3 nails phase convs;
    strided-transpose: 3 strided phase convs (with ``STRIDED_TRANSPOSE``)."""
    monkeypatch.setattr(fastplan, "STRIDED_TRANSPOSE", True)
    expect = {
        "seed-transpose": {"FlippedConv": 1, "PhaseConv": 3},
        "bed-of-nails": {"PhaseConv": 3},
        "strided-transpose": {"PhaseConv": 3},
    }
    for name, counts in expect.items():
        plan = fastplan.build_plan(Sequential.from_spec(name))
        assert plan is not None
        kinds = [type(fn).__name__ for fn, _, _ in plan]
        assert {k: kinds.count(k) for k in counts} == counts, name


def test_phase_taps_select_what_the_algebra_says() -> None:
    """Hand-derived selections. Nearest s=2, k=3, pt=1: phase 0 reads rows i-1 (tap 0), i (taps 1, 2);
    phase 1 reads i (taps 0, 1), i+1 (tap 2). Nails: only taps with (a - pt + t) % 2 == 0: phase 0
    taps 1 (row i); phase 1 taps 0 (row i), 2 (row i+1). Flipped (a transpose): tap t -> k - 1 - t."""
    m, dmin = phase_taps(2, 3, 1)
    assert dmin == -1 and m.shape == (2, 3, 3)
    assert m[0].tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    assert m[1].tolist() == [[0, 0, 0], [1, 1, 0], [0, 0, 1]]
    m, dmin = phase_taps(2, 3, 1, nails=True)
    assert dmin == 0 and m.shape == (2, 2, 3)
    assert m[0].tolist() == [[0, 1, 0], [0, 0, 0]] and m[1].tolist() == [[1, 0, 0], [0, 0, 1]]
    flipped, dmin_f = phase_taps(2, 3, 1, nails=True, flip=True)
    assert dmin_f == dmin and torch.equal(flipped, m.flip(2))


@pytest.mark.parametrize("name", ["nails-conv", "strided-transpose"])
def test_two_by_two_windows_take_the_kernels_three_by_three_case(name: str, monkeypatch) -> None:
    """16 -> 1 at factor 2 with 2 x 2 folded windows (k = 3 bed of nails or stride-2 transpose): with
    the subpixel kernel the windows get a zero row and column (its specialised 3 x 3 case); without
    it they stay 2 x 2 (fewer taps for oneDNN). The values are checked above (NATIVE_CASES)."""
    monkeypatch.setattr(fastplan, "STRIDED_TRANSPOSE", True)
    layers, shape = NATIVE_CASES[name]
    model = Sequential.from_spec(_spec(layers, shape))
    for use, k in ((True, 3), (False, 2)):
        plan = fastplan.build_plan(model, native=use)
        assert plan is not None
        fn = plan[0][0]
        assert isinstance(fn, PhaseConv) and fn.mh.shape[1] == fn.mw.shape[1] == k
        assert (fn.fused is not None and fn.fused.k == 3) == use
