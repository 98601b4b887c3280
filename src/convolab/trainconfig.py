"""The training configuration: one typed, JSON-able dataclass with commented defaults.

Every run stores its ``TrainConfig`` (in ``config.json`` and in each checkpoint), so a run folder says
exactly how it was made and ``--resume`` continues with the same settings.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

LOSSES = ("bce", "mse")
TRAIN_SPLITS = ("train", "test")
STREAM_MODES = ("auto", "on", "off")
AMP_MODES = ("none", "bf16")


@dataclass
class TrainConfig:
    """How to train an autoencoder. Defaults reproduce the lecture's first model on MNIST.

    The lecture's Keras code fits with Adam, binary cross-entropy and batches of 256; 10 epochs is our
    default because it reaches most of the quality in a few minutes on a laptop CPU (see docs/training.md).
    """

    model: str = "seed-upsampling"  # zoo name (convolab.zoo) or a spec file (.yaml/.json)
    dataset: str = "mnist"  # dataset name known to convolab.data
    data_dir: str | None = None  # explicit dataset folder (wins over every other location)
    # Which split training data comes from. "train": train/validation carved from the train split, metrics
    # reported on the test split. "test": for machines that only have the test split (MNIST offline):
    # train/validation carved from it, and the held-out validation part is the evaluation set.
    train_split: str = "train"
    val_fraction: float = 0.1  # share of the training split held out for validation
    limit: int | None = None  # use only the first N images of each split (quick experiments)
    epochs: int = 10  # total epochs (on --resume: the new total)
    batch_size: int = 256  # the lecture's batch size; the last partial batch is kept (as Keras does)
    lr: float = 1e-3  # Adam learning rate (Keras default)
    loss: str = "bce"  # "bce" (from logits, as Keras computes it after a sigmoid) or "mse"
    noise: float = 0.0  # denoising: std of Gaussian noise added to inputs, clipped to [0, 1]
    seed: int = 0  # weights, validation split, batch order and noise all derive from it
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda" or "cuda:N"
    # "bf16": autocast the forward passes to bfloat16 (weights, optimizer and loss stay float32). Faster
    # where the hardware computes bf16 natively: CPUs with AVX-512 bf16/AMX, recent GPUs (docs/speed.md).
    amp: str = "none"
    out: str | None = None  # run folder; default runs/<model>-<dataset>-<timestamp>
    checkpoint_every: int = 100  # also save `last` every this many steps (0: only at epoch ends) ...
    checkpoint_seconds: float = 60.0  # ... or when this many seconds passed since the last save
    log_every: int = 20  # write the mean step loss to the log every this many steps
    # Read a folder: dataset from disk in batches instead of loading it (docs/training.md, "Streaming").
    # "auto": stream when its images as float32 exceed memory_budget; "on": always (folder: only); "off".
    # Both ways train on the same batches, so the choice changes memory use and speed, not the result.
    stream: str = "auto"
    memory_budget: float | None = None  # GiB for "auto"; None: a quarter of this machine's memory
    workers: int = 2  # DataLoader processes reading images when streaming (0: in the training process)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the run

    def validate(self) -> TrainConfig:
        """Check every field; raise ``ValueError`` naming the field and the value. Returns ``self``."""
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("batch_size", self.batch_size, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        _check_int("checkpoint_every", self.checkpoint_every, minimum=0)
        _check_int("log_every", self.log_every, minimum=1)
        _check_int("workers", self.workers, minimum=0)
        if self.stream not in STREAM_MODES:
            raise ValueError(f"stream must be one of {', '.join(STREAM_MODES)}, got {self.stream!r}")
        budget = self.memory_budget
        if budget is not None and not (isinstance(budget, (int, float)) and budget > 0):
            raise ValueError(f"memory_budget must be a positive number of GiB, got {budget!r}")
        if self.limit is not None:
            _check_int("limit", self.limit, minimum=1)
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.noise, (int, float)) and self.noise >= 0):
            raise ValueError(f"noise must be a number >= 0, got {self.noise!r}")
        if not (isinstance(self.val_fraction, (int, float)) and 0 < self.val_fraction < 1):
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.checkpoint_seconds < 0:
            raise ValueError(f"checkpoint_seconds must be >= 0, got {self.checkpoint_seconds!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.train_split not in TRAIN_SPLITS:
            raise ValueError(
                f"train_split must be one of {', '.join(TRAIN_SPLITS)}, got {self.train_split!r}"
            )
        device = resolve_device(self.device)
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        from convolab.fastpath import bf16_supported

        if self.amp == "bf16" and not bf16_supported(device):
            raise ValueError(
                f"amp 'bf16' needs native bfloat16 (a CPU with AVX-512/AMX bf16, or a GPU with bf16); "
                f"device {device} lacks it: use --amp none"
            )
        return self

    @property
    def amp_mode(self) -> str | None:
        """``amp`` as ``convolab.fastpath`` takes it: ``None`` for ``"none"``."""
        return None if self.amp == "none" else self.amp

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from ``to_dict()`` output; unknown keys are an error (a typo must not pass silently)."""
        if not isinstance(data, dict):
            raise ValueError(f"a train config must be a mapping, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown train config field(s): {', '.join(unknown)}")
        return cls(**data)

    def default_out(self) -> Path:
        """``runs/<model>-<dataset>-<YYYYmmdd-HHMMSS>`` (the model's file stem when it is a path)."""
        stem = Path(self.model).stem if ("/" in self.model or "." in self.model) else self.model
        return Path("runs") / f"{stem}-{self.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def resolve_device(name: str) -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N`` into a device; CUDA asked for but missing is an error."""
    if not isinstance(name, str):
        raise ValueError(f"device must be a string, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available here; use --device cpu")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        return dev
    raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
