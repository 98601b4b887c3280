"""The streamed side of ``convolab.train.Trainer``: batches, validation and evaluation read from disk.

A mixin of ``Trainer`` (which sets the attributes declared here); used when ``trainer.stream`` holds a
:class:`~convolab.streamdata.StreamData`. Every method mirrors an in-memory one of ``Trainer``:

- :meth:`streamed_batches` yields the same (input, target) pairs as ``Trainer.batch`` over the epoch
  permutation: this rank's share of each global batch (``ResumableSampler``), the global batch's noise
  (seeded by (seed, epoch, step)) cut to the same rows; a rank whose share of the short last batch is
  empty gets an empty batch (``DistributedTrainStep`` still takes part in DDP's all-reduce).
- :meth:`stream_baseline`, :meth:`streamed_validation`, :meth:`streamed_evaluation`: one pass each
  (``convolab.streamdata``); the final evaluation runs on rank 0 alone, like the in-memory one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from convolab import distributed, fastpath
from convolab import streamdata as sd
from convolab.batchorder import derive_seed, global_batch_size
from convolab.runs import RunData
from convolab.streaming import make_loader
from convolab.trainconfig import TrainConfig

EVAL_BATCH = sd.EVAL_BATCH


class StreamedTraining:
    """Methods of ``Trainer`` for a streamed run (``self.stream`` is not None)."""

    config: TrainConfig
    stream: sd.StreamData | None
    dist: distributed.DistContext
    device: torch.device
    model: Any
    step_fn: Any
    epoch: int
    step: int
    n_train: int
    _mean: torch.Tensor | None

    def steps_per_epoch(self) -> int:
        raise NotImplementedError  # Trainer's

    def _stream(self) -> sd.StreamData:
        if self.stream is None:
            raise ValueError("this run holds its data in memory; it has no stream")
        return self.stream

    def streamed_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(input, target) of each remaining step of this epoch, this rank's share, read from disk."""
        stream, cfg, (r, w) = self._stream(), self.config, (self.dist.rank, self.dist.world_size)
        loader = iter(
            make_loader(stream.train, batch_size=cfg.batch_size // w, rank=r, world_size=w, seed=cfg.seed,
                        epoch=self.epoch, skip_batches=self.step, workers=cfg.workers, device=self.device)
        )  # fmt: skip
        empty = torch.empty(0, *stream.shape, dtype=torch.uint8)
        for step in range(self.step, self.steps_per_epoch()):
            n = global_batch_size(self.n_train, cfg.batch_size, step)
            target = sd.to_floats(next(loader, empty), self.device)  # (n / w, C, H, W); past the end: 0
            if self.dist.enabled:
                self.step_fn.global_n = n
            if not cfg.noise:
                yield target, target
                continue
            # The noise of the whole global batch, then this rank's rows: the in-memory path's numbers.
            gen = torch.Generator(device=self.device).manual_seed(
                derive_seed(cfg.seed, "noise", self.epoch, step)
            )
            noise = torch.randn((n, *target.shape[1:]), generator=gen, device=self.device)
            yield (target + cfg.noise * distributed.shard(noise, r, w)).clamp_(0.0, 1.0), target

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        return fastpath.predict(self.model, x, EVAL_BATCH, amp=self.config.amp_mode)

    def stream_baseline(self) -> dict[str, float]:
        """Validation metrics of the mean training image (one pass over train, one over validation)."""
        stream, workers = self._stream(), self.config.workers
        self._mean = sd.mean_image(stream.train, workers=workers, device=self.device)
        mean = self._mean.to(self.device)
        return sd.stream_metrics(stream.val, mean.expand_as, noise=0.0, seed=0, tag="", workers=workers,
                                 device=self.device)  # fmt: skip

    def streamed_validation(self) -> dict[str, float]:
        """Validation metrics, the ranks sharing the chunks (noise seeded per chunk with --noise)."""
        cfg = self.config
        return sd.stream_metrics(self._stream().val, self._predict, noise=cfg.noise, seed=cfg.seed,
                                 tag="val-noise", workers=cfg.workers, device=self.device)  # fmt: skip

    def streamed_evaluation(self) -> dict[str, Any]:
        """Evaluation-set metrics and the mean-image baseline, in this process only (rank 0)."""
        stream, cfg = self._stream(), self.config
        kw: dict[str, Any] = {"workers": cfg.workers, "device": self.device, "split": False}
        if self._mean is None:  # a resumed run took the validation baseline from its checkpoint
            self._mean = sd.mean_image(stream.train, **kw)
        mean = self._mean.to(self.device)
        model = sd.stream_metrics(
            stream.eval, self._predict, noise=cfg.noise, seed=cfg.seed, tag="eval-noise", **kw
        )
        base = sd.stream_metrics(stream.eval, mean.expand_as, noise=0.0, seed=0, tag="", **kw)
        return {"eval_set": stream.eval_name, "n_eval": len(stream.eval), "metrics": model, "baseline": base}

    def figure_data(self) -> RunData:
        """A few evaluation images in memory, for the figures."""
        if self._mean is None:
            raise ValueError("figure_data: the mean image is not computed yet (run streamed_evaluation)")
        return sd.figure_data(self._stream(), self._mean)
