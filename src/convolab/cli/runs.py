"""CLI commands on trained runs: evaluate, reconstruct, compare, figures (thin wrappers over
convolab.train.report).

Importing this module imports click only (no torch, no matplotlib, no rich): ``convolab evaluate --help``
answers at once; each command imports the library inside its function.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from convolab.cli import UserError
from convolab.cli.common import offline_hint, threads_option


def console():
    """A rich console; off a terminal (pipes, logs, tests) wide enough that tables print whole."""
    from rich.console import Console

    out = Console(highlight=False)
    # Off a terminal rich would wrap tables at 80 columns: print them whole.
    return out if out.is_terminal else Console(highlight=False, width=160)


def print_metrics(report: dict[str, Any], title: str) -> None:
    from rich.table import Table

    table = Table()
    for col in ("", "BCE", "MSE", "PSNR (dB)", "SSIM"):
        table.add_column(col, justify="right")
    for label, m in (("model", report["metrics"]), ("mean image", report["baseline"])):
        table.add_row(label, f"{m['bce']:.4f}", f"{m['mse']:.4f}", f"{m['psnr']:.2f}", f"{m['ssim']:.3f}")
    out = console()
    out.print(title)
    out.print(table)


@click.command("evaluate")
@click.argument("run", type=click.Path())
@click.option("--dataset", default=None, help="Evaluate on this dataset's test split instead.")
@click.option("--data-dir", type=click.Path(), default=None, help="Folder holding --dataset's files.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@threads_option
def evaluate_cmd(
    run: str,
    dataset: str | None,
    data_dir: str | None,
    checkpoint: str,
    device: str,
    as_json: bool,
) -> None:
    """Metrics of a trained run (BCE, MSE, PSNR, SSIM) against the mean-image baseline.

    \b
    Example:
      convolab evaluate runs/fashion
      convolab evaluate runs/fashion --dataset mnist --data-dir ~/data/mnist --json
    """
    from convolab.data import DatasetNotFoundError
    from convolab.train.report import evaluate_run

    try:
        report = evaluate_run(run, dataset=dataset, data_dir=data_dir, which=checkpoint, device=device)
    except DatasetNotFoundError as exc:
        raise UserError(offline_hint(exc, data_dir=data_dir)) from None
    if as_json:
        click.echo(json.dumps(report, indent=1))
    else:
        print_metrics(report, title=f"{report['run']} on {report['eval_set']} ({report['n']} images)")


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
@threads_option
def reconstruct_cmd(
    run: str,
    more_images: tuple[str, ...],
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
    if more_images and not images:
        raise UserError(f"unexpected argument {more_images[0]}: give image files after --images")
    images = images + more_images
    from convolab.data import DatasetNotFoundError
    from convolab.train.report import reconstruct

    try:
        path = reconstruct(
            run, out, images=list(images) or None, dataset=dataset, data_dir=data_dir, n=n, device=device
        )
    except DatasetNotFoundError as exc:
        raise UserError(offline_hint(exc, data_dir=data_dir)) from None
    click.echo(f"wrote {path}")


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o", "--out", type=click.Path(), default=None, help="Figure: one row of reconstructions per run."
)
@click.option("--n", type=int, default=8, show_default=True, help="Images per row in the figure.")
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@threads_option
def compare_cmd(runs: tuple[str, ...], out: str | None, n: int, device: str, as_json: bool) -> None:
    """Compare trained runs on the same images: parameters, MACs, metrics, time per epoch.

    \b
    Example:
      convolab compare runs/up runs/transpose runs/unpool -o compare.png
    """
    from rich.table import Table

    from convolab.train.report import compare_runs

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
    console().print(table)
    if out:
        click.echo(f"wrote {out}")


@click.command("figures")
@click.argument("run", type=click.Path())
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@threads_option
def figures_cmd(run: str, checkpoint: str) -> None:
    """(Re)draw every figure of a run into its folder.

    \b
    Example:
      convolab figures runs/fashion
    """
    from convolab.train.report import make_figures

    for name, path in make_figures(run, which=checkpoint).items():
        click.echo(f"{name}: {path}")


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    for cmd in (evaluate_cmd, reconstruct_cmd, compare_cmd, figures_cmd):
        cli.add_command(cmd)
