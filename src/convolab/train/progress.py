"""Training progress on the terminal: a rich bar with loss and images/s, and one line per epoch.

The bar is shown only on a terminal (and never with ``quiet``); elsewhere (CI logs, pipes) only the
epoch lines are printed, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class TrainProgress:
    """Context manager: ``start_epoch``, ``update`` (every few steps), ``end_epoch`` (prints a line)."""

    def __init__(self, steps_per_epoch: int, *, quiet: bool = False, console: Console | None = None) -> None:
        self.steps = steps_per_epoch
        self.quiet = quiet
        self.console = console or Console(file=sys.stdout)
        self.bar: Progress | None = None
        if not quiet and self.console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[loss]}  {task.fields[rate]} img/s"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
        self.task: TaskID | None = None
        self._t0 = 0.0
        self._s0 = 0
        self.batch_images = 0
        self.loss = ""  # "loss 0.1234" once a loss is known (the previous epoch's at an epoch start)

    def __enter__(self) -> TrainProgress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.__exit__(exc_type, exc, tb)

    def start_epoch(self, epoch: int, total: int, done_steps: int = 0, batch_images: int = 0) -> None:
        self._t0, self._s0, self.batch_images = time.perf_counter(), done_steps, batch_images
        if self.bar is None:
            return
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(
            f"epoch {epoch}/{total}", total=self.steps, completed=done_steps, loss=self.loss, rate="-"
        )

    def update(self, step: int, *, loss: float | None = None) -> None:
        if self.bar is None or self.task is None:
            return
        dt = time.perf_counter() - self._t0
        rate = f"{(step - self._s0) * self.batch_images / dt:,.0f}" if dt > 0 and self.batch_images else "-"
        fields: dict[str, Any] = {"rate": rate}
        if loss is not None:
            self.loss = fields["loss"] = f"loss {loss:.4f}"
        self.bar.update(self.task, completed=step, **fields)

    def end_epoch(self, record: dict[str, Any], baseline: dict[str, float]) -> None:
        if self.quiet:
            return
        v = record["val"]
        rate = record.get("images_per_second")
        self.console.print(
            f"epoch {record['epoch']}: loss {record['train_loss']:.4f}  val bce {v['bce']:.4f}  "
            f"mse {v['mse']:.4f}  psnr {v['psnr']:.2f} dB  ssim {v['ssim']:.3f}  "
            f"(baseline psnr {baseline['psnr']:.2f}, ssim {baseline['ssim']:.3f})  "
            f"{record['seconds']:.1f} s" + (f", {rate:,.0f} img/s" if rate else ""),
            highlight=False,
            soft_wrap=True,
        )
