"""convolab.engine.switches: the fused plan of models with MaxUnpool2D switches, and pool-first under every
monotone activation, against the layer-by-layer model (``model(x)``, the oracle) in the output, every
gradient and the switches themselves; ``max_unpool2d(disjoint=True)`` against its general path.

Tolerances: the plan runs the same convolutions as the model (the same oneDNN calls on the same
tensors), and pooling and unpooling move values without arithmetic, so forward values agree to the last
bit except where the C ``conv_pool`` kernel sums a first layer in another order (float32 rounding,
~1e-7 relative) or the activation runs on the pooled tensor instead of the full one (its kernel may
round a value differently by an ulp). Gradients sum the same products in other orders (the pool-first
ReLU backward, the scatter's gather): compared at rtol 1e-4 and atol 1e-5 times the gradient's largest
magnitude (float32 sums of a few thousand terms).
"""

from __future__ import annotations

import random

import pytest
import torch

from convolab.engine import switches as sw
from convolab.engine.device import prepare
from convolab.engine.plan import build_plan, run_plan
from convolab.layers.pooling import MaxPool2D
from convolab.layers.upsampling import max_unpool2d
from convolab.model.sequential import Sequential

ACTS = ["relu", "linear", "sigmoid", "tanh", "leaky_relu"]


def _conv(name, filters, k=3, padding="same", act="relu"):
    return {"type": "Conv2D", "name": name, "filters": filters, "kernel_size": k, "padding": padding,
            "activation": act}  # fmt: skip


def _pool(name, size, strides, padding):
    return {"type": "MaxPool2D", "name": name, "pool_size": size, "strides": strides, "padding": padding}


def _spec(case: dict) -> dict:
    """conv(act_a) -> pool 'p0' (no switches) -> conv(act_b) -> pool 'p1' (switches) -> conv -> unpool
    'p1' -> conv(1, sigmoid): one pool-first pair of each kind and one unpooling."""
    c, f = case["channels"], case["filters"]
    layers = [
        _conv("a", f, case["k"], case["pad_a"], case["act_a"]),
        _pool("p0", case["size0"], case["stride0"], case["pad0"]),
        _conv("b", f, case["k"], "same", case["act_b"]),
        _pool("p1", case["size1"], case["stride1"], case["pad1"]),
        _conv("c", f, 3, "same", case["act_c"]),
        {"type": "MaxUnpool2D", "name": "u", "pool": "p1"},
        _conv("out", 1, 3, "same", "sigmoid"),
    ]
    return {"name": "case", "input_shape": [c, *case["hw"]], "layers": layers}


def _draw(rng: random.Random) -> dict:
    size0, size1 = rng.choice([2, 3]), rng.choice([2, 3])
    return {
        "channels": rng.choice([1, 2, 3]),
        "filters": rng.choice([3, 4, 8]),
        "k": rng.choice([1, 2, 3]),
        "pad_a": rng.choice(["same", "valid"]),
        "act_a": rng.choice(ACTS),
        "act_b": rng.choice(["relu", "relu", "linear", "sigmoid"]),  # switch pools: relu and linear fuse
        "act_c": rng.choice(ACTS),
        "size0": size0,
        "stride0": rng.choice([size0, size0, 1, 2]),  # overlapping windows where stride < size
        "pad0": rng.choice(["same", "valid"]),
        "size1": size1,
        "stride1": rng.choice([size1, size1, 1, 2]),
        "pad1": rng.choice(["same", "valid"]),
        "hw": (rng.randint(7, 14), rng.randint(7, 14)),
        "native": rng.choice([True, False]),
        "grad_x": rng.choice([True, False]),
    }


def _cases(n: int, seed: int = 20261208) -> list[dict]:
    rng, out = random.Random(seed), []
    while len(out) < n:
        case = _draw(rng)
        try:
            Sequential.from_spec(_spec(case))
        except ValueError:  # a pool or 'valid' conv larger than its input: draw again
            continue
        out.append(case)
    return out


# Pinned: configurations that exercise each rule on purpose (leading 'same' padding, overlapping
# windows on the switch pool, a linear switch pool, saturating activations, the C kernels).
PINNED = [
    {"channels": 1, "filters": 8, "k": 3, "pad_a": "same", "act_a": "relu", "act_b": "relu", "act_c": "relu",
     "size0": 2, "stride0": 2, "pad0": "same", "size1": 2, "stride1": 2, "pad1": "same", "hw": (13, 11),
     "native": True, "grad_x": False},
    {"channels": 3, "filters": 4, "k": 2, "pad_a": "valid", "act_a": "tanh", "act_b": "relu",
     "act_c": "linear", "size0": 3, "stride0": 2, "pad0": "same", "size1": 3, "stride1": 1, "pad1": "same",
     "hw": (12, 9), "native": False, "grad_x": True},
    {"channels": 2, "filters": 3, "k": 3, "pad_a": "same", "act_a": "sigmoid", "act_b": "linear",
     "act_c": "leaky_relu", "size0": 2, "stride0": 1, "pad0": "valid", "size1": 3, "stride1": 3,
     "pad1": "same", "hw": (10, 14), "native": True, "grad_x": True},
    {"channels": 1, "filters": 4, "k": 3, "pad_a": "same", "act_a": "leaky_relu", "act_b": "relu",
     "act_c": "sigmoid", "size0": 3, "stride0": 3, "pad0": "same", "size1": 2, "stride1": 2, "pad1": "valid",
     "hw": (14, 13), "native": True, "grad_x": False},
]  # fmt: skip

CASES = PINNED + _cases(36)


def _model(case: dict, seed: int) -> Sequential:
    torch.manual_seed(seed)
    return prepare(Sequential.from_spec(_spec(case)))


def _plan_with_switches(plan, x: torch.Tensor, logits: bool = False):
    """``run_plan`` with the switches dict visible (the same loop)."""
    store: sw.Switches = {}
    for fn, activates, step in plan:
        x = fn(x, store) if isinstance(fn, sw.SwitchOp) else fn(x)
        if activates and not (logits and step.logits):
            x = step.layer.activate(x)
    return x, {k: sw.as_switches(v) for k, v in store.items()}


def _model_switches(model: Sequential, x: torch.Tensor) -> dict[int, torch.Tensor]:
    """The oracle's switches: each switch pool's own ``forward_with_switches`` on its layer-by-layer input."""
    maps = [x] + [m for _, m in model.feature_maps(x)]
    return {
        s.index: s.layer.forward_with_switches(maps[s.index])[1] for s in model.walk.steps if s.keeps_switches
    }


def _grads(out: torch.Tensor, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    weight = torch.linspace(-1, 1, out.numel()).view_as(out)  # not symmetric: every path carries gradient
    return torch.autograd.grad((out * weight).sum() + out.square().sum(), inputs)


def _check(model: Sequential, x: torch.Tensor, native: bool, grad_x: bool) -> None:
    plan = build_plan(model, native=native)
    assert plan is not None
    if grad_x:
        x = x.clone().requires_grad_(True)
    for logits in (False, True):
        got, store = _plan_with_switches(plan, x, logits)
        want = model(x, logits=logits)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)
        torch.testing.assert_close(run_plan(plan, x, logits=logits), got, rtol=0, atol=0, equal_nan=True)
        oracle = _model_switches(model, x)
        assert store.keys() == oracle.keys()
        for k in oracle:
            assert torch.equal(store[k], oracle[k]), f"switches of layer {k}"
        inputs = list(model.parameters()) + ([x] if grad_x else [])
        for a, b in zip(_grads(got, inputs), _grads(want, inputs), strict=True):
            scale = float(b.abs().max()) if b.numel() else 0.0
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_plan_equals_layer_by_layer_model(case: dict) -> None:
    model = _model(case, seed=len(str(case)))
    x = torch.rand(3, case["channels"], *case["hw"], generator=torch.Generator().manual_seed(1)) - 0.3
    _check(model, x.contiguous(memory_format=torch.channels_last), case["native"], case["grad_x"])


def _crafted(model: Sequential, x: torch.Tensor) -> torch.Tensor:
    """Make switch choices hard: in conv 'b' (before the switch pool) channel 0 constant and positive
    (every window a tie), channel 1 <= 0 everywhere (every ReLU window all zeros), channel 2 without
    bias; and the input has a zero block (ties inside a window)."""
    b = model.get_layer("b")
    with torch.no_grad():
        b.weight[0].zero_()
        b.bias[0] = 0.5
        b.weight[1].zero_()
        b.bias[1] = -0.25
        b.bias[2] = 0.0
    x = x.clone()
    x[:, :, : x.shape[2] // 2, : x.shape[3] // 2] = 0.0
    return x


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("case", PINNED[:2] + CASES[10:14], ids=lambda c: str(id(c) % 1000))
def test_switches_on_ties_and_windows_without_positive_values(case: dict, native: bool) -> None:
    model = _model(case, seed=3)
    x = torch.rand(2, case["channels"], *case["hw"], generator=torch.Generator().manual_seed(2))
    x = _crafted(model, x).contiguous(memory_format=torch.channels_last)
    _check(model, x, native, grad_x=False)


@pytest.mark.parametrize("native", [True, False])
def test_switches_follow_the_layer_path_on_nan(native: bool) -> None:
    """A NaN reaches the switch pool: both paths keep the NaN's position (NaN wins max pooling, and
    ``NaN <= 0`` is false, so the plan keeps the arg-max there)."""
    case = PINNED[0]
    model = _model(case, seed=4)
    x = torch.rand(2, 1, *case["hw"], generator=torch.Generator().manual_seed(3))
    x[0, 0, 6, 5] = float("nan")
    plan = build_plan(model, native=native)
    x = x.contiguous(memory_format=torch.channels_last)
    got, store = _plan_with_switches(plan, x)
    torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5, equal_nan=True)
    assert got.isnan().any()
    oracle = _model_switches(model, x)
    assert all(torch.equal(store[k], oracle[k]) for k in oracle)


@pytest.mark.parametrize("native", [True, False])
def test_the_zoo_unpool_model_equals_its_layers_with_the_c_kernels_switches(
    native: bool, monkeypatch
) -> None:
    """The zoo's model: its first pair on the data runs ``conv_pool`` (native), the others
    ``pool_relu``, the unpooling ``unpool`` at their winners; the switches from the winners are the layer
    path's, zero blocks (ties) included."""
    from convolab.engine.native import available, conv_pool, pool

    calls: list[str] = []
    for module, name in ((conv_pool, "conv_pool_relu"), (pool, "pool_relu"), (pool, "unpool")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    torch.manual_seed(0)
    model = prepare(Sequential.from_spec("unpool"))
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    x[:, :, :10] = 0.0  # a blank band, as the digits' background
    _check(model, x.contiguous(memory_format=torch.channels_last), native, grad_x=False)
    if native and available():
        assert {"conv_pool_relu", "pool_relu", "unpool"} <= set(calls)
    else:
        assert not calls


def test_the_zoo_unpool_model_is_planned_with_every_switch_pool_and_unpool_rewritten() -> None:
    model = Sequential.from_spec("unpool")
    plan = build_plan(model)
    assert plan is not None
    pools = [fn for fn, _, _ in plan if isinstance(fn, sw.ConvPoolSwitches)]
    unpools = [fn for fn, _, _ in plan if isinstance(fn, sw.Unpool)]
    assert len(pools) == 3 and all(p.relu for p in pools)  # conv+pool pairs, pooled before ReLU
    assert len(unpools) == 3 and all(u.disjoint for u in unpools)  # 2x2 windows at stride 2: a scatter
    assert all(u.conv is not None for u in unpools)  # each decoder Conv2D(relu) joins its unpool
    assert len(plan) == len(model) - 6
    assert build_plan(model, unpool=False) is None
    no_pool_first = build_plan(model, pool_first=False)
    assert no_pool_first is not None
    assert sum(isinstance(fn, sw.PoolSwitches) for fn, _, _ in no_pool_first) == 3
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(run_plan(no_pool_first, x), model(x), rtol=1e-5, atol=1e-6)


def test_a_plan_runs_in_several_threads_at_once() -> None:
    """The switches live in a dict per call: concurrent calls on one plan give each its own result."""
    from concurrent.futures import ThreadPoolExecutor

    torch.manual_seed(0)
    model = Sequential.from_spec("unpool")
    plan = build_plan(model, native=False)
    xs = [torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(i)) for i in range(6)]
    with torch.no_grad():
        want = [model(x) for x in xs]
        with ThreadPoolExecutor(3) as pool:
            got = list(pool.map(lambda x: run_plan(plan, x), xs))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(12))
def test_disjoint_unpool_equals_the_general_path(seed: int) -> None:
    rng = random.Random(seed)
    k = (rng.choice([1, 2, 3]), rng.choice([1, 2, 3]))
    s = (k[0] + rng.choice([0, 0, 1]), k[1] + rng.choice([0, 0, 1]))  # strides >= size: disjoint
    pool = MaxPool2D(k, s, rng.choice(["same", "valid"]))
    h, w = rng.randint(k[0], 12), rng.randint(k[1], 12)
    x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(seed))
    if seed % 3 == 0:
        x = x.contiguous(memory_format=torch.channels_last)
    y, switches = pool.forward_with_switches(x)
    v = (y * 2).detach().requires_grad_(True)
    fast = max_unpool2d(v, switches, (h, w), disjoint=True)
    slow = max_unpool2d(v, switches, (h, w))
    assert torch.equal(fast, slow)
    g = torch.randn(fast.shape, generator=torch.Generator().manual_seed(seed + 100))
    (gf,) = torch.autograd.grad(fast, v, g)
    (gs,) = torch.autograd.grad(slow, v, g)
    assert torch.equal(gf, gs)
    if seed % 3 == 0:
        assert fast.is_contiguous(memory_format=torch.channels_last)


def test_winner_offsets_map_each_window_position_to_its_flat_index() -> None:
    table, origin = sw.winner_offsets(((2, 3), (3, 2)), (6, 7))
    assert table[: 2 * 3].tolist() == [0, 1, 2, 7, 8, 9] and table[255] == 0
    assert origin[:, :, 0].tolist() == [[0, 3], [14, 17], [28, 31]]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_c_unpool_at_winners_equals_max_unpool2d(seed: int, relu: bool) -> None:
    """``native.pool.unpool`` (values at ``pool_relu``'s winners, DEAD = the window's first position;
    ``relu``: of ``relu(v)``) against ``max_unpool2d`` at the int64 switches of the same winners: the
    same bits both ways."""
    from convolab.engine.native import available
    from convolab.engine.native import pool as kpool

    if not available():
        pytest.skip("the C kernels are not built here")
    rng = random.Random(seed)
    k = (rng.choice([1, 2, 3]), rng.choice([2, 3]))
    h, w = rng.randint(k[0], 11), rng.randint(k[1], 11)
    out = (rng.choice([h // k[0], -(-h // k[0])]), rng.choice([w // k[1], -(-w // k[1])]))
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(2, 5, h, w, generator=gen)
    z[0, :, : k[0], : k[1]] = -1.0  # a first window with no positive value: DEAD, the switch at its origin
    z = z.contiguous(memory_format=torch.channels_last)
    _, winner = kpool.pool_relu(z, k, out, winners=True)
    assert (winner == kpool.DEAD).any()  # some windows have no positive value
    kept = sw.Winners(winner, (k, out), (h, w), sw.winner_offsets((k, out), (h, w)))
    v = (
        torch.randn(2, 5, *out, generator=gen)
        .contiguous(memory_format=torch.channels_last)
        .requires_grad_(True)
    )
    fast = kpool.unpool(v, kept.winners, k, (h, w), relu=relu)
    slow = max_unpool2d(torch.relu(v) if relu else v, kept.switches(), (h, w))
    assert torch.equal(fast, slow) and fast.is_contiguous(memory_format=torch.channels_last)
    g = torch.randn(fast.shape, generator=gen)
    assert torch.equal(torch.autograd.grad(fast, v, g)[0], torch.autograd.grad(slow, v, g)[0])


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "leaky_relu", "linear"])
def test_pool_first_under_saturation_ties(act: str) -> None:
    """``Conv2D(f) -> MaxPool2D`` (no switches) pooled first under a saturating ``f``: channel 0's large
    bias makes ``f`` round to 1.0 at every pixel (ties after saturation), where the layer path's gradient
    goes to the first tied pixel and the plan's to ``z``'s arg-max: both are zero there (``f'`` is 0 in
    float32 once ``f`` is 1.0), so forward and gradients agree at the usual tolerance. leaky_relu and
    linear do not saturate: their pool-first pairs with the same large values."""
    layers = [_conv("a", 3, 3, "same", act), _pool("p", 2, 2, "same"), _conv("out", 1, 3, "same", "sigmoid")]
    spec = {"name": "sat", "input_shape": [2, 9, 8], "layers": layers}
    torch.manual_seed(7)
    model = Sequential.from_spec(spec)
    with torch.no_grad():
        model.get_layer("a").bias[0] = 40.0
    plan = build_plan(model, native=False)
    assert plan is not None and len(plan) == 2  # the pair pooled first, then the last conv
    x = torch.rand(3, 2, 9, 8, generator=torch.Generator().manual_seed(8)).requires_grad_(True)
    got, want = run_plan(plan, x), model(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    inputs = [*model.parameters(), x]
    for a, b in zip(_grads(got, inputs), _grads(want, inputs), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * max(1.0, float(b.abs().max())))
