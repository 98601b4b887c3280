"""The summary table of an ``Analysis``: rich (terminal), HTML (Jupyter), in Keras's style.

``convolab summary`` prints ``render_table``; ``Sequential.summary()`` prints the same table in a
terminal and shows it as HTML in Jupyter (``to_html``). rich is imported only when a table is drawn.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any, Protocol

from convolab.display import in_kernel


class LayerRow(Protocol):
    """What the table reads of one layer (``convolab.analysis.summary.LayerInfo`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def output_shape(self) -> tuple[int, ...]: ...
    @property
    def params(self) -> int: ...
    @property
    def macs(self) -> int: ...
    @property
    def activation_bytes(self) -> int: ...
    @property
    def receptive_field(self) -> dict[str, dict[str, Any]] | None: ...


class Analysis(Protocol):
    """What the table reads of a model's analysis (``convolab.analysis.summary.Analysis`` has it): the
    table depends on this shape, not on the module that computes it."""

    @property
    def name(self) -> str: ...
    @property
    def batch(self) -> int: ...
    @property
    def input_shape(self) -> tuple[int, ...]: ...
    @property
    def layers(self) -> Sequence[LayerRow]: ...
    @property
    def total_params(self) -> int: ...
    @property
    def trainable_params(self) -> int: ...
    @property
    def non_trainable_params(self) -> int: ...
    @property
    def total_macs(self) -> int: ...
    @property
    def input_bytes(self) -> int: ...
    @property
    def activation_bytes(self) -> int: ...
    @property
    def param_bytes(self) -> int: ...


BYTES_PER_VALUE = 4  # float32


def format_bytes(n: int) -> str:
    """Keras's style: ``13476 -> '13.16 KB'`` (1 KB = 1024 bytes)."""
    size: float = n
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------------------------------
# The table (in the spirit of Keras's model.summary(), with the columns Keras does not show)


def _param_bytes(n: int) -> str:
    return format_bytes(n * BYTES_PER_VALUE)


def _shape_text(shape: tuple[int, ...], channels_last: bool) -> str:
    if channels_last and len(shape) == 3:
        shape = (shape[1], shape[2], shape[0])  # Keras's (H, W, C)
    return str(tuple(shape))


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}" if x != int(x) else str(int(x))


def _rf_text(rf: dict[str, dict[str, Any]] | None) -> str:
    """``max / centre / jump``, one value when H and W agree, else ``HxW`` pairs."""
    if rf is None:
        return "-"
    h, w = rf["h"], rf["w"]
    parts = []
    for key in ("max", "center", "jump"):
        a, b = _num(h[key]), _num(w[key])
        parts.append(a if a == b else f"{a}x{b}")
    return " / ".join(parts)


def _title(analysis: Analysis) -> str:
    return f"Model: {analysis.name}" + (f" (batch {analysis.batch})" if analysis.batch != 1 else "")


HEAD = ("Layer (type)", "Output shape", "Param #", "MACs", "Activation memory", "RF (max / centre / jump)")


def table_rows(
    analysis: Analysis, *, channels_last: bool = False
) -> tuple[tuple[str, ...], list[tuple[str, ...]], list[str]]:
    """``(column heads, rows, caption lines)`` of the table; the input is the first row."""
    spatial = len(analysis.input_shape) == 3
    rows: list[tuple[str, ...]] = [
        (
            "input (Input)",
            _shape_text(analysis.input_shape, channels_last),
            "0",
            "0",
            format_bytes(analysis.input_bytes),
            "1 / 1 / 1" if spatial else "-",
        )
    ]
    for li in analysis.layers:
        rows.append(
            (
                f"{li.name} ({li.type})",
                _shape_text(li.output_shape, channels_last),
                f"{li.params:,}",
                f"{li.macs:,}",
                format_bytes(li.activation_bytes),
                _rf_text(li.receptive_field),
            )
        )
    a = analysis
    caption = [
        f"Total params: {a.total_params:,} ({format_bytes(a.param_bytes)})",
        f"Trainable params: {a.trainable_params:,} ({_param_bytes(a.trainable_params)})",
        f"Non-trainable params: {a.non_trainable_params:,} ({_param_bytes(a.non_trainable_params)})",
        f"MACs per sample: {a.total_macs:,} (FLOPs = 2 x MACs)",
        f"Activation memory: {format_bytes(a.activation_bytes)} for batch {a.batch} "
        f"(+ input {format_bytes(a.input_bytes)}), float32",
    ]
    return HEAD, rows, caption


def render_table(analysis: Analysis, *, channels_last: bool = False) -> Any:
    """A ``rich.table.Table`` of the analysis: one row per layer, totals in the caption.

    Columns: Layer (type), Output shape (no batch axis; ``(H, W, C)`` with ``channels_last``), Param #,
    MACs (per sample), Activation memory (float32 output x batch), RF (max / centre / jump) in input
    pixels. The input is the first row.
    """
    from rich.table import Table

    head, rows, caption = table_rows(analysis, channels_last=channels_last)
    table = Table(title=_title(analysis), title_justify="left", caption_justify="left")
    for i, col in enumerate(head):
        table.add_column(col, justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*row)
    table.caption = "\n".join(caption)
    return table


def print_table(analysis: Analysis, *, channels_last: bool = False) -> None:
    """Print ``render_table(analysis)`` on stdout (wide, unwrapped when stdout is not a terminal)."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    console.print(render_table(analysis, channels_last=channels_last))


def to_text(analysis: Analysis, *, channels_last: bool = False) -> str:
    """``render_table(analysis)`` as plain text (no colours), as printed on a 140-column console."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=140, force_jupyter=False, color_system=None)
    console.print(render_table(analysis, channels_last=channels_last))
    return console.file.getvalue()  # type: ignore[attr-defined]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (``convolab.display.in_kernel``)."""
    return in_kernel()


def to_html(analysis: Analysis, *, channels_last: bool = False) -> str:
    """The table as an HTML ``<table>`` (same rows and caption as ``render_table``)."""
    head, rows, caption = table_rows(analysis, channels_last=channels_last)
    esc = html.escape
    out = [f"<table><caption style='text-align:left'><b>{esc(_title(analysis))}</b></caption>"]
    out.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>")
    for row in rows:
        cells = [f"<td>{esc(row[0])}</td>", f"<td>{esc(row[1])}</td>"]
        cells += [f"<td style='text-align:right'>{esc(c)}</td>" for c in row[2:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    out.append("<pre>" + esc("\n".join(caption)) + "</pre>")
    return "\n".join(out)
