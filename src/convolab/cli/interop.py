"""CLI commands: ``convolab import-keras`` (Keras file -> convolab run) and ``convolab export``."""

from __future__ import annotations

from pathlib import Path

import click

from convolab.cli import UserError
from convolab.cli.common import threads_option


@click.command("import-keras")
@click.argument("keras_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--spec",
    "spec",
    metavar="SPEC",
    help="convolab spec (YAML/JSON file or zoo name) for the architecture; needed for .weights.h5 files.",
)
@click.option(
    "-o", "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder."
)
@click.option("--dataset", default="mnist", show_default=True, help="Dataset `convolab evaluate` uses.")
@click.option("--name", default=None, help="Model name (default: the Keras model's name).")
@threads_option
def import_keras_cmd(keras_file: Path, spec: str | None, out: Path, dataset: str, name: str | None) -> None:
    """Import a Keras model into a convolab run, without TensorFlow.

    KERAS_FILE is a Keras 3 `.keras` file, a legacy `.h5` model, or a `.weights.h5` file (with --spec).
    Kernel layouts and the Flatten order are converted, so the run computes what the Keras model
    computes (checked to 1e-5 against TensorFlow). The run works with `convolab evaluate` and
    `convolab reconstruct`; its spec is saved as RUN/spec.yaml for `convolab summary`.

    Supported layers: InputLayer, Dense, Conv2D, Conv2DTranspose, MaxPooling2D, AveragePooling2D,
    UpSampling2D, Flatten, Reshape, Activation, ReLU, LeakyReLU(0.2), Softmax; Dropout is left out.
    Nothing in the file is executed: a Lambda layer is refused, and so are damaged or hostile files.

    \b
    Examples:
      convolab import-keras autoencoder.keras -o runs/keras-ae
      convolab import-keras autoencoder.h5 -o runs/keras-ae --dataset fashion-mnist
      convolab import-keras ae.weights.h5 --spec seed-upsampling -o runs/keras-ae
      convolab evaluate runs/keras-ae
    """
    from convolab.data.registry import get_spec
    from convolab.keras_io import import_keras, write_run
    from convolab.keras_io.targets import check_import_target
    from convolab.model.spec import dump_spec

    check_import_target(out)  # before any work: never over a trained run or into a foreign folder
    if not dataset.startswith("folder:"):
        get_spec(dataset)  # unknown names: one line with the nearest names
    imported = import_keras(keras_file, spec, name=name)
    run = write_run(imported, out, dataset=dataset)
    dump_spec(imported.spec, run / "spec.yaml")
    n_params = sum(p.numel() for p in imported.model.parameters())
    layers = len(imported.spec["layers"])
    click.echo(
        f"imported {keras_file} ({imported.kind}, Keras {imported.keras_version or 'unknown'}): "
        f"{layers} layers, {n_params:,} parameters, input {tuple(imported.spec['input_shape'])}"
    )
    for note in imported.notes:
        click.echo(f"note: {note}")
    click.echo(f"saved {run} (checkpoints last/ and best/, spec.yaml)")


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True
)
@click.option(
    "-o", "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output file."
)
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--logits", is_flag=True, help="Export the last layer's pre-activation (no final sigmoid).")
@threads_option
def export_cmd(run: Path, fmt: str, out: Path, checkpoint: str, logits: bool) -> None:
    """Export a trained model (a run folder) to ONNX or TorchScript, and verify the copy.

    The exported model takes a batch of (C, H, W) images of any batch size (dynamic batch axis) and
    is checked right away: ONNX with onnxruntime, TorchScript by loading it back, each on two batch
    sizes against PyTorch (max abs difference <= 1e-5). ONNX needs `pip install 'convolab[onnx]'`.

    \b
    Examples:
      convolab export runs/fashion --format onnx -o fashion-ae.onnx
      convolab export runs/keras-ae --format torchscript -o ae.pt
    """
    from convolab.keras_io.export import export_model
    from convolab.keras_io.targets import check_export_target
    from convolab.train.checkpoint import load_checkpoint, resolve_checkpoint
    from convolab.train.run_model import checkpoint_model

    check_export_target(out)  # before any work: an existing folder, never a run's own files
    ckpt = load_checkpoint(resolve_checkpoint(run, checkpoint), with_optimizer=False)
    model = checkpoint_model(ckpt).eval()  # as load_run builds it, kept in torch's own layout
    try:
        report = export_model(model, out, fmt, logits=logits)
    except ImportError as exc:
        raise UserError(str(exc)) from None
    shape = ", ".join(str(v) for v in report.input_shape)
    click.echo(
        f"wrote {report.path} ({fmt}, input (batch, {shape}), dynamic batch); "
        f"checked with {report.checked_with} on batches of {' and '.join(map(str, report.batch_sizes))}: "
        f"max abs diff {report.max_abs_diff:.2e}"
    )


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(import_keras_cmd)
    cli.add_command(export_cmd)
