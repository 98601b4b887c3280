"""The options of ``convolab train``: one click option per ``TrainConfig`` field (its default and help
taken from the field, each written once), the command's help, and how a config is laid together from
the defaults, a ``--config`` file and the flags given. Imports click and ``train.config`` only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click
from click.core import ParameterSource

from convolab.cli import UserError
from convolab.train.config import ConfigError, TrainConfig

CLI_ONLY = ("resume", "overwrite", "quiet", "figures", "tensorboard", "nproc", "config", "threads")


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


def explicit(ctx: click.Context, names: list[str]) -> list[str]:
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

Writes into the run folder: config.json, log.jsonl, metrics.csv, checkpoints last/ and best/,
summary.json, the figures (reconstructions.png, curves.png, feature_maps.png, kernels.png, latent_pca.png,
denoising.png) and, with the tensorboard package installed, tensorboard/ (`tensorboard --logdir RUN`).
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
        func = click.option(
            flag(f.name),
            f.name,
            type=_click_type(f),
            default=f.default,
            show_default=f.default is not None,
            help=f.metadata["help"],
        )(func)
    return func


def config_error(exc: ConfigError) -> UserError:
    """A config mistake in the CLI's words (``batch_size`` -> ``--batch-size``)."""
    options = {f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli")}
    return UserError(exc.render(flag(exc.field) if exc.field in options else exc.field))


def fresh_config(ctx: click.Context, config_file: str | None, opts: dict[str, Any]) -> TrainConfig:
    """Defaults, then the --config file's fields, then the flags given on the command line."""
    values = TrainConfig.from_file(config_file) if config_file else {}
    values.update({k: opts[k] for k in explicit(ctx, list(opts))} if config_file else opts)
    return TrainConfig.from_dict(values)
