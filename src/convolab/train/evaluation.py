"""A trained model on a run's images: its metrics against the mean-image baseline, its reconstructions.

The parts of the reports that need a model in hand, not a run folder: ``Run.evaluate`` and
``Run.reconstruct`` call them on the run they are, ``report.evaluate_run`` and ``report.reconstruct``
on the run they load. Images are chunked as in training (``chunk_of``), noised as in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from convolab import plots
from convolab.engine.predict import eval_chunk, predict
from convolab.limits import MAX_GRID_SAMPLES, check_count
from convolab.train.batchorder import add_noise, derive_seed
from convolab.train.config import TrainConfig
from convolab.train.metrics import baseline_metrics, metrics_of
from convolab.train.run_data import load_run_data

__all__ = ["check_n", "chunk_of", "evaluate_model", "load_image_files", "noisy", "reconstruct_images"]


def chunk_of(config: TrainConfig, model: Any) -> int:
    """Images per evaluation chunk: ``engine.predict.eval_chunk`` of the run's batch (as in training)."""
    return eval_chunk(config.batch_size, tuple(model.input_shape))


def noisy(images: torch.Tensor, noise: float, seed: int) -> torch.Tensor:
    """The inputs of a denoising run's evaluation (seeded as in training); ``images`` when no noise."""
    return add_noise(images, noise, derive_seed(seed, "eval-noise")) if noise else images


def evaluate_model(
    model: Any,
    config: TrainConfig,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    images: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Metrics of a run's ``model`` on its evaluation set (or ``dataset``'s test split, or ``images``:
    float32 ``(N, C, H, W)`` in [0, 1] given in Python) vs the baseline (the mean training image)."""
    data = load_run_data(config, eval_dataset=dataset, eval_data_dir=data_dir)
    if images is not None:
        data.eval_images, data.eval_name = images, "images given in Python"
    if tuple(data.eval_images.shape[1:]) != tuple(model.input_shape):
        raise ValueError(
            f"dataset images {tuple(data.eval_images.shape[1:])} do not fit the model's input "
            f"{tuple(model.input_shape)}"
        )
    x_in = noisy(data.eval_images, config.noise, config.seed)
    chunk = chunk_of(config, model)
    recon = predict(model, x_in, chunk)
    return {
        "eval_set": data.eval_name,
        "n": int(data.eval_images.shape[0]),
        "noise": config.noise,
        "metrics": metrics_of(recon, data.eval_images, chunk),
        "baseline": baseline_metrics(data.mean_image, data.eval_images, chunk),
    }


def check_n(n: int) -> None:
    """``--n``, images per row of a figure: 1 to ``limits.MAX_GRID_SAMPLES``."""
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    check_count("--n (images in the figure)", n, MAX_GRID_SAMPLES)


def load_image_files(paths: Sequence[str | Path], shape: tuple[int, ...]) -> torch.Tensor:
    """Read image files as ``(N, C, H, W)`` floats in [0, 1], converted and resized to ``shape``.

    Each file's header is checked first (``filters.image_info``): a pipe or device, a non-image and an
    image over Pillow's decompression-bomb limit are a one-line ``ValueError`` before any decoding.
    """
    from PIL import Image

    from convolab.filters.images import image_info

    c, h, w = shape
    out = []
    for p in paths:
        try:
            image_info(p)
        except OSError as exc:  # no such file, a directory: already one line naming the path
            raise ValueError(str(exc)) from None
        try:
            with Image.open(p) as im:
                im = im.convert("L" if c == 1 else "RGB")
                if im.size != (w, h):
                    im = im.resize((w, h), Image.Resampling.BILINEAR)
                t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
        except OSError as exc:
            raise ValueError(f"cannot read image {p}: {exc}") from None
        out.append(t.reshape(h, w, c).permute(2, 0, 1).float() / 255.0)  # (C, H, W)
    return torch.stack(out)


def reconstruct_images(
    model: Any,
    config: TrainConfig,
    out: str | Path,
    *,
    n: int,
    images: Sequence[str | Path] | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Path]:
    """``(originals, reconstructions, figure)``: image files, or the first ``n`` evaluation images (of
    ``dataset``'s test split when given), through ``model``; the figure (originals over reconstructions)
    written to ``out``."""
    if images:
        x = load_image_files(images, tuple(model.input_shape))
    else:
        x = load_run_data(config, eval_dataset=dataset, eval_data_dir=data_dir).eval_images[:n]
    recon = predict(model, x, chunk_of(config, model))
    path = plots.reconstruction_grid(x, recon, out, title=model.to_spec().name)
    return x, recon, Path(path)
