"""Reconstruction metrics against hand-computed values and the formulas they stand for."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from convolab.train import metrics as M


def test_bce_literal_and_keras_clipping():
    pred = torch.tensor([[[[0.25, 0.75]]]])  # (1, 1, 1, 2)
    target = torch.tensor([[[[0.0, 1.0]]]])
    expected = -(math.log(0.75) + math.log(0.75)) / 2
    assert M.bce(pred, target).item() == pytest.approx(expected, rel=1e-6)
    # a saturated wrong answer costs -log(1e-7) = 16.118..., not inf (Keras clips to [eps, 1 - eps])
    sat = M.bce(torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)).item()
    assert sat == pytest.approx(-math.log(1e-7), rel=1e-4)


def test_mse_and_psnr_per_image():
    target = torch.zeros(2, 1, 2, 2)
    pred = torch.stack([torch.full((1, 2, 2), 0.1), torch.tensor([[[0.0, 0.0], [0.0, 0.2]]])])
    mse = M.mse(pred, target)
    assert mse.tolist() == pytest.approx([0.01, 0.01], rel=1e-5)
    assert M.psnr(pred, target).tolist() == pytest.approx([20.0, 20.0], rel=1e-5)  # 10 log10(1 / 0.01)


def test_ssim_identical_is_one_and_matches_torchmetrics_per_image():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 1, 16, 16, generator=g)
    b = (a + 0.1 * torch.randn(3, 1, 16, 16, generator=g)).clamp(0, 1)
    assert M.ssim(a, a).tolist() == pytest.approx([1.0] * 3, abs=1e-5)
    per = M.ssim(b, a)
    for i in range(3):
        one = structural_similarity_index_measure(b[i : i + 1], a[i : i + 1], data_range=1.0)
        assert per[i].item() == pytest.approx(one.item(), abs=1e-6)
    assert (per < 1).all()


def test_ssim_small_images_and_bad_shapes():
    x = torch.rand(2, 1, 8, 8)
    assert M.ssim(x, x).shape == (2,)  # window shrinks to 7
    with pytest.raises(ValueError, match="at least 3x3"):
        M.ssim(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        M.ssim(torch.rand(4, 4), torch.rand(4, 4))


def test_accumulator_over_batches_equals_all_at_once():
    g = torch.Generator().manual_seed(1)
    t = torch.rand(10, 1, 12, 12, generator=g)
    p = torch.rand(10, 1, 12, 12, generator=g)
    whole = {k: float(f(p, t).mean()) for k, f in M.METRICS.items()}
    batched = M.metrics_of(p, t, batch_size=3)
    for k in M.METRIC_NAMES:
        assert batched[k] == pytest.approx(whole[k], rel=1e-5)
    with pytest.raises(ValueError, match="no images"):
        M.MetricAccumulator().compute()
    with pytest.raises(ValueError, match="shape"):
        M.MetricAccumulator().update(p[:, :, :5], t)


def test_baseline_is_the_mean_image_prediction():
    t = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    mean = t.mean(dim=0)
    got = M.baseline_metrics(mean, t, batch_size=4)
    want = np.mean(((t - mean).numpy() ** 2).reshape(6, -1), axis=1).mean()
    assert got["mse"] == pytest.approx(float(want), rel=1e-5)
    assert got == pytest.approx(M.metrics_of(mean.expand_as(t).clone(), t))


def test_is_better_direction():
    assert M.is_better("bce", 0.1, None)
    assert M.is_better("bce", 0.1, 0.2) and not M.is_better("bce", 0.3, 0.2)
    assert M.is_better("psnr", 21.0, 20.0) and not M.is_better("ssim", 0.5, 0.6)
