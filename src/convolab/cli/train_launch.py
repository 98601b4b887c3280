"""``convolab train --nproc N``: the same command in N processes under torchrun, its mistakes said once
in the launcher (not once per rank), its failures as one line with the command that resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from convolab.cli import UserError
from convolab.cli.train_options import Stopped, config_error, explicit, flag, fresh_config
from convolab.train.config import ConfigError, TrainConfig


def precheck(config: TrainConfig, nproc: int) -> None:
    """Mistakes as one line before torchrun starts (not once per rank inside torchrun's report)."""
    from convolab.train.context import check_batch_size
    from convolab.train.run_model import build_seeded_model
    from convolab.train.session import check_amp

    config.validate()
    check_amp(config)
    check_batch_size(config.batch_size, nproc)
    build_seeded_model(config.model, config.seed)  # an unknown or invalid model


def launch_ranks(
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
            precheck(fresh_config(ctx, config_file, opts), nproc)
        except ConfigError as exc:
            raise config_error(exc) from None
    args: list[str] = []
    for name in explicit(ctx, [k for k in ctx.params if k != "nproc"]):
        value, option = ctx.params[name], flag(name)
        if name in ("figures", "tensorboard"):
            args.append(f"--{name}" if value else f"--no-{name}")
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
