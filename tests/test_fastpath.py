"""fastpath: the fast training step equals the plain PyTorch loop, deterministically; predict batches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convolab import fastpath


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


def _naive_train(model: nn.Module, x: torch.Tensor, loss: str, steps: int, bs: int) -> tuple[nn.Module, list]:
    """The textbook loop, NCHW, sigmoid output, F.binary_cross_entropy (the oracle)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
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
    model = fastpath.prepare(model, "cpu")
    step = fastpath.TrainStep(model, torch.optim.Adam(model.parameters(), lr=1e-2), loss)
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
    model = fastpath.prepare(TinyAE())
    step = fastpath.TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "mse")
    step(_data(4), _data(4))
    assert all(p.grad is None for p in model.parameters())


def test_trainstep_rejects_bad_arguments() -> None:
    model = TinyAE()
    with pytest.raises(ValueError, match="loss"):
        fastpath.TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), "hinge")
    with pytest.raises(TypeError, match="optimizer"):
        fastpath.TrainStep(model, "adam", "bce")  # type: ignore[arg-type]


def test_prepare_uses_channels_last_on_cpu() -> None:
    model = fastpath.prepare(TinyAE(), "cpu")
    assert model.c1.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.c1.weight.device.type == "cpu"


def test_predict_matches_unbatched_forward_and_restores_mode() -> None:
    torch.manual_seed(0)
    model = TinyAE()
    x = _data(10)
    with torch.no_grad():
        expected = model(x)
        expected_logits = model(x, logits=True)
    model = fastpath.prepare(model)
    model.train()
    got = fastpath.predict(model, x, batch_size=3)
    assert got.shape == (10, 1, 8, 8) and got.is_contiguous()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fastpath.predict(model, x, 4, logits=True), expected_logits)
    assert model.training


def test_predict_rejects_bad_batch_size_and_empty_input() -> None:
    model = TinyAE()
    with pytest.raises(ValueError, match="batch_size"):
        fastpath.predict(model, _data(2), batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        fastpath.predict(model, _data(2)[:0])


def test_configure_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert fastpath.configure_threads(1) == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="num_threads"):
            fastpath.configure_threads(0)
    finally:
        torch.set_num_threads(before)
