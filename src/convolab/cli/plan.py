"""CLI command: ``convolab plan`` (what runs for each layer when a model trains)."""

from __future__ import annotations

import json

import click


@click.command("plan")
@click.argument("spec_or_name")
@click.option("--no-native", is_flag=True, help="Leave convolab's C kernels out (PyTorch's ops only).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON instead of a table.")
def plan_cmd(spec_or_name: str, no_native: bool, as_json: bool) -> None:
    """Show what runs for each layer of a model in a training step on this CPU.

    SPEC_OR_NAME is a zoo model or a YAML/JSON spec file. `convolab train` does not run a model
    layer by layer: its fused plan rewrites some layer pairs into cheaper kernels that compute the
    same function (same parameters, same gradients up to float rounding), and some of those run as
    convolab's C kernels. This command builds the model, runs one small batch through the plan and
    lists, per entry, the layers it computes, the rewrite, and whether C kernels or PyTorch ran.

    \b
    Rewrites (docs/speed.md, "The fused plan"):
      pool-first     Conv2D(activation) -> MaxPool2D: pool, then activate
      sub-pixel      UpSampling2D(nearest) or BedOfNails2D -> Conv2D or
                     Conv2DTranspose(stride 1), and a strided Conv2DTranspose
                     alone: one low-resolution convolution and a pixel
                     shuffle; no upsampled tensor is made
      flipped conv   Conv2DTranspose(stride 1): one convolution with the
                     flipped kernel (no full output to crop)
      as itself      no rewrite applies: the layer's own PyTorch code

    \b
    Examples:
      convolab plan seed-upsampling
      convolab plan my_model.yaml --no-native --json
    """
    from convolab.engine.device import prepare
    from convolab.engine.explain import explain
    from convolab.model.sequential import Sequential

    model = prepare(Sequential.from_spec(spec_or_name), "cpu")
    rows = explain(model, native=not no_native)
    name = str(model.name or spec_or_name)
    if rows is None:  # no plan for this model: training runs it layer by layer
        click.echo(f"{name}: no fused plan; a training step runs the model layer by layer")
        return
    if as_json:
        data = [{"layers": list(r.layers), "rewrite": r.rewrite, "kernels": list(r.kernels)} for r in rows]
        click.echo(json.dumps(data, indent=2))
        return
    _print_table(name, rows)


def _print_table(name: str, rows) -> None:
    from rich.table import Table

    from convolab.cli.summary import _console
    from convolab.engine.native import status

    table = Table(title=f"{name}: what a training step runs", title_justify="left")
    for col in ("layers", "rewrite", "runs"):
        table.add_column(col)
    for r in rows:
        table.add_row(" + ".join(r.layers), r.rewrite or "as itself", r.runs)
    _console().print(table)
    click.echo(f"C kernels: {status()}")


def register(cli: click.Group) -> None:
    """Add ``plan`` to the ``convolab`` group."""
    cli.add_command(plan_cmd)
