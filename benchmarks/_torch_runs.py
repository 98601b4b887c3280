"""PyTorch side of the benchmark: the plain loop, convolab's variants, peak FLOP/s and the profile."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from _common import TRAIN_FLOP_PER_IMAGE, bce_mse
from torch import nn

from convolab.engine.allocator import configure_allocator
from convolab.engine.device import prepare
from convolab.engine.optimizer import make_adam
from convolab.engine.predict import predict as predict_batches
from convolab.engine.step import TrainStep


def plain_model() -> nn.Sequential:
    """The lecture's first autoencoder as a straightforward nn.Sequential (NCHW, sigmoid output).

    ``ceil_mode=True`` is Keras's 'same' max pooling for 2x2/2 (7 -> 4 pads one row/column at the end).
    """
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(16, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(8, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.Upsample(scale_factor=2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.Upsample(scale_factor=2),
        nn.Conv2d(8, 16, 3),
        nn.ReLU(),
        nn.Upsample(scale_factor=2),
        nn.Conv2d(16, 1, 3, padding=1),
        nn.Sigmoid(),
    )


def convolab_model() -> nn.Module:
    from convolab.model.sequential import Sequential

    return Sequential.from_spec("seed-upsampling")


@dataclass
class Run:
    """Per-epoch measurements of one training run."""

    name: str
    batch_size: int
    lr: float
    epoch_train_s: list[float] = field(default_factory=list)
    epoch_val_s: list[float] = field(default_factory=list)
    test_bce: list[float] = field(default_factory=list)
    test_mse: list[float] = field(default_factory=list)
    steps_per_epoch: float = 0.0
    predict_images_per_s: float = 0.0
    ttq_s: float | None = None  # wall time (training only) to reach the target BCE
    ttq_epochs: float | None = None

    @property
    def median_epoch_s(self) -> float:
        return statistics.median(self.epoch_train_s[1:] or self.epoch_train_s)  # first epoch warms up

    def images_per_s(self, n_train: int) -> float:
        return n_train / self.median_epoch_s

    def gflops(self, n_train: int) -> float:
        return self.images_per_s(n_train) * TRAIN_FLOP_PER_IMAGE / 1e9


@dataclass
class Variant:
    """How to build, step and evaluate one contender."""

    name: str
    build: Callable[[], tuple[Callable, Callable]]  # -> (step(x) -> None, predict(x) -> probs)
    batch_size: int = 256
    lr: float = 1e-3


def plain_variant(lr: float = 1e-3, batch_size: int = 256, device: str = "cpu") -> Variant:
    def build():
        model = plain_model().to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)

        def step(xb):
            opt.zero_grad()
            loss = F.binary_cross_entropy(model(xb), xb)
            loss.backward()
            opt.step()

        def predict(x):
            with torch.no_grad():
                return torch.cat([model(b) for b in x.split(256)])

        return step, predict

    return Variant("PyTorch plain loop", build, batch_size, lr)


def convolab_variant(
    name: str,
    *,
    fuse: bool = True,
    lr: float = 1e-3,
    batch_size: int = 256,
    device: str = "cpu",
    amp: str | None = None,
    compile: str | None = None,
) -> Variant:
    def build():
        from convolab.train.context import LocalContext

        configure_allocator(device)  # as the Trainer does (CPU only)
        model = prepare(convolab_model(), device)
        opt = make_adam(model, lr=lr)  # the Trainer's optimizer: fused, Keras's eps 1e-7
        if fuse and compile is None:  # the product: exactly the step the Trainer builds
            step_fn = LocalContext(torch.device(device)).train_step(model, opt, "bce", amp)
        else:
            step_fn = TrainStep(model, opt, "bce", fuse=fuse, amp=amp, compile=compile)

        def step(xb):
            step_fn(xb, xb)

        def predict(x):
            return predict_batches(model, x, batch_size=2048, fuse=fuse, amp=amp)

        return step, predict

    return Variant(name, build, batch_size, lr)


def _sync(x: torch.Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def _timed_predict(predict: Callable, x: torch.Tensor, repeats: int = 3) -> tuple[torch.Tensor, float]:
    times, out = [], None
    for _ in range(repeats):
        _sync(x)
        t0 = time.perf_counter()
        out = predict(x)
        _sync(x)
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def train(
    variant: Variant,
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    epochs: int,
    *,
    target_bce: float | None = None,
    evals_per_epoch: int = 1,
    seed: int = 0,
) -> Run:
    """Train ``epochs`` epochs, reshuffling each; test quality is measured untimed at each eval point.

    ``epoch_train_s`` holds the training time between eval points (one per epoch by default). With
    ``target_bce`` the run stops as soon as the test BCE reaches it (time-to-quality).
    """
    torch.manual_seed(seed)
    step, predict = variant.build()
    n, bs = len(x_train), variant.batch_size
    n_batches = -(-n // bs)  # the last batch is partial, as in Keras's fit
    eval_at = {round((k + 1) * n_batches / evals_per_epoch) for k in range(evals_per_epoch)}
    run = Run(variant.name, bs, variant.lr, steps_per_epoch=n_batches)
    target_np = x_test.cpu().numpy()
    elapsed = 0.0
    for epoch in range(epochs):
        perm = torch.randperm(n, device=x_train.device)  # data stays resident on the device
        _sync(x_train)
        t0 = time.perf_counter()
        for i, idx in enumerate(perm.split(bs)):
            step(x_train[idx])
            if i + 1 not in eval_at:
                continue
            _sync(x_train)
            seg = time.perf_counter() - t0
            elapsed += seg
            run.epoch_train_s.append(seg)
            pred, val_s = _timed_predict(predict, x_test, repeats=1)
            run.epoch_val_s.append(val_s)
            bce, mse = bce_mse(pred.cpu().numpy(), target_np)
            run.test_bce.append(bce)
            run.test_mse.append(mse)
            if target_bce is not None and bce <= target_bce:
                run.ttq_s, run.ttq_epochs = elapsed, epoch + (i + 1) / n_batches
                return run
            t0 = time.perf_counter()
    _, secs = _timed_predict(predict, x_test)
    run.predict_images_per_s = len(x_test) / secs
    return run


def measure_peak_gflops(size: int = 2048, repeats: int = 5, device: str = "cpu") -> float:
    """fp32 matmul GFLOP/s (median), the machine's practical peak for the % column."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    times = []
    for _ in range(repeats):
        _sync(a)
        t0 = time.perf_counter()
        a @ b
        _sync(a)
        times.append(time.perf_counter() - t0)
    return 2 * size**3 / statistics.median(times) / 1e9


def profile_table(variant: Variant, x_train: torch.Tensor, steps: int = 12, rows: int = 12) -> list[tuple]:
    """(op, self CPU ms per step, % of total, calls per step) for the top ``rows`` ops of a training step."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    step, _ = variant.build()
    batches = x_train.split(variant.batch_size)
    for i in range(3):  # warm-up
        step(batches[i % len(batches)])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            step(batches[i % len(batches)])
    return _profile_table(prof, steps, rows)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images[:, None]))  # (N, 1, 28, 28)


def measure_conv_gflops(repeats: int = 5, device: str = "cpu") -> float:
    """fp32 3x3 convolution GFLOP/s (64 -> 64 channels, 56x56, batch 32, channels_last; median).

    A compute-bound convolution through the same oneDNN kernels the model uses: the other peak probe.
    """
    n, c, s = 32, 64, 56
    mf = torch.channels_last if device == "cpu" else torch.contiguous_format
    x = torch.randn(n, c, s, s, device=device).contiguous(memory_format=mf)
    w = torch.randn(c, c, 3, 3, device=device).contiguous(memory_format=mf)
    F.conv2d(x, w, padding=1)
    times = []
    for _ in range(repeats):
        _sync(x)
        t0 = time.perf_counter()
        F.conv2d(x, w, padding=1)
        _sync(x)
        times.append(time.perf_counter() - t0)
    return 2 * n * s * s * c * c * 9 / statistics.median(times) / 1e9


def profile_trainer(cli_config: dict, work, steps: int = 12, rows: int = 14) -> tuple[list[tuple], float]:
    """Profile the step of the very ``Trainer`` that ``convolab train`` builds for ``cli_config``.

    Returns the op table (as :func:`profile_table`) and the mean wall ms per step while profiling.
    """
    from torch.profiler import ProfilerActivity, profile

    from convolab.train import TrainConfig, start

    cfg = TrainConfig(**{**cli_config, "out": str(work / "profile-run")})
    trainer = start(cfg, overwrite=True, quiet=True)
    batches: list = []
    for epoch in range(steps + 3):  # whole epochs (a tiny dataset has fewer steps than profiled)
        batches += trainer.source.batches(epoch, 0, trainer.steps_per_epoch())
        if len(batches) >= steps + 3:
            break
    batches = batches[: steps + 3]
    for x, target, n in batches[:3]:  # warm-up
        trainer.step_fn(x, target, global_n=n)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for x, target, n in batches[3:]:
            trainer.step_fn(x, target, global_n=n)
        wall = (time.perf_counter() - t0) * 1e3 / steps
    trainer.log.close()
    return _profile_table(prof, steps, rows), wall


def _profile_table(prof, steps: int, rows: int) -> list[tuple[str, float, float, float]]:
    """(op, ms per step, % of the step, calls per step) of the ``rows`` costliest ops, then the total."""
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    table = [
        (e.key, e.self_cpu_time_total / 1e3 / steps, 100 * e.self_cpu_time_total / total, e.count / steps)
        for e in events[:rows]
    ]
    table.append(("(all ops)", total / 1e3 / steps, 100.0, sum(e.count for e in events) / steps))
    return table
