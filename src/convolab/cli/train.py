"""CLI command ``convolab train`` (a thin wrapper over ``convolab.train.session``); the commands on trained
runs (evaluate, reconstruct, compare, figures) are in :mod:`convolab.cli.runs`.

Importing this module imports click and convolab.train.config only (no torch, no matplotlib, no rich):
``convolab train --help`` is built from ``TrainConfig``'s fields without loading the training code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from convolab.cli import UserError
from convolab.cli.common import THREADS_HELP, offline_hint
from convolab.cli.train_launch import launch_ranks
from convolab.cli.train_options import (
    TRAIN_HELP,
    Stopped,
    config_error,
    config_options,
    explicit,
    flag,
    fresh_config,
)
from convolab.train.config import RESUME_OVERRIDES, ConfigError

if TYPE_CHECKING:
    from convolab.train.loop import Trainer, TrainResult


@click.command("train", help=TRAIN_HELP)
@config_options
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Start from the settings in this YAML/JSON file (a run's config.json is one); flags "
    "given here override it.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing convolab run folder at --out.")
@click.option("--resume", type=click.Path(), default=None, help="Continue the run in this folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or epoch lines.")
@click.option("--figures/--no-figures", default=True, show_default=True, help="Draw the figures at the end.")
@click.option(
    "--nproc", type=int, default=None, help="Train in N processes on this machine (launches torchrun)."
)
@click.option(
    "--tensorboard/--no-tensorboard",
    default=None,
    help="Write TensorBoard event files into RUN/tensorboard (`tensorboard --logdir RUN`) "
    "[default: on when the tensorboard package is installed].",
)
@click.option(
    "--threads",
    type=int,
    default=None,
    metavar="N",
    help=f"{THREADS_HELP} With --nproc: per process [default: the cores split between them].",
)
@click.pass_context
def train_cmd(
    ctx: click.Context,
    resume: str | None,
    overwrite: bool,
    quiet: bool,
    figures: bool,
    nproc: int | None,
    config_file: str | None,
    tensorboard: bool | None,
    threads: int | None,
    **opts: Any,
) -> None:
    from convolab.threads import set_threads

    _check_threads(ctx, threads)
    if tensorboard:
        _check_tensorboard()
    if nproc is not None:  # each rank sets its threads (an explicit --threads is passed on to them)
        launch_ranks(ctx, nproc, opts, resume, config_file)
        return
    set_threads(threads)
    with _stops(resume, opts):
        trained = _train(_Request(ctx, resume, config_file, opts, overwrite, quiet, figures, tensorboard))
    if trained is not None and trained[2]:  # (result, figures drawn, speak?)
        _report(trained[0], trained[1])


def _check_threads(ctx: click.Context, threads: int | None) -> None:
    from convolab.threads import check_threads

    if threads is not None:
        try:
            check_threads(threads)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param_hint="'--threads'") from None


@dataclass(frozen=True)
class _Request:
    """What one ``convolab train`` was asked: the command's context, the run to resume or the
    ``--config`` file, the config options given, and the flags of the session."""

    ctx: click.Context
    resume: str | None
    config_file: str | None
    opts: dict[str, Any]
    overwrite: bool
    quiet: bool
    figures: bool
    tensorboard: bool | None


def _train(req: _Request) -> tuple[TrainResult, dict[str, Path], bool] | None:
    """Open the run, train it, draw its figures: ``(result, figures drawn, speak?)``; None when
    ``--resume`` of a finished run only redrew its missing figures."""
    from convolab.train import session

    trainer = _open(req)
    if trainer is None:
        return None
    speak = not req.quiet and trainer.ctx.is_main  # one rank speaks
    if speak:
        click.echo(f"run folder: {trainer.run_dir}")
        if trainer.source.describe():
            click.echo(trainer.source.describe())
    result = trainer.fit()
    drawn = session.draw_figures(trainer) if req.figures else {}
    dist = trainer.ctx
    del trainer  # its DDP module must go before the process group (a no-op outside torchrun)
    dist.shutdown()  # all ranks leave together
    return result, drawn, speak


def _open(req: _Request) -> Trainer | None:
    """The Trainer of a fresh run or of ``--resume``; None for a finished run whose missing figures
    were drawn instead (rank 0 draws under torchrun)."""
    from convolab.train import context, session

    ctx, opts, quiet, tensorboard = req.ctx, req.opts, req.quiet, req.tensorboard
    if req.resume is None:
        config = fresh_config(ctx, req.config_file, opts)
        return session.start(config, overwrite=req.overwrite, quiet=quiet, tensorboard=tensorboard)
    fixed = explicit(ctx, [k for k in opts if k not in RESUME_OVERRIDES])
    fixed += ["overwrite"] * req.overwrite + ["config"] * (req.config_file is not None)
    if fixed:
        raise UserError(f"--resume continues the stored configuration; drop {', '.join(map(flag, fixed))}")
    overrides = {k: opts[k] for k in explicit(ctx, list(RESUME_OVERRIDES))}
    try:
        return session.resume(req.resume, overrides=overrides, quiet=quiet, tensorboard=tensorboard)
    except session.RunFinished as exc:
        if not (req.figures and exc.missing):
            raise
        if (context.env_ranks() or (0, 1))[0] == 0:  # under torchrun: rank 0 draws
            _redraw(exc)
        return None


@contextmanager
def _stops(resume: str | None, opts: dict[str, Any]) -> Iterator[None]:
    """A run's failures and stops in the CLI's words and exit codes (2: a mistake; 130 / 143: a
    signal, ``last`` saved; 1: a non-finite loss or a lost peer under torchrun)."""
    from convolab.data import DatasetNotFoundError
    from convolab.train.loop import NonFiniteLossError, TrainingInterrupted

    try:
        yield
    except ConfigError as exc:
        raise config_error(exc) from None
    except DatasetNotFoundError as exc:
        hint = offline_hint(exc, split_flag="--train-split", data_dir=opts.get("data_dir"))
        raise UserError(hint) from None
    except TrainingInterrupted as exc:
        raise Stopped(str(exc), exc.exit_code) from None
    except NonFiniteLossError as exc:
        raise Stopped(
            str(exc).replace("a smaller learning rate", "a smaller --lr"), 1, prefix="error: "
        ) from None
    except RuntimeError as exc:  # under torchrun: a peer died (gloo/NCCL error or collective timeout)
        lost = _lost_peer(exc, resume, opts)
        if lost is None:
            raise
        raise lost from None


def _lost_peer(exc: RuntimeError, resume: str | None, opts: dict[str, Any]) -> Stopped | None:
    """A RuntimeError under torchrun with 2+ ranks: one line saying a peer was lost and how to go on;
    None elsewhere (the error is raised as it is)."""
    from convolab.train import context

    ranks = context.env_ranks()
    if ranks is None or ranks[1] == 1:
        return None
    from convolab.train.lost_peer import launcher_argv, lost_contact

    run = str(resume or opts.get("out") or "RUN")
    message = lost_contact(str(exc), rank=ranks[0], world=ranks[1], run=run, launcher=launcher_argv())
    return Stopped(message, 1, prefix="error: ")


def _report(result: TrainResult, drawn: dict[str, Path]) -> None:
    """The test metrics and where the run was saved."""
    from convolab.cli.runs import print_metrics

    print_metrics(result.summary, title=f"{result.summary['model']} on {result.summary['eval_set']}")
    shown = f" (figures: {', '.join(p.name for p in drawn.values())})" if drawn else ""
    click.echo(f"saved {result.run_dir}{shown}")


def _redraw(finished: Any) -> None:
    """``--resume`` of a finished run whose figures are missing (killed while they were drawn): draw
    them (under the run's lock), and say so."""
    from convolab.train.report import make_figures
    from convolab.train.runfolder import FIGURES, RunLock

    lock = RunLock(finished.run).acquire()
    try:
        drawn = make_figures(finished.run)
        for name in FIGURES:  # the temp file of a figure the kill cut short
            (finished.run / f".{name}.tmp").unlink(missing_ok=True)
    finally:
        lock.release()
    click.echo(
        f"run {finished.run} already finished {finished.epochs} epochs; its figures "
        f"{', '.join(finished.missing)} were missing: drew {', '.join(p.name for p in drawn.values())}"
    )


def _check_tensorboard() -> None:
    """``--tensorboard`` without the package: one line naming the extra, before any work."""
    from convolab.train.tblog import INSTALL, available

    if not available():
        raise UserError(f"--tensorboard needs the tensorboard package: {INSTALL}")


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(train_cmd)
