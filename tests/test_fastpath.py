"""convolab.engine: the fast training step equals the plain PyTorch loop, deterministically; predict batches;
the fused plan (engine.plan), Keras's Adam (engine.optimizer), the heap tuning (engine.allocator)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convolab.engine.allocator import configure_allocator
from convolab.engine.device import prepare
from convolab.engine.optimizer import make_adam
from convolab.engine.predict import eval_chunk, predict
from convolab.engine.step import TrainStep


class TinyAE(nn.Module):
    """A small conv autoencoder with convolab's forward signature (logits keyword)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.c3 = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, *, logits: bool = False) -> torch.Tensor:
        h = F.max_pool2d(F.relu(self.c1(x)), 2)  # (N, 4, H/2, W/2)
        h = F.interpolate(F.relu(self.c2(h)), scale_factor=2.0, mode="nearest")  # (N, 4, H, W)
        z = self.c3(h)
        return z if logits else torch.sigmoid(z)


def _data(n: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g)


def _naive_train(
    model: nn.Module, x: torch.Tensor, loss: str, steps: int, bs: int, sgd: bool = False
) -> tuple[nn.Module, list]:
    """The textbook loop, NCHW, sigmoid output, F.binary_cross_entropy (the oracle)."""
    opt = (
        torch.optim.SGD(model.parameters(), lr=0.5)
        if sgd
        else torch.optim.Adam(model.parameters(), lr=1e-2, eps=1e-7)  # Keras eps (make_adam)
    )
    losses = []
    for i in range(steps):
        xb = x[(i * bs) % len(x) :][:bs]
        opt.zero_grad()
        y = model(xb)
        out = F.binary_cross_entropy(y, xb) if loss == "bce" else F.mse_loss(y, xb)
        out.backward()
        opt.step()
        losses.append(out.item())
    return model, losses


def _fast_train(model: nn.Module, x: torch.Tensor, loss: str, steps: int, bs: int) -> tuple[nn.Module, list]:
    model = prepare(model, "cpu")
    step = TrainStep(model, torch.optim.Adam(model.parameters(), lr=1e-2, eps=1e-7), loss)
    losses = []
    for i in range(steps):
        xb = x[(i * bs) % len(x) :][:bs]
        losses.append(step(xb, xb))
    return model, losses


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_trainstep_matches_naive_loop(loss: str) -> None:
    x = _data()
    torch.manual_seed(1)
    ref, ref_losses = _naive_train(TinyAE(), x, loss, steps=12, bs=8)
    torch.manual_seed(1)
    fast, losses = _fast_train(TinyAE(), x, loss, steps=12, bs=8)
    for (name, a), b in zip(ref.named_parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=f"parameter {name}")
    assert all(v.dim() == 0 and not v.requires_grad for v in losses)
    torch.testing.assert_close(torch.stack(losses), torch.tensor(ref_losses), rtol=1e-4, atol=1e-6)


def test_trainstep_is_bitwise_deterministic() -> None:
    x = _data(32)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        model, losses = _fast_train(TinyAE(), x, "bce", steps=10, bs=16)
        runs.append(([p.detach().clone() for p in model.parameters()], torch.stack(losses)))
    (pa, la), (pb, lb) = runs
    assert torch.equal(la, lb)
    assert all(torch.equal(a, b) for a, b in zip(pa, pb, strict=True))


def test_trainstep_leaves_no_gradients() -> None:
    model = prepare(TinyAE())
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "mse")
    step(_data(4), _data(4))
    assert all(p.grad is None for p in model.parameters())


def test_trainstep_trains_in_train_mode_after_eval() -> None:
    model = prepare(TinyAE())
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "mse")
    seen = []
    model.c1.register_forward_hook(lambda m, i, o: seen.append(m.training))
    for setup in (model.eval, lambda: model.c1.eval(), lambda: None):  # all, one submodule, none
        setup()
        step(_data(4), _data(4))
        assert seen[-1] and all(m.training for m in model.modules())


def test_trainstep_rejects_bad_arguments() -> None:
    model = TinyAE()
    with pytest.raises(ValueError, match="loss"):
        TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "hinge")
    with pytest.raises(TypeError, match="optimizer"):
        TrainStep(model, "adam", "bce")  # type: ignore[arg-type]


def test_prepare_uses_channels_last_on_cpu() -> None:
    model = prepare(TinyAE(), "cpu")
    assert model.c1.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.c1.weight.device.type == "cpu"


def test_predict_matches_unbatched_forward_and_restores_mode() -> None:
    torch.manual_seed(0)
    model = TinyAE()
    x = _data(10)
    with torch.no_grad():
        expected = model(x)
        expected_logits = model(x, logits=True)
    model = prepare(model)
    model.train()
    got = predict(model, x, batch_size=3)
    assert got.shape == (10, 1, 8, 8) and got.is_contiguous()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(predict(model, x, 4, logits=True), expected_logits)
    assert model.training


def test_predict_rejects_bad_batch_size_and_empty_input() -> None:
    model = TinyAE()
    with pytest.raises(ValueError, match="batch_size"):
        predict(model, _data(2), batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        predict(model, _data(2)[:0])


# ---- the fused plan for convolab's Sequential (convolab.engine.plan) ------------------------------------
def _upsample_conv_oracle(x, w, b, s, padding):
    """Nearest upsampling by repetition (NumPy-style repeat) then the plain convolution."""
    up = x.repeat_interleave(s, dim=2).repeat_interleave(s, dim=3)  # (N, C, H*s, W*s)
    k = w.shape[-1]
    pad = (k - 1) // 2 if padding == "same" else 0
    if padding == "same" and (k - 1) % 2:  # TF 'same': the extra row/column goes to the end
        up = F.pad(up, (0, 1, 0, 1))
    return F.conv2d(up, w, b, padding=pad)


@pytest.mark.parametrize(
    ("s", "k", "padding", "hw"),
    [(2, 3, "same", (4, 5)), (2, 3, "valid", (8, 8)), (2, 3, "valid", (5, 7)), (3, 3, "same", (3, 4)),
     (2, 5, "same", (4, 4)), (2, 2, "same", (3, 3)), (3, 4, "valid", (4, 3)), (2, 1, "valid", (3, 2))],
)  # fmt: skip
def test_subpixel_conv_equals_upsample_then_conv(s, k, padding, hw) -> None:
    from convolab.engine import phase_conv
    from convolab.layers.conv import Conv2D
    from convolab.layers.upsampling import UpSampling2D

    torch.manual_seed(0)
    up, conv = UpSampling2D(s), Conv2D(3, k, padding=padding)
    conv.build((2, hw[0] * s, hw[1] * s))
    x = torch.randn(2, 2, *hw, requires_grad=True)
    got = phase_conv.after_upsampling(up, conv, (2, *hw))(x)
    want = _upsample_conv_oracle(x, conv.weight, conv.bias, s, padding)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got, conv.call(up.call(x)), rtol=1e-5, atol=1e-5)
    gw, gx = torch.autograd.grad(got.square().sum(), [conv.weight, x])
    ww, wx = torch.autograd.grad(want.square().sum(), [conv.weight, x])
    torch.testing.assert_close(gw, ww, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gx, wx, rtol=1e-4, atol=1e-4)


ZOO_PLANNED = ["seed-upsampling", "chollet", "seed-transpose", "bed-of-nails", "strided-transpose", "dense"]


@pytest.mark.parametrize("name", ZOO_PLANNED)
def test_plan_matches_model_forward_and_gradients(name: str) -> None:
    from convolab.engine import plan as fastplan
    from convolab.model.sequential import Sequential

    torch.manual_seed(0)
    model = Sequential.from_spec(name)
    plan = fastplan.build_plan(model)
    assert plan is not None
    x = torch.rand(3, *model.input_shape)
    for logits in (False, True):
        want = model(x, logits=logits)
        got = fastplan.run_plan(plan, x, logits=logits)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        params = list(model.parameters())
        for a, b in zip(
            torch.autograd.grad(got.square().sum(), params),
            torch.autograd.grad(want.square().sum(), params),
            strict=True,
        ):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("native", [True, False])
def test_plan_keeps_a_relu_last_layer_out_of_logits(native: bool) -> None:
    """``logits=True`` skips the last layer's activation whatever it is, also where a kernel would
    fuse that layer's ReLU (the sub-pixel convolution's pass)."""
    from convolab.engine import plan as fastplan
    from convolab.model.sequential import Sequential

    def conv(name: str, filters: int) -> dict:
        return {
            "type": "Conv2D",
            "name": name,
            "filters": filters,
            "kernel_size": 3,
            "padding": "same",
            "activation": "relu",
        }

    up = {"type": "UpSampling2D", "name": "up", "size": 2}
    spec = {
        "name": "relu-last",
        "input_shape": [16, 6, 6],
        "latent": "c",
        "layers": [conv("c", 16), up, conv("out", 1)],
    }
    torch.manual_seed(0)
    model = prepare(Sequential.from_spec(spec))
    plan = fastplan.build_plan(model, native=native)
    assert plan is not None
    x = torch.randn(4, 16, 6, 6).contiguous(memory_format=torch.channels_last)
    for logits in (False, True):
        want = model(x, logits=logits)
        assert (want < 0).any() == logits  # the pre-activation has negative values
        torch.testing.assert_close(fastplan.run_plan(plan, x, logits=logits), want, rtol=1e-5, atol=1e-5)


def test_plan_declines_switches_only_when_asked_and_foreign_modules() -> None:
    from convolab.engine import plan as fastplan
    from convolab.model.sequential import Sequential

    assert fastplan.build_plan(Sequential.from_spec("unpool"), unpool=False) is None
    assert fastplan.build_plan(Sequential.from_spec("unpool")) is not None  # engine.switches plans it
    assert fastplan.build_plan(TinyAE()) is None


def test_plan_rewrites_the_lecture_model() -> None:
    from convolab.engine import plan as fastplan
    from convolab.engine.phase_conv import PhaseConv
    from convolab.model.sequential import Sequential

    plan = fastplan.build_plan(Sequential.from_spec("seed-upsampling"))
    # 3 conv+pool+relu, 1 conv, 3 upsample+conv: 13 layers in 7 steps
    assert len(plan) == 7
    assert sum(isinstance(fn, PhaseConv) for fn, _, _ in plan) == 3


# Adam divides by sqrt(v): on near-zero gradients it turns rounding noise into full-size steps, so the
# fused plan (different summation order) is compared under SGD, where updates are linear in gradients.
# Both thread counts are pinned here: the plain NCHW reference sums in a thread-count-dependent order
# (the fused path agrees with itself across 1 and 2 threads to 1e-8), and a test that ran earlier in the
# process used to leave torch at 1 thread, where this comparison had never been calibrated.
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("fuse", "sgd"), [(False, False), (True, True)])
def test_sequential_trainstep_matches_naive_loop(fuse: bool, sgd: bool, threads: int) -> None:
    from convolab.model.sequential import Sequential

    torch.set_num_threads(threads)  # conftest restores the count after every test
    x = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(5)
    ref = Sequential.from_spec("seed-upsampling")
    fast = Sequential.from_spec("seed-upsampling")
    fast.load_state_dict(ref.state_dict())
    ref, ref_losses = _naive_train(ref, x, "bce", steps=6, bs=16, sgd=sgd)
    fast = prepare(fast)
    opt = torch.optim.SGD(fast.parameters(), lr=0.5) if sgd else make_adam(fast, lr=1e-2)
    step = TrainStep(fast, opt, "bce", fuse=fuse)
    losses = [step(x[(i * 16) % 32 :][:16], x[(i * 16) % 32 :][:16]) for i in range(6)]
    torch.testing.assert_close(torch.stack(losses), torch.tensor(ref_losses), rtol=1e-4, atol=1e-6)
    # Under Adam a near-zero gradient's rounding noise (channels_last convolutions sum in another order)
    # can move a weight by a fraction of the step size lr=1e-2; 3e-4 is 3% of one step (measured 1.6e-4).
    # Under SGD (lr 0.5, 6 steps) the last 16-filter conv's bias gradient is a sum of 16 x 28 x 28 terms
    # with cancellation: the two summation orders leave 1.24e-5 between them at 1 thread (5e-6 at 2).
    atol = 3e-5 if sgd else 3e-4
    for (name, a), b in zip(ref.named_parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=atol, msg=f"parameter {name}")


def test_sequential_fused_training_is_bitwise_deterministic() -> None:
    from convolab.model.sequential import Sequential

    x = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    finals = []
    for _ in range(2):
        torch.manual_seed(9)
        model = prepare(Sequential.from_spec("seed-upsampling"))
        step = TrainStep(model, make_adam(model), "bce")
        losses = torch.stack([step(x[i * 8 : (i + 1) * 8], x[i * 8 : (i + 1) * 8]) for i in range(4)])
        finals.append((losses, [p.detach().clone() for p in model.parameters()]))
    assert torch.equal(finals[0][0], finals[1][0])
    assert all(torch.equal(a, b) for a, b in zip(finals[0][1], finals[1][1], strict=True))


def test_predict_fused_matches_model() -> None:
    from convolab.model.sequential import Sequential

    torch.manual_seed(0)
    model = Sequential.from_spec("seed-upsampling")
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        want = model(x)
    got = predict(prepare(model), x, batch_size=2)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


# ---- mixed precision and compile options (the GPU path's dtype logic, exercised on CPU) -------------
def test_bf16_autocast_keeps_fp32_state_and_close_loss() -> None:
    x = _data(16)
    torch.manual_seed(0)
    model = prepare(TinyAE())
    ref = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.0), "bce").compute_loss(x, x)
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "bce", amp="bf16")
    loss = step(x, x)
    assert loss.dtype == torch.float32
    # bf16 keeps 8 mantissa bits: ~0.4% relative error per rounding
    assert abs(loss.item() - ref.item()) < 0.02 * ref.item()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    got = predict(model, x, amp="bf16")
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, predict(model, x), rtol=0.05, atol=0.02)


def test_amp_and_compile_arguments_are_validated() -> None:
    model = TinyAE()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="amp"):
        TrainStep(model, opt, "bce", amp="fp8")
    with pytest.raises(TypeError, match="compile"):
        TrainStep(model, opt, "bce", compile=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="amp"):
        predict(model, _data(2), amp="half")


def test_configure_allocator_is_idempotent_and_harmless() -> None:
    import platform

    first = configure_allocator()
    assert configure_allocator() == first
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert first is True
    big = torch.ones(4_000_000)  # 16 MB: above glibc's default mmap threshold
    assert big.sum().item() == 4_000_000
    assert configure_allocator("cuda") is False  # a GPU run's buffers are not the heap's: untouched


def test_only_training_tunes_the_allocator(tmp_path, monkeypatch) -> None:
    """A training run asks for the heap tuning (with its device, when it readies its model:
    ``train.run_model.ready_model`` imports it at the call); ``prepare`` and ``predict`` do not."""
    from convolab import train as tr
    from convolab.engine import allocator
    from train_support import tiny_config

    calls: list[object] = []

    def record(device=None):
        calls.append(device)
        return False

    monkeypatch.setattr(allocator, "configure_allocator", record)
    model = prepare(TinyAE(), "cpu")
    predict(model, _data(2))
    assert calls == []
    trainer = tr.start(tiny_config(tmp_path), quiet=True)
    trainer.log.close()
    assert calls == [torch.device("cpu")]


def test_each_plan_switch_changes_the_executed_plan_not_the_function():
    from convolab.engine import plan as fastplan
    from convolab.model.sequential import Sequential

    torch.manual_seed(0)
    model = Sequential.from_spec("seed-upsampling")
    x = torch.rand(2, 1, 28, 28)
    full = fastplan.build_plan(model)
    no_pool = fastplan.build_plan(model, pool_first=False)
    no_sub = fastplan.build_plan(model, subpixel=False)
    assert full is not None and no_pool is not None and no_sub is not None

    def kinds(plan):
        return [getattr(fn, "__qualname__", type(fn).__name__) for fn, _, _ in plan]

    n_pools = sum(type(layer).__name__ == "MaxPool2D" for layer in model)
    n_subpixel = sum(type(fn).__name__ == "PhaseConv" for fn, _, _ in full)
    assert n_pools > 0 and n_subpixel > 0  # the lecture's model has both patterns
    assert len(no_pool) == len(full) + n_pools and kinds(no_pool) != kinds(full)
    assert len(no_sub) == len(full) + n_subpixel and not any(
        type(fn).__name__ == "PhaseConv" for fn, _, _ in no_sub
    )
    ref = model(x)
    for plan in (full, no_pool, no_sub):
        torch.testing.assert_close(fastplan.run_plan(plan, x), ref, rtol=1e-5, atol=1e-6)
    # ``unpool``: a model without switches is planned the same; one with them is declined (None)
    no_unpool = fastplan.build_plan(model, unpool=False)
    assert no_unpool is not None and kinds(no_unpool) == kinds(full)
    switched = Sequential.from_spec("unpool")
    planned = fastplan.build_plan(switched)
    assert planned is not None and fastplan.build_plan(switched, unpool=False) is None
    torch.testing.assert_close(fastplan.run_plan(planned, x), switched(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["seed-transpose", "strided-transpose"])
def test_the_transpose_switch_changes_the_executed_plan_not_the_function(name: str):
    """``transpose=False`` runs every lone Conv2DTranspose as the layer's own call; on, the stride-1
    ones are one flipped convolution and the strided ones phase convolutions where the subpixel C
    kernel computes them (strided-transpose's 16 -> 1 last layer; all with ``STRIDED_TRANSPOSE``).
    The same function: on an input the kernel takes (channels_last) and on one it declines (NCHW:
    the layer's own call runs)."""
    from convolab.engine import native
    from convolab.engine import plan as fastplan
    from convolab.engine.phase_conv import FlippedConv, PhaseConv
    from convolab.model.sequential import Sequential

    torch.manual_seed(0)
    model = Sequential.from_spec(name)
    x = torch.rand(2, 1, 28, 28)
    on, off = fastplan.build_plan(model), fastplan.build_plan(model, transpose=False)
    assert on is not None and off is not None and len(on) == len(off)

    lone = {"seed-transpose": ["dec_deconv1"], "strided-transpose": ["dec_deconv1", "dec_deconv2", "dec_out"]}
    want = FlippedConv if name == "seed-transpose" else PhaseConv
    on_fns = {step.name: fn for fn, _, step in on}
    off_fns = {step.name: (fn, step.layer) for fn, _, step in off}
    for layer_name in lone[name]:
        fn, layer = off_fns[layer_name]
        assert fn == layer.call  # off: the layer itself
        fn_on = on_fns[layer_name]
        if want is FlippedConv:
            assert isinstance(fn_on, FlippedConv) and fn_on.layer is layer
        else:  # strided: rewritten where the C kernel runs it, or all with STRIDED_TRANSPOSE
            rewritten = isinstance(fn_on, PhaseConv) and fn_on.layer is layer
            assert rewritten or fn_on == layer.call
            kernel = layer_name == "dec_out" and native.available()
            assert rewritten == (fastplan.STRIDED_TRANSPOSE or kernel)
    for xin in (x, x.contiguous(memory_format=torch.channels_last)):
        ref = model(xin)
        for plan in (on, off):
            torch.testing.assert_close(fastplan.run_plan(plan, xin), ref, rtol=1e-5, atol=1e-6)


def test_make_adam_is_fused_with_keras_epsilon_and_matches_unfused_adam():
    torch.manual_seed(0)
    a, b = nn.Linear(8, 4), nn.Linear(8, 4)
    b.load_state_dict(a.state_dict())
    fused = make_adam(a, 1e-2)
    plain = torch.optim.Adam(b.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-7, foreach=False)
    group = fused.param_groups[0]
    assert group["fused"] and group["eps"] == 1e-7 and group["betas"] == (0.9, 0.999)
    x = torch.randn(16, 8)
    for _ in range(5):
        for m, opt in ((a, fused), (b, plain)):
            m(x).square().mean().backward()
            opt.step()
            opt.zero_grad()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_eval_chunk_follows_the_batch_and_the_image_never_the_split() -> None:
    from convolab import limits

    assert eval_chunk(256, (1, 28, 28)) == limits.EVAL_CHUNK_IMAGES  # the chunk MNIST always had
    assert eval_chunk(32, (1, 128, 128)) == limits.EVAL_CHUNK_BYTES // (128 * 128 * 4) == 64
    assert eval_chunk(32, (3, 512, 512)) == 32  # big images: the batch itself
    assert eval_chunk(4096, (1, 28, 28)) == 4096  # never below the batch (that much fits)
    for batch in (1, 7, 256):
        for shape in ((1, 8, 8), (3, 64, 64), (1, 256, 256)):
            chunk = eval_chunk(batch, shape)
            assert chunk >= batch and chunk * 4 * shape[0] * shape[1] * shape[2] <= max(
                limits.EVAL_CHUNK_BYTES, batch * 4 * shape[0] * shape[1] * shape[2]
            )


def test_metrics_do_not_depend_on_the_chunk() -> None:
    from convolab.train.metrics import baseline_metrics, metrics_of

    gen = torch.Generator().manual_seed(0)
    target = torch.rand(70, 1, 16, 16, generator=gen)
    pred = torch.rand(70, 1, 16, 16, generator=gen)
    ref = metrics_of(pred, target, 1024)
    for chunk in (1, 8, 64):
        got = metrics_of(pred, target, chunk)
        assert got == pytest.approx(ref, rel=1e-12, abs=1e-12)
        assert baseline_metrics(target.mean(0), target, chunk) == pytest.approx(
            baseline_metrics(target.mean(0), target, 1024), rel=1e-12, abs=1e-12
        )
