"""Reconstruction metrics: BCE, MSE, PSNR and SSIM, per image, and a streaming accumulator.

All metrics compare images in [0, 1] (data range 1). PSNR and SSIM come from torchmetrics (a
well-kept implementation; SSIM is the Gaussian-window SSIM of Wang et al. 2004, kernel 11, sigma 1.5),
not hand-rolled. The reported value of each metric is the mean over images of the per-image value.

Example:
    >>> acc = MetricAccumulator()
    >>> acc.update(torch.full((2, 1, 16, 16), 0.5), torch.full((2, 1, 16, 16), 0.5))
    >>> round(acc.compute()["mse"], 6)
    0.0
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

METRIC_NAMES = ("bce", "mse", "psnr", "ssim")
# Higher is better for these; lower is better for the others.
HIGHER_IS_BETTER = frozenset({"psnr", "ssim"})
# Keras clips probabilities to [eps, 1 - eps] with backend epsilon 1e-7 before taking logs.
KERAS_EPSILON = 1e-7
SSIM_KERNEL = 11
SSIM_CHUNK_VALUES = 1 << 19  # pixels per SSIM call (about 200 MiB of torchmetrics temporaries)


def bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image binary cross-entropy of probabilities ``pred`` against ``target`` (both (N, ...)).

    Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does, so a saturated 0/1 costs a finite 16.1.
    """
    p = pred.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    per_pixel = -(target * torch.log(p) + (1.0 - target) * torch.log1p(-p))
    return per_pixel.flatten(1).mean(dim=1)  # (N,)


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error, shape (N,)."""
    return (pred - target).square().flatten(1).mean(dim=1)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image peak signal-to-noise ratio in dB for data range 1: 10 log10(1 / MSE), shape (N,)."""
    dims = tuple(range(1, pred.dim()))
    return peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=dims)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of (N, C, H, W) images in [0, 1], shape (N,).

    The Gaussian window is 11 pixels (torchmetrics' default); images smaller than that use the largest
    odd window that fits, so tiny test images still work.
    """
    if pred.dim() != 4:
        raise ValueError(f"ssim needs (N, C, H, W) images, got shape {tuple(pred.shape)}")
    side = min(pred.shape[-2:])
    kernel = min(SSIM_KERNEL, side if side % 2 else side - 1)
    if kernel < 3:
        raise ValueError(f"ssim needs images of at least 3x3 pixels, got {tuple(pred.shape[-2:])}")
    # torchmetrics holds ~100 image-sized temporaries at once: a few images at a time keep that bounded by
    # SSIM_CHUNK_VALUES, whatever the caller's batch (docs/scaling.md measured 6.4 GB for 1,024 128x128
    # images in one call). Each image's SSIM is its own, so the chunking does not change the values.
    step = max(1, SSIM_CHUNK_VALUES // max(1, pred[0].numel()))
    parts = []
    for i in range(0, pred.shape[0], step):
        out = structural_similarity_index_measure(
            pred[i : i + step].float(),
            target[i : i + step].float(),
            data_range=1.0,
            reduction="none",
            kernel_size=kernel,
        )
        if not isinstance(out, torch.Tensor):  # a tuple only with return_full_image / contrast sensitivity
            raise TypeError(f"torchmetrics' SSIM returned a {type(out).__name__}, expected one tensor")
        parts.append(out.reshape(-1))
    return torch.cat(parts) if parts else pred.new_zeros(0)


METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "bce": bce,
    "mse": mse,
    "psnr": psnr,
    "ssim": ssim,
}


class MetricAccumulator:
    """Sums per-image metrics over batches; ``compute()`` gives the means as floats."""

    def __init__(self, names: tuple[str, ...] = METRIC_NAMES) -> None:
        unknown = [n for n in names if n not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
        self.names = names
        self.sums = {n: 0.0 for n in names}
        self.count = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of reconstructions ``pred`` of ``target`` (same shape, values in [0, 1])."""
        if pred.shape != target.shape:
            raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
        pred, target = pred.detach().float(), target.detach().float()
        for n in self.names:
            self.sums[n] += float(METRICS[n](pred, target).double().sum())
        self.count += pred.shape[0]

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            raise ValueError("no images were added to the metric accumulator")
        return {n: self.sums[n] / self.count for n in self.names}


def metrics_of(pred: torch.Tensor, target: torch.Tensor, batch_size: int = 1024) -> dict[str, float]:
    """Mean metrics of reconstructions ``pred`` of ``target`` (computed in batches to bound memory)."""
    acc = MetricAccumulator()
    for i in range(0, target.shape[0], batch_size):
        acc.update(pred[i : i + batch_size], target[i : i + batch_size])
    return acc.compute()


def baseline_metrics(
    mean_image: torch.Tensor, target: torch.Tensor, batch_size: int = 1024
) -> dict[str, float]:
    """Metrics of the trivial model that predicts ``mean_image`` (C, H, W) for every image of ``target``."""
    acc = MetricAccumulator()
    for i in range(0, target.shape[0], batch_size):
        batch = target[i : i + batch_size]
        acc.update(mean_image.to(batch).expand_as(batch), batch)
    return acc.compute()


def is_better(name: str, value: float, best: float | None) -> bool:
    """Whether ``value`` of metric ``name`` improves on ``best`` (None: anything is better)."""
    if best is None:
        return True
    return value > best if name in HIGHER_IS_BETTER else value < best
