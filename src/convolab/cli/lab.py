"""CLI command ``convolab lab``: the local interactive page (needs the ``lab`` extra)."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path

import click

from convolab.cli.common import Folder


def _check_port(host: str, port: int) -> None:
    """Refuse early, in one line, when ``host:port`` cannot be bound (in use, or not an address here)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            from convolab.cli import UserError

            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is in use; choose another with --port") from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@click.command("lab")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="TCP port.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Only this machine can connect unless you choose another address.",
)
@click.option(
    "--runs",
    "runs_dir",
    type=Folder(path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Folder of training runs the Autoencoder panel may open (nothing outside it is read).",
)
@click.option(
    "--data-dir",
    "data_dirs",
    type=Folder(exists=True, path_type=Path),
    multiple=True,
    help="Folder to look in first for datasets (see `convolab data --help`); repeat for more. "
    "A run's own data folder is read only when it is one of these or a usual place.",
)
@click.option(
    "--threads",
    type=int,
    default=None,
    metavar="N",
    help="CPU threads of each worker process [default: OMP_NUM_THREADS if set, else the cores "
    "idle when the worker starts, so a busy machine is not oversubscribed].",
)
def lab_cmd(port: int, host: str, runs_dir: Path, data_dirs: tuple[Path, ...], threads: int | None) -> None:
    """Start the lab: a local page to see layers, filters, upsampling and autoencoders at work.

    \b
    Panels:
      Model designer   pick a zoo model or edit a spec; the summary table follows as you type;
                       hover an output pixel to see its exact receptive field on the input
      Activations      every layer's output for a sample, an upload or a drawing, before and
                       after its activation; a unit's field on the layer before and the input
      Filters          a classic kernel on a dataset image or your PNG/JPEG
      Upsampling       nearest, bed of nails, max unpooling and transposed conv side by side
      Conv arithmetic  one layer on a small grid, step by step, with every sum written out
                       (several input channels: a partial sum per channel)
      Autoencoder      draw and see a trained run redraw it, its score against the mean image,
                       test-set samples with their class names, training curves

    The page works offline (nothing is loaded from the internet). Only this page may use the
    server: other Host/Origin headers and non-JSON posts are refused; the work runs in worker
    processes with a time and memory limit. Stop it with Ctrl-C.

    \b
    Example:
      convolab train --dataset mnist --epochs 3 --out runs/demo
      convolab lab --runs runs/          # then open http://127.0.0.1:8765
      convolab lab --threads 1           # each worker on one thread (a busy machine)
    """
    _serve(port, host, runs_dir, data_dirs, threads)


def _serve(port: int, host: str, runs_dir: Path, data_dirs: tuple[Path, ...], threads: int | None) -> None:
    """Check the extra, ``--threads`` and the port, then serve the lab until Ctrl-C."""
    try:
        from convolab.lab.server import create_app, serve
    except ImportError as exc:
        from convolab.cli import UserError

        raise UserError(
            f"the lab needs its extra: pip install 'convolab[lab]' ({exc.name} is missing)"
        ) from None
    if threads is not None:
        from convolab.threads import check_threads

        try:
            check_threads(threads)
        except ValueError as exc:
            from convolab.cli import UserError

            raise UserError(f"--threads: {exc}") from None
    _check_port(host, port)
    app = create_app(runs_dir, data_dir=list(data_dirs), host=host, port=port)
    app.state.pool.config.threads = threads  # read by each worker when it starts (lab/worker.py)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"convolab lab: serving on http://{shown}:{port}/ (runs from {runs_dir}/; Ctrl-C stops)")
    sys.stdout.flush()  # the address must show now, also when stdout is a pipe
    serve(app, host, port)


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(lab_cmd)
