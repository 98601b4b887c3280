"""CLI commands: train, evaluate, reconstruct, compare, figures (thin wrappers over convolab.train/report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from convolab.cli import UserError
from convolab.runs import RESUME_OVERRIDES
from convolab.trainconfig import AMP_MODES, LOSSES, STREAM_MODES, TRAIN_SPLITS, TrainConfig

OFFLINE_CANDIDATES = ("fashion-mnist", "mnist", "kmnist", "cifar10")


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
  convolab train --data-dir ../shared/data/mnist-t10k --train-split test
  convolab train --model seed-transpose --noise 0.3 # denoising
  convolab train --dataset fashion-mnist --amp bf16 # bfloat16 autocast (AMX CPUs, GPUs)
  convolab train --resume runs/fashion --epochs 10   # continue (exactly) where it stopped

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


@click.command("train", help=TRAIN_HELP)
@click.option("--model", default="seed-upsampling", show_default=True, help="Zoo name or spec file.")
@click.option("--dataset", default="mnist", show_default=True, help="mnist, fashion-mnist, kmnist, ...")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding the dataset's files.")
@click.option(
    "--train-split",
    type=click.Choice(TRAIN_SPLITS),
    default="train",
    show_default=True,
    help="Split to carve train/validation from; 'test' when only the test split exists (the held-out "
    "validation part is then the evaluation set).",
)
@click.option("--val-fraction", type=float, default=0.1, show_default=True)
@click.option("--limit", type=int, default=None, help="Use only the first N images of each split.")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--loss", type=click.Choice(LOSSES), default="bce", show_default=True)
@click.option("--noise", type=float, default=0.0, show_default=True, help="Denoising: input noise std.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--amp",
    type=click.Choice(AMP_MODES),
    default="none",
    show_default=True,
    help="bf16: mixed precision (bfloat16 forward passes, float32 weights and loss); faster on CPUs with "
    "AVX-512 bf16/AMX and on GPUs, refused where bf16 is not native. Changes results slightly.",
)
@click.option("--out", type=click.Path(), default=None, help="Run folder [runs/MODEL-DATASET-TIME].")
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder at --out.")
@click.option("--resume", type=click.Path(), default=None, help="Continue the run in this folder.")
@click.option(
    "--checkpoint-every", type=int, default=100, show_default=True, help="Save `last` every N steps."
)
@click.option("--checkpoint-seconds", type=float, default=60.0, show_default=True, help="... or every S s.")
@click.option("--log-every", type=int, default=20, show_default=True, help="Log the loss every N steps.")
@click.option(
    "--stream",
    type=click.Choice(STREAM_MODES),
    default="auto",
    show_default=True,
    help="Read a folder: dataset from disk batch by batch (auto: when it exceeds --memory-budget).",
)
@click.option(
    "--memory-budget", type=float, default=None, help="GiB --stream auto may hold [a quarter of RAM]."
)
@click.option(
    "--workers", type=int, default=2, show_default=True, help="Processes reading images when streaming."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or epoch lines.")
@click.option("--figures/--no-figures", default=True, show_default=True, help="Draw the figures at the end.")
@click.option(
    "--nproc", type=int, default=None, help="Train in N processes on this machine (launches torchrun)."
)
@click.pass_context
def train_cmd(
    ctx: click.Context,
    resume: str | None,
    overwrite: bool,
    quiet: bool,
    figures: bool,
    nproc: int | None,
    **opts: Any,
) -> None:
    from convolab import distributed
    from convolab import train as tr
    from convolab.data import DatasetNotFoundError

    if nproc is not None:
        _launch(ctx, nproc, opts, resume)
        return
    try:
        if resume is not None:
            fixed = _explicit(ctx, [k for k in opts if k not in RESUME_OVERRIDES])
            if fixed or overwrite:
                flags = ", ".join(
                    "--" + k.replace("_", "-") for k in fixed + (["overwrite"] if overwrite else [])
                )
                raise UserError(f"--resume continues the stored configuration; drop {flags}")
            overrides = {k: opts[k] for k in _explicit(ctx, list(RESUME_OVERRIDES))}
            trainer = tr.resume(resume, overrides=overrides, quiet=quiet, figures=figures)
        else:
            trainer = tr.start(TrainConfig(**opts), overwrite=overwrite, quiet=quiet, figures=figures)
        quiet = quiet or not distributed.is_main()  # one rank speaks
        if not quiet:
            click.echo(f"run folder: {trainer.run_dir}")
            if trainer.stream is not None:
                n, w, ranks = (
                    len(trainer.stream.train),
                    trainer.config.workers,
                    distributed.current().world_size,
                )
                each = f", each of {ranks} processes its share" if ranks > 1 else ""
                readers = (
                    f"{w} DataLoader worker process{'es' if w != 1 else ''}" if w else "no worker processes"
                )
                click.echo(f"streaming {n} training images from disk ({readers}{each})")
        result = trainer.fit()
        del trainer  # its DDP module must go before the process group (a no-op outside torchrun)
        distributed.shutdown()  # all ranks leave together
    except DatasetNotFoundError as exc:
        raise UserError(_offline_hint(exc)) from None
    except tr.TrainingInterrupted as exc:
        raise Stopped(str(exc), exc.exit_code) from None
    except tr.NonFiniteLossError as exc:
        raise Stopped(str(exc), 1, prefix="error: ") from None
    except RuntimeError as exc:  # under torchrun: a peer died (gloo/NCCL error or collective timeout)
        if not distributed.current().enabled:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise Stopped(
            f"rank {distributed.current().rank}: lost contact with another process ({first}); the job "
            f"stops; continue from the last checkpoint with --resume {resume or opts.get('out') or 'RUN'}",
            1,
            prefix="error: ",
        ) from None
    if not quiet:
        _print_metrics(result.summary, title=f"{result.summary['model']} on {result.summary['eval_set']}")
        click.echo(f"saved {result.run_dir} (figures: reconstructions.png, curves.png, ...)")


def _launch(ctx: click.Context, nproc: int, opts: dict[str, Any], resume: str | None) -> None:
    """``--nproc N``: run this same command in N processes under torchrun; raise on a failure."""
    from convolab import distributed

    if distributed.env_ranks() is not None:
        raise UserError("--nproc starts torchrun itself; under torchrun leave it out")
    distributed.launch_command(nproc, [])  # checks nproc
    if resume is None:  # mistakes as one line here, not once per rank inside torchrun's report
        TrainConfig(**opts).validate()
        distributed.check_batch_size(opts["batch_size"], nproc)
    args: list[str] = []
    for name in _explicit(ctx, [k for k in ctx.params if k != "nproc"]):
        value, flag = ctx.params[name], "--" + name.replace("_", "-")
        if name == "figures":
            args.append("--figures" if value else "--no-figures")
        elif isinstance(value, bool):
            args += [flag] if value else []
        else:
            args += [flag, str(value)]
    rc = distributed.launch(nproc, args)
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
def evaluate_cmd(
    run: str, dataset: str | None, data_dir: str | None, checkpoint: str, device: str, as_json: bool
) -> None:
    """Metrics of a trained run (BCE, MSE, PSNR, SSIM) against the mean-image baseline.

    \b
    Example:
      convolab evaluate runs/fashion
      convolab evaluate runs/fashion --dataset mnist --data-dir ../shared/data/mnist-t10k --json
    """
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
@click.option("--images", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Image files.")
@click.option("--dataset", default=None, help="Take the first --n test images of this dataset.")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding --dataset's files.")
@click.option("--n", type=int, default=10, show_default=True)
@click.option("-o", "--out", type=click.Path(), required=True, help="Figure to write (.png, .pdf, .svg).")
@click.option("--device", default="auto", show_default=True)
def reconstruct_cmd(
    run: str,
    images: tuple[str, ...],
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
def compare_cmd(runs: tuple[str, ...], out: str | None, n: int, device: str, as_json: bool) -> None:
    """Compare trained runs on the same images: parameters, MACs, metrics, time per epoch.

    \b
    Example:
      convolab compare runs/up runs/transpose runs/unpool -o compare.png
    """
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
def figures_cmd(run: str, checkpoint: str) -> None:
    """(Re)draw every figure of a run into its folder.

    \b
    Example:
      convolab figures runs/fashion
    """
    from convolab.report import make_figures

    for name, path in make_figures(run, which=checkpoint).items():
        click.echo(f"{name}: {path}")


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    for cmd in (train_cmd, evaluate_cmd, reconstruct_cmd, compare_cmd, figures_cmd):
        cli.add_command(cmd)
