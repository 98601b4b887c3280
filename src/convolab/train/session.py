"""Building a ``Trainer``: a fresh run from a ``TrainConfig`` (:func:`start`), a stopped one from its
folder (:func:`resume`), or the whole job in one call (:func:`train`, which also draws the figures).

This is where a run's pieces are chosen, once: the context (one process, or a rank under torchrun),
the batch source (in memory, or streamed from a ``folder:`` dataset), the model (its spec parsed
once), the run folder with its lock and log; the Trainer is built with all of them. The streaming
and distributed modules are imported only when a run uses them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from convolab.train.config import FOLDER_PREFIX, ConfigError, TrainConfig
from convolab.train.context import LocalContext, check_batch_size, env_ranks
from convolab.train.device import resolve_device
from convolab.train.loop import Trainer, TrainResult
from convolab.train.run_checkpoints import open_resume
from convolab.train.run_data import RunData, load_run_data
from convolab.train.run_model import model_info, ready_model
from convolab.train.runfolder import (
    CONFIG_FILE,
    FIGURES,
    LOG_FILE,
    SUMMARY_FILE,
    LazyLog,
    RunLock,
    abandon_start,
    check_run_dir,
    claim_run_dir,
    write_json,
)
from convolab.train.sources import BatchSource, TensorSource

if TYPE_CHECKING:
    from convolab.model.sequential import Sequential
    from convolab.model.spec import ModelSpec
    from convolab.train.checkpoint import Checkpoint

__all__ = ["RunFinished", "check_amp", "open_source", "resume", "start", "train"]


def open_context(device: str = "auto") -> LocalContext:
    """This process's context: a :class:`DistContext` under torchrun with 2+ ranks, else a local one."""
    ranks = env_ranks()
    if ranks is None or ranks[1] == 1:
        return LocalContext(device=resolve_device(device))
    from convolab.train.distributed import join  # only under torchrun with 2+ ranks

    return join(device, *ranks)


def open_source(config: TrainConfig, ctx: LocalContext, preloaded: RunData | None = None) -> BatchSource:
    """The run's batches: in memory, or streamed from disk for a large ``folder:`` dataset (``stream``);
    ``preloaded``: images already in memory (``convolab.fit`` on arrays) instead of the dataset's files."""
    folder = config.dataset.startswith(FOLDER_PREFIX)
    if config.stream == "on" and not folder:
        raise ConfigError(
            "stream",
            "{field} on: dataset {value} is loaded into memory; only folder:PATH datasets "
            "stream from disk (use {field} auto or off)",
            value=config.dataset,
        )
    if preloaded is not None or config.stream == "off" or not folder:
        return TensorSource(preloaded or load_run_data(config), config, ctx)
    from convolab.train import stream_data as sd
    from convolab.train.folder_source import FolderSource

    data = sd.load_data(config, ctx)
    if isinstance(data, sd.StreamData):
        return FolderSource(data, config, ctx)
    return TensorSource(data, config, ctx)


def check_amp(config: TrainConfig) -> None:
    """``amp: bf16`` needs native bfloat16 on the run's device: checked where a run starts (here, in
    ``convolab.fit`` and before ``--nproc`` launches), not by ``TrainConfig.validate``, which loads
    nothing of the engine."""
    if config.amp != "bf16":
        return
    from convolab.engine import device as engine_device

    device = resolve_device(config.device)
    if not engine_device.bf16_supported(device):
        raise ConfigError(
            "amp",
            "{field} 'bf16' needs native bfloat16 (a CPU with AVX-512/AMX bf16, or a GPU with bf16); "
            f"device {device} lacks it: use {{field}} none",
        )


def start(
    config: TrainConfig,
    *,
    overwrite: bool = False,
    quiet: bool = False,
    tensorboard: bool | None = None,
    spec: ModelSpec | None = None,
    label: str | None = None,
    data: RunData | None = None,
) -> Trainer:
    """A fresh run: validate the config, load the data, build the model, then create the run folder.

    Everything that can be checked is checked before the folder exists (the config's values and JSON,
    the model, the data, the model's output against the data); a start that still fails after it
    removes what it wrote. The config is not changed: the Trainer's is a copy naming the run folder.
    ``spec``: ``config.model`` already parsed, or a model given in Python (``convolab.fit``; ``label``
    then names it in messages instead of ``config.model``); ``data``: images given in Python (a
    ``RunData``) instead of ``config.dataset``'s; ``tensorboard``: events on, off, None = when installed."""
    config.validate()
    check_amp(config)
    ctx = open_context(config.device)
    check_batch_size(config.batch_size, ctx.world_size)
    out = Path(config.out) if config.out else config.default_out()
    config = replace(config, out=str(ctx.broadcast_object(str(out))))  # one timestamped default for all ranks
    out = Path(str(config.out))
    ctx.on_main(check_run_dir, out, overwrite=overwrite)
    if spec is None:
        from convolab.model.spec import load_spec

        spec = load_spec(config.model)  # parsed once per run; a bad model fails before data or folder
    # Data and model before the folder: a missing dataset or a bad model leaves nothing behind.
    source = open_source(config, ctx, data)
    model = ready_model(spec, config, source, ctx.device, label=config.model if label is None else label)
    return _claim_and_build(config, model, source, ctx, out, overwrite, tensorboard=tensorboard, quiet=quiet)


def _claim_and_build(
    config: TrainConfig,
    model: Sequential,
    source: BatchSource,
    ctx: LocalContext,
    out: Path,
    overwrite: bool,
    **trainer_kw: Any,
) -> Trainer:
    """Claim the run folder (its lock, rank 0), build the Trainer, write ``config.json`` and the start
    record; a failure after the claim removes what this start wrote."""
    created = not out.exists()
    held: list[RunLock] = []  # rank 0's lock stays in this process (a descriptor is not broadcast)
    ctx.on_main(lambda: held.append(claim_run_dir(out, overwrite=overwrite)))
    lock = held[0] if held else None
    log = run_log(ctx, out)
    try:
        trainer = Trainer(config, model, source, ctx, run_dir=out, log=log, lock=lock, **trainer_kw)
        if ctx.is_main:
            write_json(out / CONFIG_FILE, config.to_dict())
        log.write(
            "start",
            config=config.to_dict(),
            streamed=source.describe() is not None,
            threads=torch.get_num_threads(),
            **model_info(model),
        )
    except BaseException:
        log.close()
        if lock is not None:
            abandon_start(lock, created)
        raise
    return trainer


def run_log(ctx: LocalContext, run_dir: Path) -> LazyLog:
    """The run's ``log.jsonl`` (rank 0; nothing elsewhere), opened at its first record."""
    return LazyLog(lambda: ctx.open_log(run_dir / LOG_FILE))


def resume(
    run: str | Path,
    *,
    overrides: dict[str, Any] | None = None,
    quiet: bool = False,
    tensorboard: bool | None = None,
) -> Trainer:
    """Continue a run from its ``last`` checkpoint; ``overrides`` may change epochs, device, checkpointing."""
    lock = _lock_for_resume(run)
    try:
        return _resume(run, overrides or {}, lock, quiet=quiet, tensorboard=tensorboard)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _lock_for_resume(run: str | Path) -> RunLock | None:
    """Rank 0 locks the run folder before reading it (a second writer is refused in one line)."""

    ranks = env_ranks()
    if (ranks is not None and ranks[0] != 0) or not (Path(run) / CONFIG_FILE).is_file():
        return None
    _check_is_run(Path(run))  # before the lock: a foreign folder gets no .lock of ours
    return RunLock(run).acquire()


def _check_is_run(run: Path) -> None:
    """Refuse (as ``open_resume`` would) a folder that is not a convolab run: no checkpoint state and a
    ``config.json`` that is not a training configuration. Reads only."""
    from convolab.train.checkpoint import STATE_FILE
    from convolab.train.runfolder import read_json

    names = ("last", "best", ".last.old", ".best.old")
    for name in names:  # a link would be followed, then moved aside by the next save
        if (run / name).is_symlink():
            raise ValueError(f"{run / name} is a symbolic link: a run's checkpoints are folders inside it")
    if any((run / name / STATE_FILE).is_file() for name in names):
        return
    TrainConfig.from_dict(read_json(run / CONFIG_FILE))


def _resume(
    run: str | Path, overrides: dict[str, Any], lock: RunLock | None, *, quiet: bool, tensorboard: bool | None
) -> Trainer:
    ckpt, config = open_resume(run, overrides)
    check_amp(config)
    if ckpt is not None and ckpt.path.name in ("best", "last"):
        from convolab.train.checkpoint import remove_stale

        remove_stale(ckpt.path.parent)  # under the lock: leftovers of a killed save
    if ckpt is not None:
        _check_not_finished(ckpt, config)
    ctx = open_context(config.device)
    check_batch_size(config.batch_size, ctx.world_size)
    run_dir = ckpt.path.parent if ckpt is not None else Path(config.out or run)
    source = open_source(config, ctx)
    if ckpt is None:  # killed before its first checkpoint: start over in the same folder
        from convolab.model.spec import load_spec

        model = ready_model(load_spec(config.model), config, source, ctx.device, label=config.model)
    else:
        model = ready_model(ckpt.spec, config, source, ctx.device)
    trainer = Trainer(
        config,
        model,
        source,
        ctx,
        run_dir=run_dir,
        log=run_log(ctx, run_dir),
        lock=lock,
        tensorboard=tensorboard,
        quiet=quiet,
    )
    if ckpt is None:
        trainer.log.write("resume", epoch=0, step=0, global_step=0)
        return trainer
    trainer.load_state(ckpt)
    trainer.log.write(
        "resume",
        epoch=trainer.epoch,
        step=trainer.step,
        global_step=trainer.global_step,
        threads=torch.get_num_threads(),
    )
    return trainer


def _check_not_finished(ckpt: Checkpoint, config: TrainConfig) -> None:
    """A run stopped after its last epoch but before its summary (killed in the final evaluation) only
    needs the end (fit() then skips the loop and runs finish()); one with its summary is finished."""
    done = ckpt.state["epoch"]
    finished = done >= config.epochs and ckpt.state["step"] == 0
    if finished and (done > config.epochs or (ckpt.path.parent / SUMMARY_FILE).exists()):
        raise RunFinished(ckpt.path.parent, done, missing_figures(ckpt.path.parent, config, ckpt.state))


class RunFinished(ValueError):
    """``resume`` of a run that already trained all its epochs. ``missing``: the figures a finished run
    has that are not in its folder (a kill while they were drawn): ``convolab figures`` draws them."""

    def __init__(self, run: Path, epochs: int, missing: list[str]) -> None:
        self.run, self.epochs, self.missing = run, epochs, missing
        super().__init__(
            f"run {run} already finished {epochs} epochs; set epochs to more than {epochs} to train further"
            + (
                f"; its figures {', '.join(missing)} are missing: draw them with `convolab figures {run}`"
                if missing
                else ""
            )
        )


def missing_figures(run: Path, config: TrainConfig, state: dict[str, Any]) -> list[str]:
    """The figures every finished run of ``config`` has (``report.make_figures``: reconstructions and
    latent codes always, curves with a history, denoising with noise) that ``run`` lacks."""
    wanted = ["reconstructions.png", "latent_pca.png"]
    wanted += ["curves.png"] * bool(state.get("history")) + ["denoising.png"] * bool(config.noise)
    return [name for name in FIGURES if name in wanted and not (run / name).is_file()]


def draw_figures(trainer: Trainer) -> dict[str, Path]:
    """The run's figures from the trained (best) model (``convolab.train.report.make_figures``); rank 0
    only."""
    if not trainer.ctx.is_main:
        return {}
    from convolab.train.report import make_figures

    return make_figures(trainer.run_dir, model=trainer.model, data=trainer.figure_data())


def train(
    config: TrainConfig,
    *,
    overwrite: bool = False,
    quiet: bool = False,
    figures: bool = True,
    tensorboard: bool | None = None,
) -> TrainResult:
    """Train a fresh run to the end and draw its figures. Example: ``train(TrainConfig(epochs=1))``."""
    trainer = start(config, overwrite=overwrite, quiet=quiet, tensorboard=tensorboard)
    result = trainer.fit()
    if figures:
        draw_figures(trainer)
    return result
