"""CLI commands: ``convolab data list|fetch|verify|show`` (thin wrappers over convolab.data)."""

from __future__ import annotations

import click

from convolab.cli.common import Folder

DATA_DIR_HELP = (
    "Folder holding the dataset (the files themselves, or DIR/NAME/); the only place looked in. "
    "Default: CONVOLAB_DATA, cache."
)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def _check_name(name: str) -> None:
    from convolab.data.registry import get_spec

    get_spec(name)  # ValueError with the nearest names -> "error: ..." exit 2


@click.group("data")
def data_group() -> None:
    """Datasets: list what is on this machine, fetch, verify, look at samples.

    Places searched, in order: --data-dir, $CONVOLAB_DATA/NAME, ~/.cache/convolab/NAME,
    /usr/share/datasets/NAME (Debian: apt-get install dataset-fashion-mnist), then download.

    \b
    Examples:
      convolab data list
      convolab data verify fashion-mnist --data-dir ~/datasets/fashion-t10k
      convolab data show fashion-mnist --split test -o fashion.png
    """


@data_group.command("list")
@click.option("--data-dir", type=Folder(exists=True), help=DATA_DIR_HELP)
@click.option("--no-verify", is_flag=True, help="Skip the checksums (faster).")
def list_cmd(data_dir: str | None, no_verify: bool) -> None:
    """Show every dataset: where it was found (or that it is missing), size, checksum state.

    \b
    Example:
      convolab data list --data-dir ~/datasets/fashion-t10k
    """
    from rich.console import Console
    from rich.table import Table

    from convolab.data.registry import DATASETS
    from convolab.data.status import all_status

    table = Table(title="convolab datasets")
    for col in ("dataset", "status", "found in", "splits", "size", "checksums"):
        table.add_column(col)
    for st in all_status(data_dir, verify=not no_verify):
        if st.folder is None:
            table.add_row(st.name, "missing", "-", "-", "-", f"fetch: convolab data fetch {st.name}")
            continue
        how = sorted({v.how for v in st.files if v.how}) or [v.state for v in st.files[:1]]
        splits = "+".join(st.splits)
        complete = len(st.splits) == len(DATASETS[st.name].splits)
        status = st.state if complete else f"{st.state} (partial)"
        table.add_row(st.name, status, f"{st.folder} ({st.where})", splits, _size(st.size), ", ".join(how))
    Console(width=160).print(table)


@data_group.command("fetch")
@click.argument("name")
@click.option("--data-dir", type=Folder(), help="Download here instead of the cache.")
@click.option(
    "--timeout",
    type=click.FloatRange(0, 3600, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds without data.",
)
@click.option(
    "--retries", type=click.IntRange(0, 100), default=2, show_default=True, help="Extra tries per mirror."
)
def fetch_cmd(name: str, data_dir: str | None, timeout: float, retries: int) -> None:
    """Download NAME from its official mirrors, verified by SHA-256, into the cache (or --data-dir).

    Nothing unverified is ever kept: each file goes to a temporary file and is renamed into place
    only when its checksum matches.

    \b
    Example:
      convolab data fetch mnist
      convolab data fetch kmnist --data-dir ~/data/kmnist
    """
    from convolab.data.loading import fetch

    if timeout != timeout:  # NaN passes FloatRange's comparisons
        raise click.BadParameter(f"{timeout} is not a number of seconds", param_hint="'--timeout'")
    _check_name(name)
    folder = fetch(name, data_dir=data_dir, timeout=timeout, retries=retries)
    click.echo(f"{name}: verified files in {folder}")


@data_group.command("verify")
@click.argument("name")
@click.option("--data-dir", type=Folder(exists=True), help=DATA_DIR_HELP)
def verify_cmd(name: str, data_dir: str | None) -> None:
    """Check the files of NAME against the published checksums (exit 2 on a mismatch or if missing).

    \b
    Example:
      convolab data verify fashion-mnist
    """
    from rich.console import Console
    from rich.table import Table

    from convolab.cli import UserError
    from convolab.data.status import dataset_status

    _check_name(name)
    st = dataset_status(name, data_dir)
    if st.folder is None:
        raise UserError(f"{name} not found; run `convolab data fetch {name}` or pass --data-dir")
    table = Table(title=f"{name} in {st.folder} ({st.where})")
    for col in ("file", "size", "state", "how"):
        table.add_column(col)
    for v in st.files:
        table.add_row(v.path.name, _size(v.path.stat().st_size), v.state, v.how or v.detail)
    Console(width=160).print(table)
    if st.state == "MISMATCH":
        raise UserError(f"{name}: some files in {st.folder} are not the published ones (see table)")
    click.echo(f"{name}: {st.state} ({'+'.join(st.splits)})")


@data_group.command("show")
@click.argument("name")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True)
@click.option("--n", "n", type=click.IntRange(min=1), default=20, show_default=True, help="Samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Which samples.")
@click.option("--data-dir", type=Folder(), help=DATA_DIR_HELP)
@click.option("--image-size", type=click.IntRange(min=1), help="Resize to this square size.")
@click.option("--no-download", is_flag=True, help="Never download; fail if not on disk.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="grid.png", show_default=True)
def show_cmd(name, split, n, seed, data_dir, image_size, no_download, output) -> None:
    """Save a labelled grid of N samples of NAME (class names as titles) to an image.

    NAME may be folder:PATH for a folder of PNG/JPEG images (class subfolders give labels).

    \b
    Example:
      convolab data show fashion-mnist --split test --data-dir ~/datasets/fashion-t10k -o fashion.png
      convolab data show folder:./my_images --image-size 64 -o mine.png
    """
    from convolab.cli import UserError
    from convolab.cli.common import offline_hint
    from convolab.limits import MAX_GRID_SAMPLES, check_count

    check_count("--n (samples in the grid)", n, MAX_GRID_SAMPLES)  # before loading anything
    from convolab.data import DatasetNotFoundError
    from convolab.data.loading import load_dataset
    from convolab.data.preview import save_sample_grid

    if not name.startswith("folder:"):
        _check_name(name)
    try:
        ds = load_dataset(name, split, data_dir=data_dir, download=not no_download, image_size=image_size)
    except DatasetNotFoundError as exc:
        raise UserError(
            offline_hint(
                exc, dataset_arg="`convolab data show {name}`", split_flag="--split", data_dir=data_dir
            )
        ) from None
    path = save_sample_grid(ds, output, n=n, seed=seed)
    click.echo(f"wrote {path} ({min(n, len(ds))} samples of {len(ds)} from {ds.source})")


def register(cli: click.Group) -> None:
    """Add the ``data`` command group to ``cli``."""
    cli.add_command(data_group)
