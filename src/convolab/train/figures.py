"""The figures of a trained run, drawn into its folder from a model in hand: ``draw_run_figures``.

Reconstructions (and, for a denoising run, noisy / clean / reconstructed), the training curves, the
encoder's feature maps, the first layer's kernels and a PCA of the latent codes. Called at the end of
training (``report.make_figures`` with the trained model) and by ``Run.figures``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from convolab import plots
from convolab.engine.device import to_layout
from convolab.engine.predict import predict
from convolab.train.checkpoint import load_state, resolve_checkpoint
from convolab.train.config import TrainConfig
from convolab.train.evaluation import chunk_of, noisy
from convolab.train.run_data import RunData, load_run_data

__all__ = ["N_SHOWN", "PCA_MAX", "draw_run_figures"]

N_SHOWN = 10  # the lecture's figure shows 10 digits
PCA_MAX = 5000  # latent codes projected (enough for a readable scatter, quick on a CPU)


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


def draw_run_figures(run: str | Path, model: Any, data: RunData | None = None) -> dict[str, Path]:
    """Draw every figure of the run folder ``run`` with ``model`` (on ``data``, default the run's own
    data); returns ``{figure name: path}``."""
    run = Path(run)
    state = load_state(resolve_checkpoint(run, "last"))
    config = TrainConfig.from_dict(state["config"])
    data = data if data is not None else load_run_data(config)
    name = model.to_spec().name
    x = data.eval_images[:N_SHOWN]
    x_in = noisy(x, config.noise, config.seed)
    recon = predict(model, x_in, chunk_of(config, model))
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
    codes = _codes(model, data.eval_images[:PCA_MAX], chunk_of(config, model))
    labels = None if data.eval_labels is None else data.eval_labels[:PCA_MAX]
    out["latent_pca"] = plots.latent_pca(
        codes, labels, run / "latent_pca.png", classes=data.classes, title=f"{name}: latent codes, PCA"
    )
    return out
