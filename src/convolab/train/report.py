"""What a trained run shows: its figures, its metrics against the mean-image baseline, comparisons.

These functions back ``convolab figures``, ``evaluate``, ``reconstruct`` and ``compare`` and run at
the end of training. They only read a run folder (and write figures), never the checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from convolab import plots
from convolab.engine.device import to_layout
from convolab.engine.predict import eval_chunk, predict
from convolab.limits import MAX_COMPARE_RUNS, MAX_GRID_SAMPLES, check_count
from convolab.train.batchorder import add_noise, derive_seed
from convolab.train.checkpoint import load_state, resolve_checkpoint
from convolab.train.config import TrainConfig
from convolab.train.metrics import baseline_metrics, metrics_of
from convolab.train.runs import RunData, load_run, load_run_data, model_info

N_SHOWN = 10  # the lecture's figure shows 10 digits
PCA_MAX = 5000  # latent codes projected (enough for a readable scatter, quick on a CPU)


def _chunk(config: TrainConfig, model: Any) -> int:
    """Images per evaluation chunk: ``engine.predict.eval_chunk`` of the run's batch (as in training)."""
    return eval_chunk(config.batch_size, tuple(model.input_shape))


def _noisy(images: torch.Tensor, noise: float, seed: int) -> torch.Tensor:
    return add_noise(images, noise, derive_seed(seed, "eval-noise")) if noise else images


@torch.inference_mode()
def _encoder_maps(model: Any, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Feature maps of every encoder layer (up to and including the latent layer) for one input."""
    latent = model.to_spec().latent
    out = []
    for name, fmap in model.feature_maps(to_layout(x, _device(model))):
        if fmap.dim() == 4:
            out.append((name, fmap[0].cpu()))
        if name == latent:
            break
    return out


@torch.inference_mode()
def _codes(model: Any, images: torch.Tensor, chunk: int) -> torch.Tensor:
    dev = _device(model)
    chunks = [model.encode(to_layout(b, dev)).flatten(1).cpu() for b in images.split(chunk)]
    return torch.cat(chunks)  # (N, D)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _first_kernel(model: torch.nn.Module) -> tuple[str, torch.Tensor] | None:
    """``(layer name, weight)`` of the first layer with a 4-D (convolution) weight."""
    for layer in getattr(model, "layers", [model]):
        for p in layer.parameters():
            if p.dim() == 4:
                return getattr(layer, "name", type(layer).__name__), p.detach().cpu()
    return None


def make_figures(
    run: str | Path, *, model: Any = None, data: RunData | None = None, which: str = "best"
) -> dict[str, Path]:
    """Draw every figure of a run into its folder; returns ``{figure name: path}``."""
    run = Path(run)
    if model is None:
        model = load_run(run, which, device="cpu").model
    state = load_state(resolve_checkpoint(run, "last"))
    config = TrainConfig.from_dict(state["config"])
    data = data if data is not None else load_run_data(config)
    name = model.to_spec().name
    x = data.eval_images[:N_SHOWN]
    x_in = _noisy(x, config.noise, config.seed)
    recon = predict(model, x_in, _chunk(config, model))
    out = {"reconstructions": plots.reconstruction_grid(x, recon, run / "reconstructions.png", title=name)}
    if config.noise:
        rows = [(f"noisy ({config.noise:g})", x_in), ("clean", x), ("reconstructed", recon)]
        out["denoising"] = plots.image_rows(rows, run / "denoising.png", title=f"{name}: denoising")
    if state.get("history"):
        out["curves"] = plots.curves(state["history"], state.get("baseline"), run / "curves.png")
    maps = _encoder_maps(model, x[:1])
    if maps:
        out["feature_maps"] = plots.feature_maps(maps, run / "feature_maps.png", title=f"{name}: encoder")
    kernel = _first_kernel(model)
    if kernel is not None:
        out["kernels"] = plots.kernels(kernel[1], run / "kernels.png", title=f"{name}: {kernel[0]} kernels")
    codes = _codes(model, data.eval_images[:PCA_MAX], _chunk(config, model))
    labels = None if data.eval_labels is None else data.eval_labels[:PCA_MAX]
    out["latent_pca"] = plots.latent_pca(
        codes, labels, run / "latent_pca.png", classes=data.classes, title=f"{name}: latent codes, PCA"
    )
    return out


def evaluate_run(
    run: str | Path,
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    which: str = "best",
    device: str = "auto",
    images: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Metrics of a run's model on its evaluation set (or ``dataset``'s test split, or ``images``:
    float32 ``(N, C, H, W)`` in [0, 1] given in Python) vs the baseline (the mean training image)."""
    loaded = load_run(run, which, device)
    cfg = loaded.config
    data = load_run_data(cfg, eval_dataset=dataset, eval_data_dir=data_dir)
    if images is not None:
        data.eval_images, data.eval_name = images, "images given in Python"
    if tuple(data.eval_images.shape[1:]) != tuple(loaded.model.input_shape):
        raise ValueError(
            f"dataset images {tuple(data.eval_images.shape[1:])} do not fit the model's input "
            f"{tuple(loaded.model.input_shape)}"
        )
    x_in = _noisy(data.eval_images, cfg.noise, cfg.seed)
    chunk = _chunk(cfg, loaded.model)
    recon = predict(loaded.model, x_in, chunk)
    return {
        "run": str(loaded.path),
        "checkpoint": str(loaded.checkpoint),
        "eval_set": data.eval_name,
        "n": int(data.eval_images.shape[0]),
        "noise": cfg.noise,
        "metrics": metrics_of(recon, data.eval_images, chunk),
        "baseline": baseline_metrics(data.mean_image, data.eval_images, chunk),
    }


def _check_n(n: int) -> None:
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


def reconstruct(
    run: str | Path,
    out: str | Path,
    *,
    images: Sequence[str | Path] | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
    n: int = N_SHOWN,
    which: str = "best",
    device: str = "auto",
) -> Path:
    """Originals over reconstructions of image files, or of the first ``n`` evaluation images."""
    _check_n(n)
    loaded = load_run(run, which, device)
    if images:
        x = load_image_files(images, tuple(loaded.model.input_shape))
    else:
        x = load_run_data(loaded.config, eval_dataset=dataset, eval_data_dir=data_dir).eval_images[:n]
    recon = predict(loaded.model, x, _chunk(loaded.config, loaded.model))
    return plots.reconstruction_grid(x, recon, out, title=loaded.model.to_spec().name)


def compare_runs(
    runs: Sequence[str | Path], *, out: str | Path | None = None, n: int = 8, device: str = "auto"
) -> list[dict[str, Any]]:
    """Evaluate runs on the same images (the first run's evaluation set, clean inputs).

    Returns one row per run: name, params, MACs, metrics, seconds per epoch; with ``out``, also draws
    a figure with the originals and one row of reconstructions per run.
    """
    if not runs:
        raise ValueError("compare needs at least one run")
    check_count("the number of runs to compare", len(runs), MAX_COMPARE_RUNS)
    _check_n(n)
    loaded = [load_run(r, "best", device) for r in runs]
    data = load_run_data(loaded[0].config)
    rows, fig_rows = [], [("original", data.eval_images[:n])]
    for lr in loaded:
        if tuple(lr.model.input_shape) != tuple(data.eval_images.shape[1:]):
            raise ValueError(f"run {lr.path} takes {tuple(lr.model.input_shape)} images; cannot compare")
        chunk = _chunk(lr.config, lr.model)
        recon = predict(lr.model, data.eval_images, chunk)
        hist = load_state(resolve_checkpoint(lr.path, "last")).get("history", [])  # all epochs, not best's
        secs = sorted(h["seconds"] for h in hist if h.get("seconds"))
        rows.append(
            {
                "run": str(lr.path),
                **model_info(lr.model),
                "epochs": len(hist),
                "seconds_per_epoch": secs[len(secs) // 2] if secs else None,
                "metrics": metrics_of(recon, data.eval_images, chunk),
            }
        )
        fig_rows.append((rows[-1]["model"], recon[:n]))
    baseline = baseline_metrics(data.mean_image, data.eval_images, _chunk(loaded[0].config, loaded[0].model))
    rows.append({"run": "(mean image)", "model": "baseline", "params": 0, "macs": 0, "metrics": baseline})
    if out is not None:
        plots.image_rows(fig_rows, out, title=f"reconstructions on {data.eval_name} images")
    return rows
