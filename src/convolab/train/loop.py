"""The training loop: one ``Trainer`` that reads top to bottom, whatever the data and the process count.

The Trainer is handed everything that varies, complete at construction: the model (built and checked
by ``convolab.train.run_model.ready_model``), a :class:`~convolab.train.sources.BatchSource` (the
data in memory or streamed from disk), a context (:class:`~convolab.train.context.LocalContext`, or a
:class:`~convolab.train.distributed.DistContext` under torchrun) and a run folder with its lock and
log. It trains, validates every epoch, saves checkpoints, and evaluates the best one; figures are the
caller's (``convolab.train.report.make_figures`` after :meth:`Trainer.fit`). Building one from a config
or a run folder is ``convolab.train.session`` (``start``, ``resume``, ``train``).

Determinism (why ``--resume`` is exact): nothing in the loop draws from the global RNG. The batch order
of epoch e is a permutation from its own generator seeded by (seed, e); denoising noise of step s of
epoch e comes from a generator seeded by (seed, e, s). A checkpoint stores the weights, Adam's state and
(epoch, step within epoch), so a resumed run replays the same batches with the same state: on CPU the
final weights are bitwise equal to an uninterrupted run (tests/test_train_resume.py).

Stops: SIGINT (Ctrl-C) and SIGTERM finish the current step, save ``last`` and raise
``TrainingInterrupted`` (the CLI exits 130 / 143, the shell convention 128 + signal). A NaN/Inf loss
raises ``NonFiniteLossError`` before anything non-finite is saved: losses are checked (one device sync)
every ``log_every`` steps and before every checkpoint, so the last checkpoint on disk is always good.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from convolab.engine.optimizer import make_adam
from convolab.engine.predict import eval_chunk, predict
from convolab.train.checkpoint import check_weights, restore_rng, rng_state
from convolab.train.config import ConfigError, TrainConfig
from convolab.train.context import LocalContext
from convolab.train.metrics import is_better
from convolab.train.progress import TrainProgress
from convolab.train.run_checkpoints import save_run_checkpoint
from convolab.train.run_model import model_info
from convolab.train.runfolder import (
    METRICS_CSV,
    SUMMARY_FILE,
    LogWriter,
    RunLock,
    write_json,
    write_metrics_csv,
)
from convolab.train.schedule import lr_at
from convolab.train.sources import BatchSource
from convolab.train.tblog import NullEvents, RunEvents, open_events

if TYPE_CHECKING:
    from convolab.model.sequential import Sequential

__all__ = ["NonFiniteLossError", "TrainResult", "Trainer", "TrainingInterrupted"]


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM stopped training after saving ``last``; ``exit_code`` is 128 + the signal."""

    def __init__(self, signum: int, checkpoint: Path) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(
            f"{name}: stopped and saved {checkpoint}; continue with --resume {checkpoint.parent}"
        )


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or Inf; the last checkpoint on disk predates it."""


@dataclass
class TrainResult:
    """What a finished run produced (also written to ``summary.json``)."""

    run_dir: Path
    history: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Holds the state of one run; ``fit()`` trains to ``config.epochs``. Build with ``start``/``resume``."""

    def __init__(
        self,
        config: TrainConfig,
        model: Sequential,
        source: BatchSource,
        ctx: LocalContext,
        *,
        run_dir: Path,
        log: LogWriter,
        lock: RunLock | None = None,
        tensorboard: bool | None = None,
        quiet: bool = False,
    ) -> None:
        """``model``: built, on the device and checked against the data (``run_model.ready_model``);
        ``log``: the run's log (``RunLog``, ``NullLog`` off rank 0, or a ``LazyLog`` of one: building a
        Trainer writes nothing); ``lock``: the run folder's (rank 0), released when :meth:`fit` ends;
        ``tensorboard``: TensorBoard events on, off, or None = when installed (``train/tblog.py``)."""
        self.config, self.model, self.source, self.ctx = config, model, source, ctx
        self.run_dir, self.log, self.lock, self.tensorboard = run_dir, log, lock, tensorboard
        self.device = ctx.device
        self.quiet = quiet or not ctx.is_main
        self.spec = model.to_spec().to_dict()
        self.optimizer = make_adam(model, config.lr)  # fused, Keras's betas and epsilon
        self.step_fn = ctx.train_step(model, self.optimizer, config.loss, config.amp_mode)
        self.n_train = source.n_train
        self.baseline: dict[str, float] | None = None
        self.epoch = 0  # completed epochs
        self.step = 0  # completed steps within the current epoch
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"metric": f"val_{config.loss}", "value": None, "epoch": None}
        self.epoch_loss = [0.0, 0]  # sum of step losses, steps (this epoch, checked finite)
        self.epoch_seconds = 0.0  # training time of this epoch so far (kept across resume)
        # Loss sum not yet checked for NaN (float64: exact, so a resumed run logs the same epoch losses).
        self._pending = torch.zeros((), dtype=torch.float64, device=self.device)
        self._pending_n = 0
        self.stop_signal: int | None = None
        self.events: NullEvents | RunEvents = NullEvents()  # opened by fit()
        self.last_save = time.monotonic()

    # -- state ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The JSON part of a checkpoint."""
        return {
            "spec": self.spec,
            "config": self.config.to_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "epoch_loss": list(self.epoch_loss),
            "epoch_seconds": self.epoch_seconds,
            "rng": rng_state(),
            "history": self.history,
            "best": self.best,
            "baseline": self.baseline,
        }

    def load_state(self, ckpt: Any) -> None:
        """Continue from a loaded checkpoint (weights, optimizer, counters, history)."""
        check_weights(self.model, ckpt.weights, ckpt.path)
        self.model.load_state_dict(ckpt.weights)
        if ckpt.optimizer is None:
            raise ValueError(f"checkpoint {ckpt.path} has no optimizer state; it cannot be resumed")
        self.optimizer.load_state_dict(ckpt.optimizer)
        st = ckpt.state
        self._check_horizon(ckpt.config.get("epochs"))
        self.epoch, self.step, self.global_step = int(st["epoch"]), int(st["step"]), int(st["global_step"])
        self.epoch_loss = [float(st["epoch_loss"][0]), int(st["epoch_loss"][1])]
        self.epoch_seconds = float(st["epoch_seconds"])
        self.history = list(st["history"])
        self.best = dict(st["best"])
        if st.get("baseline"):
            self.baseline = dict(st["baseline"])  # saves a pass over the data
        restore_rng(st["rng"])

    def _check_horizon(self, planned: Any) -> None:
        """A schedule's length is the epochs the run was started with: ``--resume`` keeps them."""
        if self.config.lr_schedule != "constant" and planned != self.config.epochs:
            raise ConfigError(
                "epochs",
                f"{{field}} cannot change on resume: the run's {self.config.lr_schedule} learning-rate "
                "schedule is planned over {planned} epochs (start a new run to train longer)",
                planned=planned,
            )

    def save(self, *which: str) -> Path:
        """Save the checkpoints ``which`` (``last``, or ``best`` and ``last`` together); rank 0 writes.

        Returns the path of ``last`` (the one to resume from)."""
        path = self.run_dir / "last"
        if self.ctx.is_main:
            path = save_run_checkpoint(
                self.run_dir, which, self.model, self.state(), self.optimizer.state_dict()
            )
        self.ctx.barrier()
        self.last_save = time.monotonic()
        return path

    # -- loss bookkeeping -----------------------------------------------------------------------------
    def check_losses(self) -> float | None:
        """Sync the pending losses; raise NonFiniteLossError on NaN/Inf. Returns their mean."""
        if self._pending_n == 0:
            return None
        total = float(self.ctx.all_reduce(self._pending.clone(), "mean"))
        n = self._pending_n
        if not math.isfinite(total):
            self.log.write("stop", reason="non-finite loss", epoch=self.epoch, step=self.step, loss=total)
            last = self.run_dir / "last"
            keep = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved"
            raise NonFiniteLossError(
                f"loss became {total} at epoch {self.epoch + 1}, step {self.step}; training stopped "
                f"({keep}); try a smaller learning rate"
            )
        self.epoch_loss[0] += total
        self.epoch_loss[1] += n
        self._pending.zero_()
        self._pending_n = 0
        return total / n

    # -- the loop -----------------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.config.batch_size)

    def lr_at(self, global_step: int) -> float:
        """The learning rate of global step ``global_step`` (0-based): ``convolab.train.schedule``."""
        cfg = self.config
        return lr_at(cfg.lr_schedule, cfg.lr, global_step, cfg.epochs * self.steps_per_epoch(), cfg.warmup)

    def run_epoch(self, progress: TrainProgress) -> None:
        """Train the remaining steps of epoch ``self.epoch``; stops early (saved) on a signal."""
        cfg = self.config
        tick = time.perf_counter()
        batches = self.source.batches(self.epoch, self.step, self.steps_per_epoch())
        scheduled = cfg.lr_schedule != "constant"  # constant: the optimizer's LR is never touched
        for step, (x, target, global_n) in enumerate(batches, start=self.step):
            if scheduled:  # a function of the global step: the same on every rank and after --resume
                lr = self.lr_at(self.global_step)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
            # global_n: images in the whole global batch (DDP scales by it)
            self._pending += self.step_fn(x, target, global_n=global_n)
            self._pending_n += 1
            self.step, self.global_step = step + 1, self.global_step + 1
            if self.global_step % cfg.log_every == 0:
                mean = self.check_losses()
                self.log.write(
                    "step", epoch=self.epoch + 1, step=self.step, global_step=self.global_step, loss=mean
                )
                progress.update(self.step, loss=mean)
                self.events.step(self.global_step, mean)
            else:
                progress.update(self.step)
            save, stop = self._save_now()
            if save:
                self.check_losses()
                self.epoch_seconds += time.perf_counter() - tick
                tick = time.perf_counter()
                path = self.save("last")
                if stop is not None:  # the agreed signal: a signal that came during the save waits
                    self.log.write("interrupt", signal=stop, epoch=self.epoch, step=self.step)
                    raise TrainingInterrupted(stop, path)
        self.check_losses()
        self.epoch_seconds += time.perf_counter() - tick

    def _save_now(self) -> tuple[bool, int | None]:
        """``(save now?, the signal to stop on after saving)``, as every rank agrees (the context decides
        how: under torchrun at log steps). The signal handler may set ``stop_signal`` at any moment, even
        during this call or the save that follows, and on one rank before another: the loop acts on the
        agreed value returned here, never on the attribute, so ranks always save and stop together."""
        cfg = self.config
        by_steps = cfg.checkpoint_every > 0 and self.global_step % cfg.checkpoint_every == 0
        by_time = cfg.checkpoint_seconds > 0 and time.monotonic() - self.last_save >= cfg.checkpoint_seconds
        seen = self.stop_signal  # read once: a signal arriving later waits for the next agreement
        signum, save = self.ctx.agree_save(
            seen, by_steps, by_steps or by_time, at_sync=self.global_step % cfg.log_every == 0
        )
        return save, signum

    def end_epoch(self) -> dict[str, Any]:
        """Validate, record the epoch, save ``last`` (and ``best`` with it when it improved)."""
        val = self.source.validate(self._predict)
        secs = self.epoch_seconds
        record = {
            "epoch": self.epoch + 1,
            "train_loss": self.epoch_loss[0] / max(self.epoch_loss[1], 1),
            "lr": self.lr_at(self.global_step - 1),  # the LR of the epoch's last step
            "val": val,
            "seconds": round(self.epoch_seconds, 3),
            "images_per_second": round(self.n_train / secs, 1) if secs > 0 else None,
        }
        self.history.append(record)
        self.epoch, self.step = self.epoch + 1, 0
        self.epoch_loss, self.epoch_seconds = [0.0, 0], 0.0
        self.log.write("epoch", **record)
        self.events.epoch(record, self._predict)
        if self.ctx.is_main:
            write_metrics_csv(self.run_dir / METRICS_CSV, self.history)  # beside log.jsonl, for spreadsheets
        value = val[self.config.loss]
        improved = is_better(self.config.loss, value, self.best["value"])
        if improved:
            self.best = {"metric": f"val_{self.config.loss}", "value": value, "epoch": self.epoch}
        self.save(*(("best", "last") if improved else ("last",)))
        return record

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        chunk = eval_chunk(self.config.batch_size, self.source.shape)  # memory follows the batch
        return predict(self.model, x, chunk, amp=self.config.amp_mode)

    def fit(self) -> TrainResult:
        """Train until ``config.epochs`` epochs are complete, then evaluate the best checkpoint."""
        total = self.config.epochs
        try:
            with self._catch_signals():
                if self.baseline is None:
                    self.baseline = self.source.baseline()
                self.events = open_events(self)
                with TrainProgress(self.steps_per_epoch(), quiet=self.quiet) as progress:
                    while self.epoch < total:
                        progress.start_epoch(self.epoch + 1, total, self.step, self.config.batch_size)
                        self.run_epoch(progress)
                        record = self.end_epoch()
                        progress.end_epoch(record, self.baseline)
                return self.finish()
        finally:
            self.events.close()
            self.log.close()
            if self.lock is not None:
                self.lock.release()

    @contextmanager
    def _catch_signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM set ``stop_signal`` (the loop saves and stops); a second one aborts."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signums = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.getsignal(s) for s in signums}

        def handler(signum: int, frame: object) -> None:
            if self.stop_signal is not None and self.ctx.world_size == 1:
                raise KeyboardInterrupt  # second signal: the user insists (one process only: ranks agree)
            self.stop_signal = signum

        for s in signums:
            signal.signal(s, handler)
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def finish(self) -> TrainResult:
        """Test metrics of the best checkpoint against the mean-image baseline, into ``summary.json``.

        Rank 0 evaluates; then every rank agrees on a signal that came meanwhile (the summary is then
        not written, and every rank stops with ``TrainingInterrupted``, as in the loop)."""
        summary = self._evaluate_best() if self.ctx.is_main else {}
        stop, _ = self.ctx.agree_save(self.stop_signal, False, False, at_sync=True)
        if stop is not None:
            raise TrainingInterrupted(stop, self.run_dir / "last")
        if self.ctx.is_main:
            write_json(self.run_dir / SUMMARY_FILE, summary)
            self.log.write("summary", **summary)
            self.log.close()
        return TrainResult(self.run_dir, self.history, summary)

    def _evaluate_best(self) -> dict[str, Any]:
        """The summary: the best checkpoint's test metrics, its epoch, the model and the speed."""
        from convolab.train.checkpoint import load_checkpoint

        best = load_checkpoint(self.run_dir / "best", with_optimizer=False)
        self.model.load_state_dict(best.weights)
        summary = self.source.evaluate(self._predict)
        notes = {k: summary.pop(k) for k in ("streamed",) if k in summary}
        summary.update(
            best_epoch=self.best["epoch"],
            epochs=self.epoch,
            **model_info(self.model),
            seconds_per_epoch=_median([h.get("seconds") for h in self.history]),
            **notes,
        )
        return summary

    def figure_data(self) -> Any:
        """The evaluation images the figures show (``convolab.train.report.make_figures(..., data=...)``)."""
        return self.source.figure_data()


def _median(values: list[float | None]) -> float | None:
    xs = sorted(x for x in values if x)
    return xs[len(xs) // 2] if xs else None
