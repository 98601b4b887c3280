"""A run folder as a Python object: ``Run`` (what ``convolab.fit`` and ``convolab.load_run`` return).

A ``Run`` is a view of a folder that ``convolab train`` or ``convolab.fit`` wrote: its trained model
(a plain ``torch.nn.Module``), its per-epoch :class:`History` (Keras's ``history.history["val_loss"]``
reads the same), and the reports the CLI draws (``evaluate``, ``reconstruct``, ``figures``), by the
same code (``evaluation``, ``figures``). ``load_run`` is the one loader of a trained run: the reports,
the lab and ``convolab.load_run`` get a ``Run`` from it. Nothing here trains (``convolab.fit`` and
``convolab.resume`` do).
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convolab.train.checkpoint import load_checkpoint, load_state, resolve_checkpoint
from convolab.train.config import TrainConfig
from convolab.train.device import resolve_device
from convolab.train.run_model import checkpoint_model

if TYPE_CHECKING:
    from convolab.model.sequential import Sequential

__all__ = ["History", "Reconstruction", "Run", "load_run"]

VAL_METRICS = ("bce", "mse", "psnr", "ssim")


class History(Mapping[str, list]):
    """Per-epoch metrics, one list per key, one entry per epoch (like Keras's ``History.history``).

    Keys: ``epoch``, ``loss`` (mean training loss), ``val_loss`` (validation value of the run's loss),
    ``val_bce``, ``val_mse``, ``val_psnr``, ``val_ssim``, ``seconds``, ``images_per_second``.
    ``records`` holds the epoch records as the run stores them (``log.jsonl``'s ``epoch`` lines).
    """

    def __init__(self, records: Sequence[dict[str, Any]], loss: str = "bce") -> None:
        self.records = [dict(r) for r in records]
        val = [r.get("val", {}) for r in self.records]
        self._columns: dict[str, list] = {
            "epoch": [r.get("epoch") for r in self.records],
            "loss": [r.get("train_loss") for r in self.records],
            "val_loss": [v.get(loss) for v in val],
            **{f"val_{m}": [v.get(m) for v in val] for m in VAL_METRICS},
            "seconds": [r.get("seconds") for r in self.records],
            "images_per_second": [r.get("images_per_second") for r in self.records],
        }

    def __getitem__(self, key: str) -> list:
        try:
            return self._columns[key]
        except KeyError:
            raise KeyError(f"{key!r}; history keys: {', '.join(self._columns)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    @property
    def history(self) -> dict[str, list]:
        """The dict itself (``run.history.history["loss"]``, as Keras's ``History`` spells it)."""
        return dict(self._columns)

    @property
    def epoch(self) -> list:
        return self._columns["epoch"]

    def __repr__(self) -> str:
        last = {k: v[-1] for k, v in self._columns.items() if v and k in ("loss", "val_loss")}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if v is not None)
        return f"History({len(self.records)} epochs{': last ' + shown if shown else ''})"


@dataclass
class Reconstruction:
    """Originals and reconstructions as NumPy float32 ``(N, C, H, W)``, and the figure drawn of them
    (shown by Jupyter as an image)."""

    originals: Any
    reconstructions: Any
    path: Path

    def _repr_png_(self) -> bytes:
        return self.path.read_bytes()


class Run:
    """A trained run: ``model`` (the best checkpoint's weights, eval mode), ``history``, ``summary``
    (the final test metrics; empty while unfinished), ``config`` and ``path`` (the run folder).

    It has the attributes ``convolab.load_run`` always had (``path``, ``checkpoint``: the checkpoint
    folder loaded, ``model``, ``config``: with ``out`` the folder the run is in now, ``state``: the
    checkpoint's ``state.json``), and ``device``, the one it was loaded for.
    """

    def __init__(
        self,
        path: Path,
        checkpoint: Path,
        model: Sequential,
        config: TrainConfig,
        state: dict[str, Any],
        device: str = "auto",
    ) -> None:
        self.path = path
        self.checkpoint = checkpoint
        self.model = model
        self.config = config
        self.state = state
        self.device = device

    @property
    def module(self) -> Any:
        """The trained model, a plain ``torch.nn.Module`` (the same object as ``model``)."""
        return self.model

    @property
    def history(self) -> History:
        """Every epoch trained so far (from ``last``: ``best`` stops at the best epoch)."""
        try:
            records = load_state(resolve_checkpoint(self.path, "last")).get("history", [])
        except ValueError:  # a checkpoint folder given directly
            records = self.state.get("history", [])
        return History(records, self.config.loss)

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json``: test metrics of the best checkpoint (``{}`` until the run has finished)."""
        from convolab.train.runfolder import SUMMARY_FILE, read_json

        path = self.path / SUMMARY_FILE
        return read_json(path) if path.is_file() else {}

    def evaluate(
        self,
        dataset: Any = None,
        *,
        data_dir: str | None = None,
        which: str = "best",
        device: str | None = None,
    ) -> dict[str, Any]:
        """What ``convolab evaluate RUN --json`` prints: metrics on the evaluation set (or ``dataset``'s
        test split; or images given as an array, as ``convolab.fit`` takes them) against the mean-image
        baseline."""
        from convolab.train.evaluation import evaluate_model

        images = None
        if dataset is not None and not isinstance(dataset, str):
            from convolab.train.arrays import as_images

            images, dataset = as_images(dataset, tuple(self.model.input_shape), "dataset"), None
        run = load_run(self.path, which, device or self.device)
        metrics = evaluate_model(run.model, run.config, dataset=dataset, data_dir=data_dir, images=images)
        return {"run": str(run.path), "checkpoint": str(run.checkpoint), **metrics}

    def reconstruct(
        self, n: int = 10, *, images: Sequence[str | Path] | None = None, out: str | Path | None = None
    ) -> Reconstruction:
        """The first ``n`` evaluation images (or image files) and the model's reconstructions, with the
        figure of ``convolab reconstruct`` written to ``out`` (default: ``reconstruct.png`` in the run)."""
        import torch

        from convolab.train.evaluation import reconstruct_images

        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        x, recon, path = reconstruct_images(
            self.model, self.config, out or self.path / "reconstruct.png", n=n, images=images
        )
        as_np = lambda t: t.to(torch.float32).cpu().numpy()  # noqa: E731
        return Reconstruction(as_np(x), as_np(recon), path)

    def figures(self, which: str = "best", *, show: bool = True) -> dict[str, Path]:
        """(Re)draw every figure of the run into its folder (``convolab figures RUN``); name -> path.
        In a Jupyter kernel they are also shown inline (unless ``show`` is False)."""
        from convolab.display import show_images
        from convolab.train.figures import draw_run_figures

        paths = draw_run_figures(self.path, load_run(self.path, which, device="cpu").model)
        if show:
            show_images(paths.values())
        return paths

    def _headline(self) -> str:
        info = self.state.get("best") or {}
        best = info.get("value")
        name = self.model.to_spec().name or "model"
        params = sum(p.numel() for p in self.model.parameters())
        done = len(self.history.records)
        text = f"{name} ({params:,} params) on {self.config.dataset}, {done}/{self.config.epochs} epochs"
        if best is not None:
            text += f", best {info.get('metric')} {best:.4f} (epoch {info.get('epoch')})"
        return text

    def __repr__(self) -> str:
        return f"Run('{self.path}': {self._headline()})"

    def _repr_html_(self) -> str:
        """The run and its epochs as an HTML table, for Jupyter."""
        hist, esc = self.history, html.escape
        keys = ["epoch", "loss", "val_loss", "val_psnr", "val_ssim", "seconds"]
        fmt = lambda v: "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
        rows = ["<tr>" + "".join(f"<th>{k}</th>" for k in keys) + "</tr>"]
        for i in range(len(hist.records)):
            rows.append("<tr>" + "".join(f"<td>{esc(fmt(hist[k][i]))}</td>" for k in keys) + "</tr>")
        caption = f"<b>{esc(str(self.path))}</b>: {esc(self._headline())}"
        return f"<table><caption style='text-align:left'>{caption}</caption>{''.join(rows)}</table>"


CHECKPOINT_FOLDERS = ("best", "last", ".best.old", ".last.old")  # a run's checkpoints (and their swaps)


def load_run(run: str | Path, which: str = "best", device: str = "auto") -> Run:
    """The :class:`Run` in a run folder (or a checkpoint folder): its ``which`` checkpoint's model (the
    ``best``, or ``last`` while no epoch has finished) on ``device``, in eval mode."""
    from convolab.engine.device import prepare

    ckpt = load_checkpoint(resolve_checkpoint(run, which), with_optimizer=False)
    model = checkpoint_model(ckpt)
    prepare(model, resolve_device(device))
    model.eval()
    run_dir = ckpt.path.parent if ckpt.path.name in CHECKPOINT_FOLDERS else ckpt.path
    config = dataclasses.replace(TrainConfig.from_dict(ckpt.config), out=str(run_dir))  # where it is now
    return Run(run_dir, ckpt.path, model, config, ckpt.state, device)
