"""The ``convolab`` command: thin wrappers over the library, one module per command group.

Each command module exposes ``register(cli)`` and adds its commands to the click group. The group is
lazy (:mod:`convolab.cli.lazy`): a module is imported only when one of its commands runs or shows
its help, so ``convolab --help`` and ``--version`` answer without importing torch.

User mistakes (``ValueError``, missing files, click usage errors, ...) become one line on stderr and
exit code 2; set ``CONVOLAB_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import os
import sys

import click

from convolab import __version__
from convolab.cli.lazy import LazyGroup

COMMAND_MODULES = ("summary", "plan", "filters", "data", "train", "runs", "lab", "interop")

# command -> (module, one-line help shown by `convolab --help`); tests check each against the command
COMMANDS: dict[str, tuple[str, str]] = {
    "summary": (
        "summary",
        "Explain a model without running it: shapes, parameters, MACs, memory, receptive fields.",
    ),
    "plan": ("plan", "Show what runs for each layer of a model in a training step on this CPU."),
    "layers": ("summary", "List the layer types a spec can use, with their arguments and defaults."),
    "filter": ("filters", "Filter an image with classic kernels, exactly as a fixed-weight Conv2D would."),
    "kernels": (
        "filters",
        "List the filter kernels with their matrices (cross-correlation: applied as written, not flipped).",
    ),
    "data": ("data", "Datasets: list what is on this machine, fetch, verify, look at samples."),
    "train": ("train", "Train an autoencoder; with no options, the lecture's first model on MNIST."),
    "evaluate": ("runs", "Metrics of a trained run (BCE, MSE, PSNR, SSIM) against the mean-image baseline."),
    "reconstruct": ("runs", "Draw originals over their reconstructions by a trained run."),
    "compare": (
        "runs",
        "Compare trained runs on the same images: parameters, MACs, metrics, time per epoch.",
    ),
    "figures": ("runs", "(Re)draw every figure of a run into its folder."),
    "lab": (
        "lab",
        "Start the lab: a local page to see layers, filters, upsampling and autoencoders at work.",
    ),
    "import-keras": ("interop", "Import a Keras model into a convolab run, without TensorFlow."),
    "export": (
        "interop",
        "Export a trained model (a run folder) to ONNX or TorchScript, and verify the copy.",
    ),
}


class UserError(click.ClickException):
    """A mistake the user can fix: printed as ``error: message``, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:  # one line, no usage block
        click.echo(f"error: {self.format_message()}", err=True)


@click.group(
    cls=LazyGroup,
    lazy={name: (f"{__name__}.{module}", text) for name, (module, text) in COMMANDS.items()},
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="convolab")
def cli() -> None:
    """Understand, build and train the layers behind convolutional autoencoders.

    Keras-exact layers on PyTorch, static analysis (shapes, parameters, MACs, receptive fields),
    classic filters, datasets, and the lecture's autoencoders trained end to end.
    Run `convolab COMMAND --help` for each command.
    """


def usage_line(exc: click.UsageError) -> str:
    """Click's usage block (usage, try-help, error) as one line: ``error: ... (see `CMD --help`)``."""
    path = exc.ctx.command_path if exc.ctx is not None else "convolab"
    return f"error: {exc.format_message()} (see `{path} --help`)"


def _one_line(exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
        msg = f"{msg}: {exc.filename}"
    if isinstance(exc, RecursionError):
        msg = "the input is nested too deeply to read (RecursionError)"
    return "error: " + " ".join(msg.split())  # always one line


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this directly)."""
    try:
        # with standalone_mode=False click returns the code of an `Exit(n)` instead of raising it
        rv = cli.main(args=argv, prog_name="convolab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:  # a group without a command: its help, exit 2
        exc.show()
        return exc.exit_code
    except click.UsageError as exc:
        click.echo(usage_line(exc), err=True)
        return exc.exit_code
    except click.ClickException as exc:  # UserError and other deliberate messages
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except (ValueError, TypeError, OSError, RecursionError) as exc:
        if os.environ.get("CONVOLAB_DEBUG"):
            raise
        click.echo(_one_line(exc), err=True)
        return 2
    return rv if isinstance(rv, int) else 0


def run() -> None:  # pragma: no cover - console script
    sys.exit(main())
