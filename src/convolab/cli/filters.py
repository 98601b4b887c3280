"""CLI commands: ``convolab filter`` (classic filters on an image) and ``convolab kernels``."""

from __future__ import annotations

from pathlib import Path

import click

from convolab.cli import UserError
from convolab.cli.common import threads_option

KERNEL_HELP = "Kernel name, repeatable (see `convolab kernels`); 'magnitude' is the Sobel gradient magnitude."


def _source_image(image: str | None, dataset: str | None, index: int, split: str, data_dir: str | None):
    """``(pixels in [0, 1] as (H, W) or (H, W, 3), label)`` from a file or a dataset sample."""
    import numpy as np

    from convolab.filters import load_image

    either = "give either an IMAGE file or --dataset NAME (not both)"
    if dataset is None:
        if image is None:
            raise UserError(either)
        return load_image(image), Path(image).name
    if image is not None:
        raise UserError(either)
    from convolab.cli.common import offline_hint
    from convolab.data import DatasetNotFoundError, load_dataset

    if index < 0:
        raise UserError(f"--index must be >= 0, got {index}")
    try:
        ds = load_dataset(dataset, split, data_dir=data_dir, limit=index + 1)
    except DatasetNotFoundError as exc:
        raise UserError(offline_hint(exc, split_flag="--split", data_dir=data_dir)) from None
    if index >= len(ds.images):
        raise UserError(f"--index {index} is out of range: {dataset} {split} has {len(ds.images)} images")
    sample = ds.images[index].numpy().astype(np.float32) / 255.0  # (C, H, W) uint8 -> [0, 1]
    pixels = sample[0] if sample.shape[0] == 1 else np.moveaxis(sample, 0, -1)  # (H, W) or (H, W, C)
    return pixels, f"{dataset} {split}[{index}]"


def _check_work(image: str, panels: int) -> None:
    """Refuse, from the header alone, an image whose filtering would need more than the memory limit."""
    from convolab.filters.images import image_info, work_bytes
    from convolab.limits import MAX_FILTER_BYTES, MAX_FILTER_PIXELS, LimitError, check_bytes

    w, h, c = image_info(image)
    if w * h > MAX_FILTER_PIXELS:
        raise LimitError(
            f"{image}: {w}x{h} = {w * h:,} pixels, over the limit of {MAX_FILTER_PIXELS:,}; "
            "downscale it first"
        )
    what = f"filtering {image} ({w}x{h}, {c} channel(s)) into {panels} panel(s)"
    check_bytes(what, work_bytes(w, h, c, panels), MAX_FILTER_BYTES, hint="downscale it or use fewer kernels")


def _check_output(output: str) -> None:
    from PIL import Image

    suffix = Path(output).suffix.lower()
    if suffix not in Image.registered_extensions() and suffix not in (".pdf", ".svg"):
        raise UserError(f"-o {output}: unknown image extension {suffix!r}; use .png or .jpg")
    parent = Path(output).parent
    if not parent.is_dir():
        raise UserError(f"-o {output}: the directory {parent} does not exist")


@click.command("filter")
@click.argument("image", required=False)
@click.option("-k", "--kernel", "kernels", multiple=True, metavar="NAME", help=KERNEL_HELP)
@click.option("--sigma", type=float, default=None, help="Sigma of gaussian/log (defaults 1 and 2).")
@click.option(
    "--size", type=int, default=None, help="Kernel size of box/gaussian/log (odd for the last two)."
)
@click.option(
    "--stride", type=int, default=1, show_default=True, help="Stride; 'same' gives ceil(H / s) pixels."
)
@click.option("--padding", default="same", show_default=True, help="'same' (TF split) or 'valid'.")
@click.option("--border", default="zeros", show_default=True, help="zeros, reflect or replicate.")
@click.option(
    "--lecture", is_flag=True, help="The lecture panel: blur, Sobel, |grad|, Laplacian, LoG, stride."
)
@click.option("--dataset", default=None, help="Take the image from a dataset (mnist, fashion-mnist, ...).")
@click.option("--index", type=int, default=0, show_default=True, help="Sample index with --dataset.")
@click.option("--split", default="test", show_default=True, help="train or test, with --dataset.")
@click.option("--data-dir", default=None, help="Folder holding the dataset files (see `convolab data`).")
@click.option("-o", "--output", required=True, help="Output file (.png, .jpg; .pdf/.svg for figures).")
@threads_option
def filter_cmd(
    image, kernels, sigma, size, stride, padding, border, lecture, dataset, index, split, data_dir, output
) -> None:
    """Filter an image with classic kernels, exactly as a fixed-weight Conv2D would.

    One kernel writes the filtered image itself, at its output size (stride and padding change it).
    Display rule: blurs are clipped to [0, 1]; signed responses (Sobel, Laplacian, LoG) are centred at
    mid-grey, 0.5 + 0.5 * r / max|r|; the gradient magnitude is r / max(r). Several kernels, or
    --lecture, write one figure: the original and each result, titled with the kernel and output size.

    \b
    Examples:
      convolab filter photo.jpg -k sobel_x -o sobel.png
      convolab filter photo.jpg -k gaussian --sigma 3 -k log --sigma 3 -o blur_log.png
      convolab filter photo.jpg -k sobel_x --stride 2 --padding valid --border reflect -o s2.png
      convolab filter photo.jpg --lecture -o panel.png
      convolab filter --dataset mnist --index 0 --lecture -o mnist_panel.png
    """
    _check_request(image, kernels, lecture, output)
    pixels, label = _source_image(image, dataset, index, split, data_dir)
    panels = _panels(pixels, label, kernels, lecture, sigma, size, stride, padding, border)
    if len(panels) == 1:
        from convolab.filters.images import save_image

        save_image(output, panels[0].image)
    else:
        from convolab.filters.figures import save_panels

        save_panels(output, panels)
    shapes = ", ".join(p.title.replace("\n", " ") for p in panels)
    click.echo(f"wrote {output}: {shapes}")


def _check_request(image: str | None, kernels: tuple[str, ...], lecture: bool, output: str) -> None:
    """Refuse, before any work, a request without kernels, unknown kernels, a bad -o, too big an image."""
    from convolab.filters.kernels import canonical_name
    from convolab.limits import MAX_FILTER_KERNELS, check_count

    if not lecture and not kernels:
        raise UserError("give at least one --kernel NAME (see `convolab kernels`) or --lecture")
    if lecture and kernels:
        raise UserError("--lecture draws its own kernels; drop --kernel")
    check_count("--kernel (kernels in one call)", len(kernels), MAX_FILTER_KERNELS)
    for name in kernels:
        if name != "magnitude":
            canonical_name(name)  # unknown names fail before any work, with the nearest names
    _check_output(output)
    if image is not None:
        _check_work(image, 10 if lecture else len(kernels) + (len(kernels) > 1))


def _panels(
    pixels, label: str, kernels: tuple[str, ...], lecture: bool, sigma, size, stride, padding, border
):
    """The panels to write: one per kernel (after the original when there are several), or the lecture's."""
    import numpy as np

    from convolab.filters.figures import Panel, kernel_panel, lecture_panels, size_label

    if lecture:
        if stride != 1 or padding != "same":
            raise UserError("--lecture shows stride 2 and 'valid' itself; drop --stride/--padding")
        return lecture_panels(pixels, sigma=sigma, size=size, border=border)
    opts = {"stride": stride, "padding": padding, "border": border}
    panels = [kernel_panel(pixels, name, sigma=sigma, size=size, **opts) for name in kernels]
    if len(panels) > 1:
        panels.insert(0, Panel(f"original ({label})\n{size_label(pixels)}", np.clip(pixels, 0.0, 1.0)))
    return panels


def _matrix_text(k) -> str:
    """Rows of a kernel (a NumPy array), compact: integers as ints, others to 4 decimals."""
    import numpy as np

    if np.allclose(k, np.round(k)):
        return "\n".join(" ".join(f"{int(v):>3d}" for v in row) for row in np.round(k).astype(int))
    return "\n".join(" ".join(f"{v:6.3f}" for v in row) for row in k)


@click.command("kernels")
@click.option("--sigma", type=float, default=None, help="Sigma for gaussian/log (defaults 1 and 2).")
@click.option("--size", type=int, default=None, help="Size for box/gaussian/log.")
def kernels_cmd(sigma: float | None, size: int | None) -> None:
    """List the filter kernels with their matrices (cross-correlation: applied as written, not flipped).

    Kernels over 7x7 are not printed; pass --size to see one in full.

    \b
    Examples:
      convolab kernels
      convolab kernels --sigma 0.8 --size 5
    """
    from rich.console import Console
    from rich.table import Table

    from convolab.filters.kernels import KERNELS

    table = Table(title="convolab kernels (cross-correlation; sobel_x > 0 where brighter to the right)")
    for col in ("name", "size", "sum", "values", "what"):
        table.add_column(col)
    for name, spec in KERNELS.items():
        k = spec.build(sigma, size)
        values = _matrix_text(k) if max(k.shape) <= 7 else "(use --size 7 or less to print it)"
        table.add_row(name, f"{k.shape[0]}x{k.shape[1]}", f"{k.sum():.4g}", values, spec.summary)
    console = Console()
    (console if console.is_terminal else Console(width=140)).print(table)


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(filter_cmd)
    cli.add_command(kernels_cmd)
