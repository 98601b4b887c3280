"""Training progress: a rich bar with loss and images/s, and one line per epoch, on a terminal and in a
notebook.

- A terminal: the bar (rich's live display, gone at the end) and a full line per epoch.
- A Jupyter kernel (Jupyter, JupyterLab, VS Code, Colab; ``display.in_kernel``): one output of the cell,
  updated in place (``display_data``, then ``update_display_data`` at most every ``refresh_seconds``),
  holding a short line per finished epoch (under 80 columns: a notebook is narrow) and the same rich bar,
  drawn at 80 columns as HTML and text; at the end the bar goes and the lines stay. Nothing is printed.
- Elsewhere (CI logs, pipes): only the full epoch lines, so logs stay readable.

``quiet`` shows nothing anywhere.
"""

from __future__ import annotations

import io
import sys
import time
from types import TracebackType
from typing import Any, Protocol

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

from convolab import display

NOTEBOOK_COLUMNS = 80
NOTEBOOK_PRE = (
    '<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
    "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace\">{code}</pre>"
)


class Output(Protocol):
    """Where the notebook view goes: ``display.LiveOutput`` (a test passes a recorder)."""

    def show(self, bundle: dict[str, str]) -> None: ...


def make_bar(console: Console, *, bar_width: int | None = 40, transient: bool = True) -> Progress:
    """The bar, the same columns on a terminal and in a notebook."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=bar_width),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}  {task.fields[rate]} img/s"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        auto_refresh=console.is_terminal,
    )


def epoch_line(record: dict[str, Any], baseline: dict[str, float]) -> str:
    """The terminal's line for an epoch (what ``convolab train`` prints)."""
    v = record["val"]
    rate = record.get("images_per_second")
    return (
        f"epoch {record['epoch']}: loss {record['train_loss']:.4f}  val bce {v['bce']:.4f}  "
        f"mse {v['mse']:.4f}  psnr {v['psnr']:.2f} dB  ssim {v['ssim']:.3f}  "
        f"(baseline psnr {baseline['psnr']:.2f}, ssim {baseline['ssim']:.3f})  "
        f"{record['seconds']:.1f} s" + (f", {rate:,.0f} img/s" if rate else "")
    )


def short_epoch_line(record: dict[str, Any], total: int) -> str:
    """The notebook's line for an epoch: under 80 columns (the baseline has its own line, MSE and
    images/s are in ``run.history``)."""
    v = record["val"]
    return (
        f"epoch {record['epoch']}/{total}  loss {record['train_loss']:.4f}  val bce {v['bce']:.4f}  "
        f"psnr {v['psnr']:.2f} dB  ssim {v['ssim']:.3f}  {record['seconds']:.1f} s"
    )


class NotebookView:
    """The notebook's progress: the epoch lines so far and the bar, one output replaced at each show."""

    def __init__(self, output: Output, bar: Progress, refresh_seconds: float) -> None:
        self.output, self.bar, self.refresh_seconds = output, bar, refresh_seconds
        self.lines: list[str] = []
        self._shown_at = -float("inf")

    def show(self, *, with_bar: bool = True, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._shown_at < self.refresh_seconds:
            return
        self._shown_at = now
        console = Console(
            file=io.StringIO(),
            record=True,
            width=NOTEBOOK_COLUMNS,
            force_terminal=True,
            force_jupyter=False,
            color_system="truecolor",
        )
        parts: list[Any] = [Text(line) for line in self.lines]
        if with_bar:
            parts.append(self.bar.get_renderable())
        console.print(Group(*parts))
        html = console.export_html(inline_styles=True, code_format=NOTEBOOK_PRE, clear=False)
        self.output.show({"text/plain": console.export_text(), "text/html": html})


class TrainProgress:
    """Context manager: ``start_epoch``, ``update`` (every few steps), ``end_epoch`` (a line per epoch).

    ``console`` (a terminal or a file) or ``notebook`` (an ``Output``) choose the view; by default a
    Jupyter kernel gets the notebook view and anything else the console on stdout.
    """

    def __init__(
        self,
        steps_per_epoch: int,
        *,
        quiet: bool = False,
        console: Console | None = None,
        notebook: Output | None = None,
        refresh_seconds: float = 0.2,
    ) -> None:
        self.steps = steps_per_epoch
        self.quiet = quiet
        self.view: NotebookView | None = None
        if notebook is None and console is None and not quiet and display.in_kernel():
            notebook = display.LiveOutput()
        self.console = console or Console(file=sys.stdout)
        self.bar: Progress | None = None
        if not quiet and notebook is not None:
            bar = make_bar(Console(file=io.StringIO(), force_jupyter=False), bar_width=20)
            self.bar, self.view = bar, NotebookView(notebook, bar, refresh_seconds)
        elif not quiet and self.console.is_terminal:
            self.bar = make_bar(self.console)
        self.task: TaskID | None = None
        self.total = 0
        self._t0 = 0.0
        self._s0 = 0
        self.batch_images = 0
        self.loss = ""  # "loss 0.1234" once a loss is known (the previous epoch's at an epoch start)

    def __enter__(self) -> TrainProgress:
        if self.bar is not None and self.view is None:
            self.bar.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.view is not None:
            self.view.show(with_bar=False)  # the bar goes, the epoch lines stay
        elif self.bar is not None:
            self.bar.__exit__(exc_type, exc, tb)

    def start_epoch(self, epoch: int, total: int, done_steps: int = 0, batch_images: int = 0) -> None:
        self._t0, self._s0, self.batch_images = time.perf_counter(), done_steps, batch_images
        self.total = total
        if self.bar is None:
            return
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(
            f"epoch {epoch}/{total}", total=self.steps, completed=done_steps, loss=self.loss, rate="-"
        )
        if self.view is not None:
            self.view.show()

    def update(self, step: int, *, loss: float | None = None) -> None:
        if self.bar is None or self.task is None:
            return
        dt = time.perf_counter() - self._t0
        rate = f"{(step - self._s0) * self.batch_images / dt:,.0f}" if dt > 0 and self.batch_images else "-"
        fields: dict[str, Any] = {"rate": rate}
        if loss is not None:
            self.loss = fields["loss"] = f"loss {loss:.4f}"
        self.bar.update(self.task, completed=step, **fields)
        if self.view is not None:
            self.view.show(force=False)

    def end_epoch(self, record: dict[str, Any], baseline: dict[str, float]) -> None:
        if self.quiet:
            return
        if self.view is not None:
            if not self.view.lines:
                self.view.lines.append(
                    f"baseline (the mean image): psnr {baseline['psnr']:.2f} dB  ssim {baseline['ssim']:.3f}"
                )
            self.view.lines.append(short_epoch_line(record, self.total or record["epoch"]))
            self.view.show()
            return
        self.console.print(epoch_line(record, baseline), highlight=False, soft_wrap=True)
