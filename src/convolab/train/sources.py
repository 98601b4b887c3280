"""Where a run's batches come from: the ``BatchSource`` interface and its in-memory implementation.

A source owns a run's data and answers the loop's five questions: how many training images, the
batches of an epoch from a given step on (this rank's share of each global batch, noised), the
mean-image baseline, the validation metrics, and the final evaluation. Both sources follow
``convolab.train.batchorder`` (epoch permutation seeded by (seed, epoch), noise by (seed, epoch, step)),
so they feed the model the same numbers: on one process the in-memory :class:`TensorSource` and the
streaming :class:`~convolab.train.folder_source.FolderSource` give bitwise-equal weights
(tests/test_train_stream.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch

from convolab.engine.device import to_layout
from convolab.engine.predict import eval_chunk
from convolab.train.batchorder import add_noise, derive_seed, epoch_permutation
from convolab.train.config import TrainConfig
from convolab.train.context import LocalContext
from convolab.train.metrics import MetricAccumulator, baseline_metrics, metrics_of
from convolab.train.run_data import RunData

Predict = Callable[[torch.Tensor], torch.Tensor]
Batch = tuple[torch.Tensor, torch.Tensor, int]  # (input, target) of this rank, images in the global batch


class BatchSource(Protocol):
    """What the loop (``convolab.train.loop.Trainer``) needs from a run's data."""

    n_train: int

    @property
    def shape(self) -> tuple[int, int, int]: ...

    def sample(self) -> torch.Tensor:
        """A few training images on the device (the BCE sigmoid check runs on them)."""
        ...

    def batches(self, epoch: int, start: int, steps: int) -> Iterator[Batch]:
        """``(input, target, global_n)`` of steps ``start .. steps - 1`` of ``epoch``, this rank's share."""
        ...

    def baseline(self) -> dict[str, float]:
        """Validation metrics of the mean training image (the trivial baseline)."""
        ...

    def validate(self, predict: Predict) -> dict[str, float]:
        """Validation metrics of ``predict`` (a collective under torchrun: every rank calls)."""
        ...

    def evaluate(self, predict: Predict) -> dict[str, Any]:
        """The final evaluation on rank 0: eval_set, n_eval, metrics, baseline (and notes)."""
        ...

    def figure_data(self) -> RunData:
        """Evaluation images in memory for the figures (drawn by the caller after ``fit()``)."""
        ...

    def describe(self) -> str | None:
        """One line for the terminal about how data is read, or None for the plain in-memory path."""
        ...


class TensorSource:
    """The fast path: every split one tensor, the training split on the device; a batch is an index."""

    def __init__(self, data: RunData, config: TrainConfig, ctx: LocalContext) -> None:
        self.data, self.config, self.ctx = data, config, ctx
        device = ctx.device
        self.train_x = to_layout(data.train, device)  # (N, C, H, W), whole split on device
        self.n_train = int(self.train_x.shape[0])
        self.val_x = data.val.to(device)
        noise = config.noise
        self.val_in = (
            add_noise(self.val_x, noise, derive_seed(config.seed, "val-noise")) if noise else self.val_x
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.data.shape

    def describe(self) -> str | None:
        return None

    def sample(self) -> torch.Tensor:
        return self.train_x[:4]

    def batches(self, epoch: int, start: int, steps: int) -> Iterator[Batch]:
        cfg, bs = self.config, self.config.batch_size
        perm = epoch_permutation(self.n_train, cfg.seed, epoch).to(self.ctx.device)
        for step in range(start, steps):
            target = self.train_x[perm[step * bs : (step + 1) * bs]]  # (B, C, H, W)
            x = (
                add_noise(target, cfg.noise, derive_seed(cfg.seed, "noise", epoch, step))
                if cfg.noise
                else target
            )
            yield self.ctx.shard(x), self.ctx.shard(target), int(target.shape[0])

    @property
    def chunk(self) -> int:
        """Images per metric chunk: ``engine.predict.eval_chunk`` of the batch (what the loop predicts in)."""
        return eval_chunk(self.config.batch_size, self.shape)

    def baseline(self) -> dict[str, float]:
        return baseline_metrics(self.data.mean_image, self.val_x, self.chunk)

    def validate(self, predict: Predict) -> dict[str, float]:
        if self.ctx.world_size == 1:
            return metrics_of(predict(self.val_in), self.val_x, self.chunk)
        acc = MetricAccumulator()
        val_in, val_x = self.ctx.shard(self.val_in), self.ctx.shard(self.val_x)
        if val_x.shape[0]:
            acc.update(predict(val_in), val_x)
        sums, count = self.ctx.reduce_metric_sums(acc.sums, acc.count)
        return {n: sums[n] / count for n in acc.names}

    def evaluate(self, predict: Predict) -> dict[str, Any]:
        data, cfg = self.data, self.config
        ev_in = data.eval_images
        if cfg.noise:
            ev_in = add_noise(ev_in, cfg.noise, derive_seed(cfg.seed, "eval-noise"))
        return {
            "eval_set": data.eval_name,
            "n_eval": int(data.eval_images.shape[0]),
            "metrics": metrics_of(predict(ev_in), data.eval_images, self.chunk),
            "baseline": baseline_metrics(data.mean_image, data.eval_images, self.chunk),
        }

    def figure_data(self) -> RunData:
        return self.data
