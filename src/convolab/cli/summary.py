"""CLI commands: ``convolab summary`` (static analysis of a model) and ``convolab layers``."""

from __future__ import annotations

import inspect
import json

import click

from convolab.cli import UserError


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,28,28" -> (1, 28, 28)``; anything else is a ``UserError`` with one clear line."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UserError(f"--input must be positive integers separated by commas, like 1,28,28; got {text!r}")
    return tuple(int(p) for p in parts)


def _console():
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=140)  # pipes and tests: no wrapping


@click.command("summary")
@click.argument("spec_or_name")
@click.option(
    "--input", "input_shape", metavar="C,H,W", help="Input shape (no batch axis), overrides the spec's."
)
@click.option(
    "--batch", default="1", metavar="N", show_default=True, help="Batch size for the activation memory."
)
@click.option("--channels-last", is_flag=True, help="Show shapes as Keras does: (H, W, C).")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON instead of a table.")
def summary_cmd(
    spec_or_name: str, input_shape: str | None, batch: str, channels_last: bool, as_json: bool
) -> None:
    """Explain a model without running it: shapes, parameters, MACs, memory, receptive fields.

    SPEC_OR_NAME is a zoo model (seed-upsampling, seed-transpose, chollet, unpool, bed-of-nails,
    strided-transpose, dense) or a YAML/JSON spec file. --input is always C,H,W.
    Nothing is allocated: a batch of full-HD images is analysed instantly.

    \b
    Columns:
      Param #            parameters, as Keras's model.summary() counts them
      MACs               multiply-accumulates per sample (FLOPs = 2 x MACs)
      Activation memory  the layer's float32 output for the whole batch
      RF                 receptive field in input pixels: the largest field, the
                         centre pixel's field, and the jump (input pixels between
                         neighbouring outputs; fractional after upsampling)

    \b
    Examples:
      convolab summary seed-upsampling
      convolab summary seed-transpose --channels-last
      convolab summary my_model.yaml --input 3,64,64 --batch 32 --json
    """
    from convolab.analysis.summary import analyze, render_table

    shape = parse_shape(input_shape) if input_shape is not None else None
    if not batch.strip().isdigit() or int(batch) < 1:
        raise UserError(f"--batch must be a positive integer, got {batch!r}")
    from convolab.limits import MAX_BATCH_SIZE, check_count

    check_count("--batch", int(batch), MAX_BATCH_SIZE)
    analysis = analyze(spec_or_name, shape, batch=int(batch))
    if as_json:
        click.echo(json.dumps(analysis.to_dict(), indent=2))
    else:
        _console().print(render_table(analysis, channels_last=channels_last))


def _layer_classes() -> list[tuple[str, type, list[str]]]:
    """``(class name, class, aliases)`` for every registered layer type, in registration order."""
    from convolab.layers import LAYER_REGISTRY

    seen: dict[type, list[str]] = {}
    for key, cls in LAYER_REGISTRY.items():
        seen.setdefault(cls, [])
        if key != cls.__name__:
            seen[cls].append(key)
    return [(cls.__name__, cls, aliases) for cls, aliases in seen.items()]


def _arguments(cls: type) -> str:
    out = []
    for p in inspect.signature(cls).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out.append(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}")
    return ", ".join(out)


@click.command("layers")
@click.argument("layer_type", required=False)
def layers_cmd(layer_type: str | None) -> None:
    """List the layer types a spec can use, with their arguments and defaults.

    Give a LAYER_TYPE to read its full documentation.

    \b
    Examples:
      convolab layers
      convolab layers Conv2DTranspose
    """
    from convolab.layers import get_layer_class

    if layer_type is not None:
        cls = get_layer_class(layer_type)  # unknown names: ValueError with the nearest names
        click.echo(f"{cls.__name__}({_arguments(cls)})\n")
        click.echo(inspect.cleandoc(cls.__doc__ or ""))
        return
    from rich.table import Table

    table = Table(title="Layer types (spec 'type'; arguments with defaults)", title_justify="left")
    table.add_column("Type")
    table.add_column("Arguments")
    table.add_column("What it does")
    for name, cls, aliases in _layer_classes():
        label = name + (f"\n(alias {', '.join(aliases)})" if aliases else "")
        doc = inspect.cleandoc(cls.__doc__ or "").split("\n")[0]
        table.add_row(label, _arguments(cls), doc)
    _console().print(table)


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(summary_cmd)
    cli.add_command(layers_cmd)
