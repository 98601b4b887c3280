"""CLI commands: train, evaluate, reconstruct, compare, figures (thin wrappers over convolab.train/report).

Importing this module imports click and convolab.train.config only (no torch, no matplotlib, no rich):
``convolab train --help`` is built from ``TrainConfig``'s fields without loading the training code.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from convolab.cli import UserError
from convolab.train.config import RESUME_OVERRIDES, ConfigError, TrainConfig

OFFLINE_CANDIDATES = ("fashion-mnist", "mnist", "kmnist", "cifar10")
CLI_ONLY = ("resume", "overwrite", "quiet", "figures", "nproc", "config", "threads")


def _console():
    from rich.console import Console

    console = Console(highlight=False)
    # Off a terminal (pipes, logs, tests) rich would wrap tables at 80 columns: print them whole.
    return console if console.is_terminal else Console(highlight=False, width=160)


def _offline_hint(exc: Any) -> str:
    """One line for a missing dataset: what is missing and the choices that work on this machine."""
    from convolab.data import resolve

    name, split = exc.name, exc.split
    choices = []
    try:
        if split == "train" and resolve(name, split="test") is not None:
            choices.append(f"--train-split test (only {name}'s test split is here)")
    except ValueError:
        pass
    for other in OFFLINE_CANDIDATES:
        if other == name:
            continue
        try:
            folder = resolve(other)
        except ValueError:
            continue
        if folder is not None:
            choices.append(f"--dataset {other} (found in {folder})")
    choices.append(
        f"--data-dir DIR (a folder with {name}'s IDX files; add --train-split test for a test split only)"
    )
    return f"dataset {name!r} ({split} split) is not on this machine and could not be downloaded; " + (
        "offline choices: " + ", or ".join(choices)
    )


class Stopped(click.ClickException):
    """Training stopped on purpose or by a failure: the message as is, and a chosen exit code.

    (A ClickException, because ``convolab.cli.main`` returns the exit code of those.)
    """

    def __init__(self, message: str, exit_code: int, prefix: str = "") -> None:
        super().__init__(message)
        # click declares exit_code a class variable: set this instance's through the instance dict
        vars(self)["exit_code"] = exit_code
        self.prefix = prefix

    def show(self, file=None) -> None:
        click.echo(f"{self.prefix}{self.format_message()}", err=True)


def _explicit(ctx: click.Context, names: list[str]) -> list[str]:
    return [n for n in names if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]


TRAIN_HELP = """Train an autoencoder; with no options, the lecture's first model on MNIST.

\b
Examples:
  convolab train                                   # seed-upsampling on MNIST, 10 epochs
  convolab train --dataset fashion-mnist --epochs 5 --out runs/fashion
  convolab train --data-dir ~/data/mnist --train-split test   # a folder with only the test split
  convolab train --model seed-transpose --noise 0.3 # denoising
  convolab train --dataset fashion-mnist --amp bf16 # bfloat16 autocast (AMX CPUs, GPUs)
  convolab train --resume runs/fashion --epochs 10   # continue (exactly) where it stopped
  convolab train --config runs/fashion/config.json --out runs/again   # a run's settings, flags override

Writes into the run folder: config.json, log.jsonl, checkpoints last/ and best/, summary.json and the
figures (reconstructions.png, curves.png, feature_maps.png, kernels.png, latent_pca.png, denoising.png).
Ctrl-C or SIGTERM saves `last` and exits with 130 / 143; --resume continues bitwise-exactly on CPU.

\b
Several processes (DistributedDataParallel; gloo on CPU, nccl on GPUs; docs/distributed.md):
  convolab train --nproc 2 --dataset fashion-mnist   # launches torchrun on this machine
  torchrun --nproc-per-node 4 -m convolab train --dataset fashion-mnist --device cuda
--batch-size is the global batch, split evenly across the processes; only rank 0 writes files.

\b
Large image folders stream from disk (DataLoader workers, each process its share; docs/training.md):
  convolab train --dataset folder:/data/faces --model faces.yaml --stream on --workers 4
"""


def flag(field: str) -> str:
    """The option of a ``TrainConfig`` field: ``batch_size`` -> ``--batch-size``."""
    return "--" + field.replace("_", "-")


def _click_type(f: dataclasses.Field) -> Any:
    if f.metadata.get("choices"):
        return click.Choice(f.metadata["choices"])
    kind = str(f.type)
    if f.name in ("data_dir", "out"):
        return click.Path()
    return int if kind.startswith("int") else float if kind.startswith("float") else str


def config_options(func: Any) -> Any:
    """One click option per ``TrainConfig`` field, its default and help taken from the field."""
    for f in reversed([f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli")]):
        func = click.option(flag(f.name), f.name, type=_click_type(f), default=f.default,
                            show_default=f.default is not None, help=f.metadata["help"])(func)  # fmt: skip
    return func


def _config_error(exc: ConfigError) -> UserError:
    """A config mistake in the CLI's words (``batch_size`` -> ``--batch-size``)."""
    return UserError(exc.render(flag(exc.field)))


def _apply_threads(threads: int | None) -> None:
    """``--threads N``: torch's intra-op threads (convolab.threads where present; default: unchanged)."""
    if threads is None:
        return
    import importlib

    try:
        set_threads = importlib.import_module("convolab.threads").set_threads
    except ImportError:  # pragma: no cover - before the threads module is merged
        set_threads = importlib.import_module("convolab.fastpath").configure_threads
    set_threads(threads)


threads_opt = click.option("--threads", type=click.IntRange(min=1), default=None,
                           help="CPU threads for the computation [default: torch's].")  # fmt: skip


def _fresh_config(ctx: click.Context, config_file: str | None, opts: dict[str, Any]) -> TrainConfig:
    """Defaults, then the --config file's fields, then the flags given on the command line."""
    values = TrainConfig.from_file(config_file) if config_file else {}
    values.update({k: opts[k] for k in _explicit(ctx, list(opts))} if config_file else opts)
    return TrainConfig.from_dict(values)


@click.command("train", help=TRAIN_HELP)
@config_options
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Start from the settings in this YAML/JSON file (a run's config.json is one); flags "
              "given here override it.")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace an existing convolab run folder at --out.")
@click.option("--resume", type=click.Path(), default=None, help="Continue the run in this folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or epoch lines.")
@click.option("--figures/--no-figures", default=True, show_default=True, help="Draw the figures at the end.")
@click.option(
    "--nproc", type=int, default=None, help="Train in N processes on this machine (launches torchrun)."
)
@threads_opt
@click.pass_context
def train_cmd(
    ctx: click.Context,
    resume: str | None,
    overwrite: bool,
    quiet: bool,
    figures: bool,
    nproc: int | None,
    config_file: str | None,
    threads: int | None,
    **opts: Any,
) -> None:
    if nproc is not None:
        _launch(ctx, nproc, opts, resume, config_file)
        return
    _apply_threads(threads)
    from convolab.data import DatasetNotFoundError
    from convolab.train import context, session
    from convolab.train.loop import NonFiniteLossError, TrainingInterrupted

    try:
        if resume is not None:
            fixed = _explicit(ctx, [k for k in opts if k not in RESUME_OVERRIDES])
            fixed += ["overwrite"] * overwrite + ["config"] * (config_file is not None)
            if fixed:
                raise UserError(
                    f"--resume continues the stored configuration; drop {', '.join(map(flag, fixed))}"
                )
            overrides = {k: opts[k] for k in _explicit(ctx, list(RESUME_OVERRIDES))}
            trainer = session.resume(resume, overrides=overrides, quiet=quiet)
        else:
            trainer = session.start(_fresh_config(ctx, config_file, opts), overwrite=overwrite, quiet=quiet)
        quiet = quiet or not trainer.ctx.is_main  # one rank speaks
        if not quiet:
            click.echo(f"run folder: {trainer.run_dir}")
            if trainer.source.describe():
                click.echo(trainer.source.describe())
        result = trainer.fit()
        drawn = session.draw_figures(trainer) if figures else {}
        dist = trainer.ctx
        del trainer  # its DDP module must go before the process group (a no-op outside torchrun)
        dist.shutdown()  # all ranks leave together
    except ConfigError as exc:
        raise _config_error(exc) from None
    except DatasetNotFoundError as exc:
        raise UserError(_offline_hint(exc)) from None
    except TrainingInterrupted as exc:
        raise Stopped(str(exc), exc.exit_code) from None
    except NonFiniteLossError as exc:
        raise Stopped(
            str(exc).replace("a smaller learning rate", "a smaller --lr"), 1, prefix="error: "
        ) from None
    except RuntimeError as exc:  # under torchrun: a peer died (gloo/NCCL error or collective timeout)
        ranks = context.env_ranks()
        if ranks is None or ranks[1] == 1:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise Stopped(
            f"rank {ranks[0]}: lost contact with another process ({first}); the job "
            f"stops; continue from the last checkpoint with --resume {resume or opts.get('out') or 'RUN'}",
            1,
            prefix="error: ",
        ) from None
    if not quiet:
        _print_metrics(result.summary, title=f"{result.summary['model']} on {result.summary['eval_set']}")
        shown = f" (figures: {', '.join(p.name for p in drawn.values())})" if drawn else ""
        click.echo(f"saved {result.run_dir}{shown}")


def _precheck(config: TrainConfig, nproc: int) -> None:
    """Mistakes as one line before torchrun starts (not once per rank inside torchrun's report)."""
    from convolab.train.context import check_batch_size
    from convolab.train.runs import build_model

    config.validate()
    check_batch_size(config.batch_size, nproc)
    build_model(config.model, config.seed)  # an unknown or invalid model


def _launch(
    ctx: click.Context, nproc: int, opts: dict[str, Any], resume: str | None, config_file: str | None
) -> None:
    """``--nproc N``: run this same command in N processes under torchrun; raise on a failure."""
    from convolab.train import context

    if context.env_ranks() is not None:
        raise UserError("--nproc starts torchrun itself; under torchrun leave it out")
    if isinstance(nproc, bool) or nproc < 1:
        raise UserError(f"--nproc must be an integer >= 1, got {nproc!r}")
    if resume is None:
        try:
            _precheck(_fresh_config(ctx, config_file, opts), nproc)
        except ConfigError as exc:
            raise _config_error(exc) from None
    args: list[str] = []
    for name in _explicit(ctx, [k for k in ctx.params if k != "nproc"]):
        value, option = ctx.params[name], flag(name)
        if name == "figures":
            args.append("--figures" if value else "--no-figures")
        elif name == "config_file":
            args += ["--config", str(value)]
        elif isinstance(value, bool):
            args += [option] if value else []
        else:
            args += [option, str(value)]
    from convolab.train.distributed import launch

    rc = launch(nproc, args)
    where = resume or opts.get("out") or "RUN_FOLDER"
    if rc in (130, 143):
        name = "SIGINT" if rc == 130 else "SIGTERM"
        raise Stopped(f"{name}: {nproc} processes stopped; continue with --resume {where}", rc)
    if rc != 0:
        hint = (
            f"; continue with: convolab train --nproc {nproc} --resume {where}"
            if (Path(where) / "last").is_dir()
            else ""
        )
        raise Stopped(
            f"training in {nproc} processes failed (torchrun exit code {rc}; the report above names the "
            f"failed rank){hint}",
            1,
            prefix="error: ",
        )


def _print_metrics(report: dict[str, Any], title: str) -> None:
    from rich.table import Table

    table = Table()
    for col in ("", "BCE", "MSE", "PSNR (dB)", "SSIM"):
        table.add_column(col, justify="right")
    for label, m in (("model", report["metrics"]), ("mean image", report["baseline"])):
        table.add_row(label, f"{m['bce']:.4f}", f"{m['mse']:.4f}", f"{m['psnr']:.2f}", f"{m['ssim']:.3f}")
    console = _console()
    console.print(title)
    console.print(table)


@click.command("evaluate")
@click.argument("run", type=click.Path())
@click.option("--dataset", default=None, help="Evaluate on this dataset's test split instead.")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding --dataset's files.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@threads_opt
def evaluate_cmd(
    run: str,
    dataset: str | None,
    data_dir: str | None,
    checkpoint: str,
    device: str,
    as_json: bool,
    threads: int | None,
) -> None:
    """Metrics of a trained run (BCE, MSE, PSNR, SSIM) against the mean-image baseline.

    \b
    Example:
      convolab evaluate runs/fashion
      convolab evaluate runs/fashion --dataset mnist --data-dir ~/data/mnist --json
    """
    _apply_threads(threads)
    from convolab.data import DatasetNotFoundError
    from convolab.report import evaluate_run

    try:
        report = evaluate_run(run, dataset=dataset, data_dir=data_dir, which=checkpoint, device=device)
    except DatasetNotFoundError as exc:
        raise UserError(_offline_hint(exc)) from None
    if as_json:
        click.echo(json.dumps(report, indent=1))
    else:
        _print_metrics(report, title=f"{report['run']} on {report['eval_set']} ({report['n']} images)")


@click.command("reconstruct")
@click.argument("run", type=click.Path())
@click.argument("more_images", nargs=-1, type=click.Path(exists=True, dir_okay=False), metavar="[IMAGE]...")
@click.option(
    "--images",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Image files (--images a.png b.png, or --images a.png --images b.png).",
)
@click.option("--dataset", default=None, help="Take the first --n test images of this dataset.")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding --dataset's files.")
@click.option("--n", type=int, default=10, show_default=True)
@click.option("-o", "--out", type=click.Path(), required=True, help="Figure to write (.png, .pdf, .svg).")
@click.option("--device", default="auto", show_default=True)
@threads_opt
def reconstruct_cmd(
    run: str,
    more_images: tuple[str, ...],
    images: tuple[str, ...],
    threads: int | None,
    dataset: str | None,
    data_dir: str | None,
    n: int,
    out: str,
    device: str,
) -> None:
    """Draw originals over their reconstructions by a trained run.

    \b
    Example:
      convolab reconstruct runs/fashion -o recon.png
      convolab reconstruct runs/fashion --images a.png b.png -o mine.png
    """
    if more_images and not images:
        raise UserError(f"unexpected argument {more_images[0]}: give image files after --images")
    _apply_threads(threads)
    images = images + more_images
    from convolab.data import DatasetNotFoundError
    from convolab.report import reconstruct

    try:
        path = reconstruct(
            run, out, images=list(images) or None, dataset=dataset, data_dir=data_dir, n=n, device=device
        )
    except DatasetNotFoundError as exc:
        raise UserError(_offline_hint(exc)) from None
    click.echo(f"wrote {path}")


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o", "--out", type=click.Path(), default=None, help="Figure: one row of reconstructions per run."
)
@click.option("--n", type=int, default=8, show_default=True, help="Images per row in the figure.")
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@threads_opt
def compare_cmd(
    runs: tuple[str, ...], out: str | None, n: int, device: str, as_json: bool, threads: int | None
) -> None:
    """Compare trained runs on the same images: parameters, MACs, metrics, time per epoch.

    \b
    Example:
      convolab compare runs/up runs/transpose runs/unpool -o compare.png
    """
    _apply_threads(threads)
    from rich.table import Table

    from convolab.report import compare_runs

    rows = compare_runs(list(runs), out=out, n=n, device=device)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    table = Table()
    for col in ("model", "run", "params", "MACs", "epochs", "s/epoch", "BCE", "MSE", "PSNR", "SSIM"):
        table.add_column(col, justify="left" if col in ("model", "run") else "right")
    for r in rows:
        m = r["metrics"]
        secs = r.get("seconds_per_epoch")
        cells = [r["model"], Path(r["run"]).name, f"{r['params']:,}", f"{r['macs']:,}"]
        cells += [str(r.get("epochs", "")), f"{secs:.1f}" if secs else ""]
        cells += [f"{m['bce']:.4f}", f"{m['mse']:.4f}", f"{m['psnr']:.2f}", f"{m['ssim']:.3f}"]
        table.add_row(*cells)
    _console().print(table)
    if out:
        click.echo(f"wrote {out}")


@click.command("figures")
@click.argument("run", type=click.Path())
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@threads_opt
def figures_cmd(run: str, checkpoint: str, threads: int | None) -> None:
    """(Re)draw every figure of a run into its folder.

    \b
    Example:
      convolab figures runs/fashion
    """
    _apply_threads(threads)
    from convolab.report import make_figures

    for name, path in make_figures(run, which=checkpoint).items():
        click.echo(f"{name}: {path}")


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    for cmd in (train_cmd, evaluate_cmd, reconstruct_cmd, compare_cmd, figures_cmd):
        cli.add_command(cmd)
