"""Training an autoencoder: the loop, validation every epoch, checkpoints, exact resume, clean stops.

Determinism (why ``--resume`` is exact): nothing in the loop draws from the global RNG. The batch order
of epoch e is a permutation from its own generator seeded by (seed, e); denoising noise of step s of
epoch e comes from a generator seeded by (seed, e, s). A checkpoint stores the weights, Adam's state and
(epoch, step within epoch), so a resumed run replays the same batches with the same state: on CPU the
final weights are bitwise equal to an uninterrupted run (tests/test_train_resume.py).

Data: the whole split as one tensor on the device (the fast path), or, for a ``folder:`` dataset too
large for memory, batches read from disk by DataLoader workers (``--stream``; ``convolab.streamtrain``),
in the same order: on one process both give bitwise-equal weights (tests/test_train_stream.py).

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
from typing import Any

import torch

from convolab import distributed, fastpath
from convolab import streamdata as sd
from convolab.batchorder import add_noise, derive_seed, epoch_permutation
from convolab.checkpoint import check_weights, restore_rng
from convolab.metrics import baseline_metrics, is_better, metrics_of
from convolab.progress import TrainProgress
from convolab.runlog import (
    CONFIG_FILE,
    LOG_FILE,
    SUMMARY_FILE,
    RunLog,
    check_run_dir,
    prepare_run_dir,
    write_json,
)
from convolab.runs import RunData, build_model, model_info, open_resume, save_run_checkpoint
from convolab.spec import load_spec
from convolab.streamtrain import StreamedTraining
from convolab.trainconfig import TrainConfig, resolve_device

# Keras's Adam: beta_1=0.9, beta_2=0.999, epsilon=1e-7 (PyTorch's default epsilon is 1e-8).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-7
EVAL_BATCH = 1024
__all__ = ["Trainer", "add_noise", "derive_seed", "epoch_permutation", "resume", "start", "train"]


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


@torch.no_grad()
def check_sigmoid_output(model: Any, x: torch.Tensor) -> None:
    """BCE is computed from the logits, so the model's output must be sigmoid(logits): check it once."""
    forward = fastpath.forward_fn(model)  # the path TrainStep takes (fused plan when there is one)
    out, logits = model(x), forward(x, logits=True)
    if not torch.allclose(torch.sigmoid(logits), out, atol=1e-5):
        last = model.layers[-1]
        raise ValueError(
            f"--loss bce needs a model whose output is a sigmoid (BCE is computed from the logits before "
            f"it), but model {model.name!r} ends with {type(last).__name__}(activation="
            f"{last.activation!r}); give its last layer activation: sigmoid, or use --loss mse"
        )


class Trainer(StreamedTraining):
    """Holds the state of one run; ``fit()`` trains to ``config.epochs``. Build with ``start``/``resume``."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        data: RunData | sd.StreamData,
        *,
        spec: Any = None,
        quiet: bool = False,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.dist = distributed.init(config.device)  # single-process unless started by torchrun
        self.device = self.dist.device if self.dist.enabled else resolve_device(config.device)
        self.data = data
        self.quiet = quiet or not distributed.is_main()
        self.figures = True  # draw the run's figures at the end (tests switch it off for speed)
        self.model = build_model(config.model if spec is None else spec, config.seed, data.shape)
        self.spec = self.model.to_spec().to_dict()
        fastpath.prepare(self.model, self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, betas=ADAM_BETAS, eps=ADAM_EPS
        )
        self.step_fn = (
            distributed.DistributedTrainStep(
                self.model, self.optimizer, config.loss, self.dist, amp=config.amp_mode
            )
            if self.dist.enabled
            else fastpath.TrainStep(self.model, self.optimizer, config.loss, amp=config.amp_mode)
        )
        # Streaming (a large folder: dataset): batches come from a DataLoader; else the fast path.
        self.stream = data if isinstance(data, sd.StreamData) else None
        self.baseline: dict[str, float] | None = None
        self._mean: torch.Tensor | None = None  # the mean training image of a streamed run, once computed
        if self.stream is None:
            assert isinstance(data, RunData)  # for the type checker: not a StreamData
            self.train_x = fastpath.to_layout(data.train, self.device)  # (N, C, H, W), whole split on device
            self.n_train = int(self.train_x.shape[0])
            sample = self.train_x[:4]
            self.val_x = data.val.to(self.device)
            self.val_in = (
                add_noise(self.val_x, config.noise, derive_seed(config.seed, "val-noise"))
                if config.noise
                else self.val_x
            )
            self.baseline = baseline_metrics(data.mean_image, self.val_x)
        else:
            self.n_train = len(self.stream.train)
            sample = sd.to_floats(torch.stack([self.stream.train[i] for i in range(4)]), self.device)
        if config.loss == "bce":
            check_sigmoid_output(self.model, sample)
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
        self.log = RunLog(run_dir / LOG_FILE) if distributed.is_main() else distributed.NullLog()
        self.last_save = time.monotonic()

    # -- state ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The JSON part of a checkpoint."""
        from convolab.checkpoint import rng_state

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
        self.epoch, self.step, self.global_step = int(st["epoch"]), int(st["step"]), int(st["global_step"])
        self.epoch_loss = [float(st.get("epoch_loss", [0.0, 0])[0]), int(st.get("epoch_loss", [0.0, 0])[1])]
        self.epoch_seconds = float(st.get("epoch_seconds", 0.0))
        self.history = list(st.get("history", []))
        self.best = dict(st.get("best", self.best))
        if self.stream is not None and st.get("baseline"):
            self.baseline = dict(st["baseline"])  # saves a pass over the data
        restore_rng(st.get("rng", {}))

    def save(self, which: str) -> Path:
        path = self.run_dir / which
        if distributed.is_main():
            path = save_run_checkpoint(path, self.model, self.state(), self.optimizer.state_dict())
        distributed.barrier()
        self.last_save = time.monotonic()
        return path

    # -- loss bookkeeping -----------------------------------------------------------------------------
    def check_losses(self) -> float | None:
        """Sync the pending losses; raise NonFiniteLossError on NaN/Inf. Returns their mean."""
        if self._pending_n == 0:
            return None
        total = float(distributed.all_reduce(self._pending.clone(), "mean"))
        n = self._pending_n
        if not math.isfinite(total):
            self.log.write("stop", reason="non-finite loss", epoch=self.epoch, step=self.step, loss=total)
            last = self.run_dir / "last"
            keep = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved"
            raise NonFiniteLossError(
                f"loss became {total} at epoch {self.epoch + 1}, step {self.step}; training stopped "
                f"({keep}); try a smaller --lr"
            )
        self.epoch_loss[0] += total
        self.epoch_loss[1] += n
        self._pending.zero_()
        self._pending_n = 0
        return total / n

    # -- the loop -----------------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.config.batch_size)

    def run_epoch(self, progress: TrainProgress) -> None:
        """Train the remaining steps of epoch ``self.epoch``; stops early (saved) on a signal."""
        cfg = self.config
        tick = time.perf_counter()
        for step, (x, target) in enumerate(self._batches(), start=self.step):
            self._pending += self.step_fn(x, target)
            self._pending_n += 1
            self.step, self.global_step = step + 1, self.global_step + 1
            if self.global_step % cfg.log_every == 0:
                mean = self.check_losses()
                self.log.write(
                    "step", epoch=self.epoch + 1, step=self.step, global_step=self.global_step, loss=mean
                )
                progress.update(self.step, loss=mean)
            else:
                progress.update(self.step)
            if self._save_now():
                self.check_losses()
                self.epoch_seconds += time.perf_counter() - tick
                tick = time.perf_counter()
                path = self.save("last")
                if self.stop_signal is not None:
                    self.log.write("interrupt", signal=self.stop_signal, epoch=self.epoch, step=self.step)
                    raise TrainingInterrupted(self.stop_signal, path)
        self.check_losses()
        self.epoch_seconds += time.perf_counter() - tick

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(input, target) of each remaining step of this epoch, this rank's share."""
        if self.stream is not None:
            yield from self.streamed_batches()
            return
        bs = self.config.batch_size
        perm = epoch_permutation(self.n_train, self.config.seed, self.epoch).to(self.device)
        for step in range(self.step, self.steps_per_epoch()):
            yield self.batch(perm[step * bs : (step + 1) * bs], step)

    def batch(self, idx: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, target) of ``step``: the global batch ``idx``, noised, then this rank's shard."""
        cfg = self.config
        target = self.train_x[idx]  # (B, C, H, W)
        x = (
            add_noise(target, cfg.noise, derive_seed(cfg.seed, "noise", self.epoch, step))
            if cfg.noise
            else target
        )
        if not self.dist.enabled:
            return x, target
        self.step_fn.global_n = target.shape[0]
        r, w = self.dist.rank, self.dist.world_size
        return distributed.shard(x, r, w), distributed.shard(target, r, w)

    def _save_now(self) -> bool:
        """Save (and stop on a signal) now? Ranks agree at log steps; others act on step counts only."""
        if not self.dist.enabled:
            return self.stop_signal is not None or self._checkpoint_due()
        cfg = self.config
        by_steps = cfg.checkpoint_every > 0 and self.global_step % cfg.checkpoint_every == 0
        if self.global_step % cfg.log_every:
            return by_steps
        signum, due = distributed.reduce_floats(
            [float(self.stop_signal or 0), float(self._checkpoint_due())], "max"
        )
        if signum and self.stop_signal is None:
            self.stop_signal = int(signum)
        return bool(signum or due)

    def _checkpoint_due(self) -> bool:
        cfg = self.config
        by_steps = cfg.checkpoint_every > 0 and self.global_step % cfg.checkpoint_every == 0
        by_time = cfg.checkpoint_seconds > 0 and time.monotonic() - self.last_save >= cfg.checkpoint_seconds
        return by_steps or by_time

    def end_epoch(self) -> dict[str, Any]:
        """Validate, record the epoch, save ``last`` (and ``best`` when it improved)."""
        val = self.validate()
        n_train = self.n_train
        record = {
            "epoch": self.epoch + 1,
            "train_loss": self.epoch_loss[0] / max(self.epoch_loss[1], 1),
            "val": val,
            "seconds": round(self.epoch_seconds, 3),
            "images_per_second": round(n_train / self.epoch_seconds, 1) if self.epoch_seconds > 0 else None,
        }
        self.history.append(record)
        self.epoch, self.step = self.epoch + 1, 0
        self.epoch_loss, self.epoch_seconds = [0.0, 0], 0.0
        self.log.write("epoch", **record)
        value = val[self.config.loss]
        improved = is_better(self.config.loss, value, self.best["value"])
        if improved:
            self.best = {"metric": f"val_{self.config.loss}", "value": value, "epoch": self.epoch}
        self.save("last")
        if improved:
            self.save("best")
        return record

    def validate(self) -> dict[str, float]:
        """Validation metrics; under torchrun each rank scores its shard and the sums are reduced."""
        if self.stream is not None:
            return self.streamed_validation()
        if not self.dist.enabled:
            return metrics_of(
                fastpath.predict(self.model, self.val_in, EVAL_BATCH, amp=self.config.amp_mode), self.val_x
            )
        from convolab.metrics import MetricAccumulator

        r, w = self.dist.rank, self.dist.world_size
        acc = MetricAccumulator()
        val_in, val_x = distributed.shard(self.val_in, r, w), distributed.shard(self.val_x, r, w)
        if val_x.shape[0]:
            acc.update(fastpath.predict(self.model, val_in, EVAL_BATCH, amp=self.config.amp_mode), val_x)
        sums, count = distributed.reduce_metric_sums(acc.sums, acc.count)
        return {n: sums[n] / count for n in acc.names}

    def fit(self) -> TrainResult:
        """Train until ``config.epochs`` epochs are complete, then evaluate and draw the figures."""
        total = self.config.epochs
        if self.baseline is None:
            self.baseline = self.stream_baseline()
        try:
            with _catch_signals(self), TrainProgress(self.steps_per_epoch(), quiet=self.quiet) as progress:
                while self.epoch < total:
                    progress.start_epoch(self.epoch + 1, total, self.step, self.config.batch_size)
                    self.run_epoch(progress)
                    record = self.end_epoch()
                    progress.end_epoch(record, self.baseline)
            return self.finish()
        finally:
            self.log.close()

    def finish(self) -> TrainResult:
        """Test metrics of the best checkpoint against the mean-image baseline; summary and figures."""
        from convolab.checkpoint import load_checkpoint

        if not distributed.is_main():  # rank 0 evaluates, writes the summary and draws
            return TrainResult(self.run_dir, self.history, {})
        best = load_checkpoint(self.run_dir / "best", with_optimizer=False)
        self.model.load_state_dict(best.weights)
        if self.stream is not None:
            summary = self.streamed_evaluation()
            summary.update(self._summary_tail(), streamed=True)
            return self._write_summary(summary, self.figure_data() if self.figures else None)
        assert isinstance(self.data, RunData)
        ev_in = self.data.eval_images
        if self.config.noise:
            ev_in = add_noise(ev_in, self.config.noise, derive_seed(self.config.seed, "eval-noise"))
        recon = fastpath.predict(self.model, ev_in, EVAL_BATCH, amp=self.config.amp_mode)
        summary = {
            "eval_set": self.data.eval_name,
            "n_eval": int(self.data.eval_images.shape[0]),
            "metrics": metrics_of(recon, self.data.eval_images),
            "baseline": baseline_metrics(self.data.mean_image, self.data.eval_images),
            **self._summary_tail(),
        }
        return self._write_summary(summary, self.data)

    def _summary_tail(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best["epoch"],
            "epochs": self.epoch,
            **model_info(self.model),
            "seconds_per_epoch": _median([h["seconds"] for h in self.history]),
        }

    def _write_summary(self, summary: dict[str, Any], data: RunData | None) -> TrainResult:
        from convolab.report import make_figures

        write_json(self.run_dir / SUMMARY_FILE, summary)
        self.log.write("summary", **summary)
        self.log.close()
        if self.figures and data is not None:
            make_figures(self.run_dir, model=self.model, data=data)
        return TrainResult(self.run_dir, self.history, summary)


def _median(xs: list[float]) -> float | None:
    xs = sorted(x for x in xs if x)
    return xs[len(xs) // 2] if xs else None


@contextmanager
def _catch_signals(trainer: Trainer):
    """SIGINT/SIGTERM set ``trainer.stop_signal`` (the loop saves and stops); a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signums}

    def handler(signum: int, frame: object) -> None:
        if trainer.stop_signal is not None and not trainer.dist.enabled:
            raise KeyboardInterrupt  # second signal: the user insists
        trainer.stop_signal = signum

    for s in signums:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def start(
    config: TrainConfig, *, overwrite: bool = False, quiet: bool = False, figures: bool = True
) -> Trainer:
    """A fresh run: validate the config, load the data, create the run folder, build the model."""
    config.validate()
    ctx = distributed.init(config.device)
    distributed.check_batch_size(config.batch_size, ctx.world_size)
    out = Path(config.out) if config.out else config.default_out()
    config.out = str(distributed.broadcast_object(str(out)))  # one timestamped default for all ranks
    out = Path(config.out)
    distributed.on_main(check_run_dir, out, overwrite=overwrite)
    load_spec(config.model)  # an unknown model fails before any data is read or folder is made
    data = sd.load_data(config)  # before creating the folder: a missing dataset leaves nothing behind
    run_dir = distributed.on_main(prepare_run_dir, out, overwrite=overwrite) or out
    if distributed.is_main():
        write_json(run_dir / CONFIG_FILE, config.to_dict())
    trainer = Trainer(config, run_dir, data, quiet=quiet)
    trainer.figures = figures
    trainer.log.write(
        "start", config=config.to_dict(), streamed=trainer.stream is not None, **model_info(trainer.model)
    )
    return trainer


def resume(
    run: str | Path, *, overrides: dict[str, Any] | None = None, quiet: bool = False, figures: bool = True
) -> Trainer:
    """Continue a run from its ``last`` checkpoint; ``overrides`` may change epochs, device, checkpointing."""
    ckpt, config = open_resume(run, overrides or {})
    done = ckpt.state["epoch"]
    finished = done >= config.epochs and ckpt.state["step"] == 0
    # A run stopped after its last epoch but before its summary (killed in the final evaluation) only
    # needs the end: fit() then skips the loop and runs finish().
    if finished and (done > config.epochs or (ckpt.path.parent / SUMMARY_FILE).exists()):
        raise ValueError(
            f"run {ckpt.path.parent} already finished {ckpt.state['epoch']} epochs; "
            f"pass --epochs N (more than {ckpt.state['epoch']}) to train further"
        )
    distributed.check_batch_size(config.batch_size, distributed.init(config.device).world_size)
    data = sd.load_data(config)
    trainer = Trainer(config, ckpt.path.parent, data, spec=ckpt.spec, quiet=quiet)
    trainer.figures = figures
    trainer.load_state(ckpt)
    trainer.log.write("resume", epoch=trainer.epoch, step=trainer.step, global_step=trainer.global_step)
    return trainer


def train(
    config: TrainConfig, *, overwrite: bool = False, quiet: bool = False, figures: bool = True
) -> TrainResult:
    """Train a fresh run to the end (see ``TrainConfig``). Example: ``train(TrainConfig(epochs=1))``."""
    return start(config, overwrite=overwrite, quiet=quiet, figures=figures).fit()
