"""The training configuration: one typed, JSON-able dataclass whose fields document themselves.

Every run stores its ``TrainConfig`` (in ``config.json`` and in each checkpoint), so a run folder says
exactly how it was made and ``--resume`` continues with the same settings. Each field's default and
help text are written once, here: ``convolab train``'s options are derived from them
(``convolab.cli.train``). This module imports neither torch nor numpy (``train --help`` stays instant).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convolab.limits import MAX_CONFIG_BYTES, MAX_EPOCHS, MAX_LEARNING_RATE, MAX_NOISE_STD, MAX_WORKERS
from convolab.train.schedule import DEFAULT_WARMUP, SCHEDULES

LOSSES = ("bce", "mse")
TRAIN_SPLITS = ("train", "test")
STREAM_MODES = ("auto", "on", "off")
AMP_MODES = ("none", "bf16")
FOLDER_PREFIX = "folder:"


class ConfigError(ValueError):
    """A bad value of a config field. The message names the field as ``{field}``; ``str()`` says the
    field's name, :meth:`render` lets a caller say it its own way (the CLI: ``--batch-size``)."""

    def __init__(self, field: str, template: str) -> None:
        self.field, self.template = field, template
        super().__init__(template.format(field=field))

    def render(self, name: str) -> str:
        return self.template.format(field=name)


def _f(default: Any, help: str, *, choices: tuple[str, ...] = (), resume: bool = False, cli: bool = True,
       factory: Any = None) -> Any:  # fmt: skip
    """A field with its help text; ``resume``: ``--resume`` may change it; ``cli``: a train option."""
    meta = {"help": help, "choices": choices, "resume": resume, "cli": cli}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """How to train an autoencoder. Defaults reproduce the lecture's first model on MNIST.

    The lecture's Keras code fits with Adam, binary cross-entropy and batches of 256; 10 epochs is our
    default because it reaches most of the quality in a few minutes on a laptop CPU (see docs/training.md).
    """

    model: str = _f("seed-upsampling", "Zoo name or spec file (.yaml/.json).")
    dataset: str = _f("mnist", "mnist, fashion-mnist, kmnist, cifar10 or folder:PATH.")
    data_dir: str | None = _f(None, "Folder holding the dataset's files (wins over every other location).")
    # "train": train/validation carved from the train split, metrics on the test split. "test": for
    # machines with only the test split (MNIST offline): the held-out validation part is the evaluation set.
    train_split: str = _f(
        "train",
        "Split to carve train/validation from; 'test' when only the test split exists (the held-out "
        "validation part is then the evaluation set).",
        choices=TRAIN_SPLITS,
    )
    val_fraction: float = _f(0.1, "Share of the training split held out for validation.")
    limit: int | None = _f(None, "Use only the first N images of each split.")
    epochs: int = _f(10, "Total epochs (with --resume: the new total).", resume=True)
    batch_size: int = _f(256, "Images per step (the global batch under several processes).")
    lr: float = _f(1e-3, "Adam learning rate (Keras's default); the peak of --lr-schedule onecycle.")
    lr_schedule: str = _f(
        "constant",
        "constant: --lr throughout; cosine: from --lr down to 0 over the planned steps (--epochs); "
        "onecycle: warm up from --lr/25 to --lr, then down to ~0 at the end (PyTorch's OneCycleLR). "
        "A schedule's length is --epochs: --resume cannot change it.",
        choices=SCHEDULES,
    )
    warmup: float | None = _f(
        None, f"onecycle: share of the planned steps spent warming up, in [0, 1) [{DEFAULT_WARMUP}]."
    )
    loss: str = _f(
        "bce", "bce (from the logits, as Keras computes it after a sigmoid) or mse.", choices=LOSSES
    )
    noise: float = _f(0.0, "Denoising: std of Gaussian noise added to inputs, clipped to [0, 1].")
    seed: int = _f(0, "Weights, validation split, batch order and noise all derive from it.")
    device: str = _f("auto", "auto (cuda when available), cpu, cuda or cuda:N.", resume=True)
    amp: str = _f(
        "none",
        "bf16: mixed precision (bfloat16 forward passes, float32 weights and loss); faster on CPUs with "
        "AVX-512 bf16/AMX and on GPUs, refused where bf16 is not native. Changes results slightly.",
        choices=AMP_MODES,
    )
    out: str | None = _f(None, "Run folder [runs/MODEL-DATASET-TIME].")
    checkpoint_every: int = _f(100, "Save `last` every N steps (0: only at epoch ends).", resume=True)
    checkpoint_seconds: float = _f(
        60.0, "... or every S seconds since the last save (0: never).", resume=True
    )
    log_every: int = _f(20, "Log the mean step loss every N steps.", resume=True)
    # Both ways train on the same batches: the choice changes memory use and speed, not the result.
    stream: str = _f(
        "auto",
        "Read a folder: dataset from disk batch by batch (auto: when it exceeds --memory-budget).",
        choices=STREAM_MODES,
        resume=True,
    )
    memory_budget: float | None = _f(None, "GiB --stream auto may hold [a quarter of RAM].", resume=True)
    workers: int = _f(2, "Processes reading images when streaming (0: in the training process).", resume=True)
    extra: dict[str, Any] = _f(None, "Free-form notes kept with the run.", cli=False, factory=dict)

    def validate(self) -> TrainConfig:
        """Check every field; raise :class:`ConfigError` naming the field and the value. Returns ``self``."""
        for name, minimum in (("epochs", 1), ("batch_size", 1), ("seed", 0), ("checkpoint_every", 0),
                              ("log_every", 1), ("workers", 0)):  # fmt: skip
            _check_int(name, getattr(self, name), minimum=minimum)
        for name, cap in (("epochs", MAX_EPOCHS), ("workers", MAX_WORKERS)):
            if getattr(self, name) > cap:
                raise ConfigError(name, f"{{field}} must be <= {cap:,} (limits), got {getattr(self, name)!r}")
        if self.limit is not None:
            _check_int("limit", self.limit, minimum=1)
        _check_choice("stream", self.stream, STREAM_MODES)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("train_split", self.train_split, TRAIN_SPLITS)
        _check_choice("amp", self.amp, AMP_MODES)
        _check_schedule(self.lr_schedule, self.warmup)
        if self.memory_budget is not None:
            _check_number("memory_budget", self.memory_budget, "a positive number of GiB", lambda v: v > 0)
        _check_number("lr", self.lr, f"a positive number <= {MAX_LEARNING_RATE:g}",
                      lambda v: 0 < v <= MAX_LEARNING_RATE)  # fmt: skip
        _check_number(
            "noise", self.noise, f"a number in [0, {MAX_NOISE_STD:g}]", lambda v: 0 <= v <= MAX_NOISE_STD
        )
        _check_number("val_fraction", self.val_fraction, "in (0, 1)", lambda v: 0 < v < 1)
        _check_number("checkpoint_seconds", self.checkpoint_seconds, ">= 0", lambda v: v >= 0)
        for name in ("model", "dataset", "device"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(name, f"{{field}} must be a string, got {getattr(self, name)!r}")
        from convolab.fastpath import bf16_supported  # torch: only when a run is really configured
        from convolab.train.device import resolve_device

        device = resolve_device(self.device)
        if self.amp == "bf16" and not bf16_supported(device):
            raise ConfigError(
                "amp",
                f"{{field}} 'bf16' needs native bfloat16 (a CPU with AVX-512/AMX bf16, or a GPU with bf16); "
                f"device {device} lacks it: use {{field}} none",
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

    @classmethod
    def from_file(cls, path: str | Path) -> dict[str, Any]:
        """The fields set in a YAML or JSON file (a run's ``config.json`` is one), checked by name.

        Returns a dict (not a config): a caller lays its own overrides over it, then builds the config.
        """
        path = Path(path)
        if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError(
                f"config file {path} is over {MAX_CONFIG_BYTES} bytes; a train config is a few lines"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read config file {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else _load_yaml(text)
        except (ValueError, RecursionError) as exc:
            raise ValueError(
                f"config file {path} is not valid JSON/YAML: {str(exc).splitlines()[0]}"
            ) from None
        cls.from_dict(data)  # names checked here, values by validate()
        return dict(data)

    def default_out(self) -> Path:
        """``runs/<model>-<dataset>-<YYYYmmdd-HHMMSS>`` (the model's file stem when it is a path)."""
        stem = Path(self.model).stem if ("/" in self.model or "." in self.model) else self.model
        return Path("runs") / f"{stem}-{self.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


# Fields of the stored config that --resume may change (the rest defines the run).
RESUME_OVERRIDES = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("resume"))


def _check_schedule(schedule: Any, warmup: Any) -> None:
    _check_choice("lr_schedule", schedule, SCHEDULES)
    if warmup is None:
        return
    _check_number("warmup", warmup, "a share in [0, 1)", lambda v: 0 <= v < 1)
    if schedule != "onecycle":
        raise ConfigError(
            "warmup",
            f"{{field}} is the warm-up of the onecycle schedule; this run's schedule is {schedule!r}",
        )


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(name, f"{{field}} must be an integer >= {minimum}, got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(name, f"{{field}} must be one of {', '.join(choices)}, got {value!r}")


def _check_number(name: str, value: Any, what: str, ok: Any) -> None:
    good = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (good and ok(value)):
        raise ConfigError(name, f"{{field}} must be {what}, got {value!r}")


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load`` without aliases (a few bytes of aliases can expand to gigabytes)."""
    import yaml

    class _NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise ValueError("YAML aliases (*name) are not allowed in a train config")
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=_NoAliases)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None
