"""The ``convolab`` command: thin wrappers over the library, one module per command group.

Each module in ``COMMAND_MODULES`` exposes ``register(cli)`` and adds its commands to the click group.
User mistakes (``ValueError``, missing files, ...) become one line on stderr and exit code 2; set
``CONVOLAB_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

COMMAND_MODULES = ("summary", "filters", "data", "train", "lab", "interop")


class UserError(click.ClickException):
    """A mistake the user can fix: printed as ``error: message``, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:  # one line, no usage block
        click.echo(f"error: {self.format_message()}", err=True)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="convolab")
def cli() -> None:
    """Understand, build and train the layers behind convolutional autoencoders.

    Keras-exact layers on PyTorch, static analysis (shapes, parameters, MACs, receptive fields),
    classic filters, datasets, and the lecture's autoencoders trained end to end.
    Run `convolab COMMAND --help` for each command.
    """


for _mod in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_mod}").register(cli)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this directly)."""
    try:
        # with standalone_mode=False click returns the code of an `Exit(n)` instead of raising it
        rv = cli.main(args=argv, prog_name="convolab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:  # usage errors (exit 2) and UserError
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except (ValueError, TypeError, OSError) as exc:
        if os.environ.get("CONVOLAB_DEBUG"):
            raise
        msg = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
            msg = f"{msg}: {exc.filename}"
        click.echo(f"error: {msg}", err=True)
        return 2
    return rv if isinstance(rv, int) else 0


def run() -> None:  # pragma: no cover - console script
    sys.exit(main())
