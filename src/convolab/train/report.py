"""What a trained run shows, by its folder: its figures, its metrics against the mean-image baseline,
comparisons.

These functions back ``convolab figures``, ``evaluate``, ``reconstruct`` and ``compare`` (and
``convolab.make_figures``, ``evaluate_run``, ``compare_runs``) and run at the end of training. Each
loads the run (``run.load_run``) and calls the one implementation that ``Run``'s methods call too
(``evaluation``, ``figures``). They only read a run folder (and write figures), never the checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from convolab import plots
from convolab.engine.predict import predict
from convolab.limits import MAX_COMPARE_RUNS, check_count
from convolab.train.checkpoint import load_state, resolve_checkpoint
from convolab.train.evaluation import check_n, chunk_of, evaluate_model, reconstruct_images
from convolab.train.figures import N_SHOWN, draw_run_figures
from convolab.train.metrics import baseline_metrics, metrics_of
from convolab.train.run import load_run
from convolab.train.run_data import RunData, load_run_data
from convolab.train.run_model import model_info


def make_figures(
    run: str | Path, *, model: Any = None, data: RunData | None = None, which: str = "best"
) -> dict[str, Path]:
    """Draw every figure of a run into its folder (with ``model``, default its ``which`` checkpoint's);
    returns ``{figure name: path}``."""
    if model is None:
        model = load_run(run, which, device="cpu").model
    return draw_run_figures(run, model, data)


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
    return {
        "run": str(loaded.path),
        "checkpoint": str(loaded.checkpoint),
        **evaluate_model(loaded.model, loaded.config, dataset=dataset, data_dir=data_dir, images=images),
    }


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
    check_n(n)
    loaded = load_run(run, which, device)
    return reconstruct_images(
        loaded.model, loaded.config, out, n=n, images=images, dataset=dataset, data_dir=data_dir
    )[2]


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
    check_n(n)
    loaded = [load_run(r, "best", device) for r in runs]
    data = load_run_data(loaded[0].config)
    rows, fig_rows = [], [("original", data.eval_images[:n])]
    for lr in loaded:
        if tuple(lr.model.input_shape) != tuple(data.eval_images.shape[1:]):
            raise ValueError(f"run {lr.path} takes {tuple(lr.model.input_shape)} images; cannot compare")
        chunk = chunk_of(lr.config, lr.model)
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
    first_chunk = chunk_of(loaded[0].config, loaded[0].model)
    baseline = baseline_metrics(data.mean_image, data.eval_images, first_chunk)
    rows.append({"run": "(mean image)", "model": "baseline", "params": 0, "macs": 0, "metrics": baseline})
    if out is not None:
        plots.image_rows(fig_rows, out, title=f"reconstructions on {data.eval_name} images")
    return rows
