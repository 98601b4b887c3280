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
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convolab.limits import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_LEARNING_RATE,
    MAX_NOISE_STD,
    MAX_SEED,
    MAX_STEP_COUNT,
    MAX_WORKERS,
)
from convolab.train.config_file import load_yaml, read_config_bytes
from convolab.train.schedule import DEFAULT_WARMUP, SCHEDULES

LOSSES = ("bce", "mse")
TRAIN_SPLITS = ("train", "test")
STREAM_MODES = ("auto", "on", "off")
AMP_MODES = ("none", "bf16")
FOLDER_PREFIX = "folder:"


class ConfigError(ValueError):
    """A bad value of a config field. The message template names the field as ``{field}`` and may hold
    other ``{name}`` markers given as keyword arguments (``value=...``); ``str()`` says the field's name,
    :meth:`render` lets a caller say it its own way (the CLI: ``--batch-size``).

    The template is filled in one pass over its own text: a user's value is never parsed as a format
    string (``lr={"a": 1}`` or a string holding ``{field}`` stay as they are)."""

    def __init__(self, field: str, template: str, **values: Any) -> None:
        self.field, self.template = field, template
        self.values = {k: show_value(v) for k, v in values.items()}
        super().__init__(self.render(field))

    def render(self, name: str) -> str:
        marks = {**self.values, "field": name}
        return _MARK.sub(lambda m: marks.get(m.group(1), m.group(0)), self.template)


_MARK = re.compile(r"\{(\w+)\}")
MAX_SHOWN_CHARS = 80  # of a value echoed in a message (a 10**400 or a 1 MiB string stays one short line)


def show_value(value: Any) -> str:
    """``repr(value)`` cut to ``MAX_SHOWN_CHARS`` (a huge int says how many digits it has); a
    :class:`Text` as it is."""
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_SHOWN_CHARS:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 5] + " ...'"


def _f(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    resume: bool = False,
    cli: bool = True,
    factory: Any = None,
) -> Any:
    """A field with its help text; ``resume``: ``--resume`` may change it; ``cli``: a train option."""
    meta = {"help": help, "choices": choices, "resume": resume, "cli": cli}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    """How to train an autoencoder. Defaults reproduce the lecture's first model on MNIST.

    The lecture's Keras code fits with Adam, binary cross-entropy and batches of 256; 10 epochs is our
    default because it reaches most of the quality in a few minutes on a laptop CPU (see docs/training.md).
    """

    model: str = _f("seed-upsampling", "Zoo name or spec file (.yaml/.json).")
    dataset: str = _f("mnist", "mnist, fashion-mnist, kmnist, cifar10 or folder:PATH.")
    data_dir: str | None = _f(
        None, "Folder holding the dataset's files (the only place looked in: no fallback)."
    )
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
        """Check every field; raise :class:`ConfigError` naming the field and the value. Returns ``self``.

        Everything that can be checked without data is checked here, before a run folder exists:
        types, ranges (``limits``), paths, the device, and that the whole config is JSON (it is stored
        as such). Whether the device runs ``amp`` is the engine's to say: ``session.check_amp``."""
        for name in ("model", "dataset", "device"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(name, "{field} must be a string, got {value}", value=getattr(self, name))
        for name, minimum, cap in INT_FIELDS:
            _check_int(name, getattr(self, name), minimum=minimum, cap=cap)
        if self.limit is not None:
            _check_int("limit", self.limit, minimum=1, cap=MAX_BATCH_SIZE)
        _check_choice("stream", self.stream, STREAM_MODES)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("train_split", self.train_split, TRAIN_SPLITS)
        _check_choice("amp", self.amp, AMP_MODES)
        _check_schedule(self.lr_schedule, self.warmup)
        if self.memory_budget is not None:
            _check_number("memory_budget", self.memory_budget, "a positive number of GiB", lambda v: v > 0)
        _check_number(
            "lr", self.lr, f"a positive number <= {MAX_LEARNING_RATE:g}", lambda v: 0 < v <= MAX_LEARNING_RATE
        )
        _check_number(
            "noise", self.noise, f"a number in [0, {MAX_NOISE_STD:g}]", lambda v: 0 <= v <= MAX_NOISE_STD
        )
        _check_number("val_fraction", self.val_fraction, "in (0, 1)", lambda v: 0 < v < 1)
        _check_number("checkpoint_seconds", self.checkpoint_seconds, ">= 0", lambda v: v >= 0)
        check_path_field("data_dir", self.data_dir)
        check_path_field("out", self.out)
        _check_json(self)
        from convolab.train.device import resolve_device  # torch: only when a run is really configured

        resolve_device(self.device)  # bf16 on it is checked where a run starts (session.check_amp)
        return self

    @property
    def amp_mode(self) -> str | None:
        """``amp`` as ``convolab.engine`` takes it: ``None`` for ``"none"``."""
        return None if self.amp == "none" else self.amp

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from ``to_dict()`` output; unknown keys are an error (a typo must not pass silently)."""
        if not isinstance(data, dict):
            raise ValueError(f"a train config must be a mapping, got {type(data).__name__}")
        odd = [k for k in data if not isinstance(k, str)]
        if odd:
            raise ValueError(
                f"a train config's field names are strings; got {show_value(odd[0])} "
                f"({type(odd[0]).__name__})"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown train config field(s): {show_value(', '.join(unknown))[1:-1]}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> dict[str, Any]:
        """The fields set in a YAML or JSON file (a run's ``config.json`` is one), checked by name.

        Returns a dict (not a config): a caller lays its own overrides over it, then builds the config.
        Only a regular file is read, at most ``MAX_CONFIG_BYTES`` of it, never blocking
        (:func:`read_config_bytes`).
        """
        path = Path(path)
        raw = read_config_bytes(path)
        try:
            text = raw.decode("utf-8")
            data = json.loads(text) if path.suffix.lower() == ".json" else load_yaml(text)
        except (ValueError, RecursionError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"config file {path} is not valid JSON/YAML: {first}") from None
        cls.from_dict(data)  # names checked here, values by validate()
        return dict(data)

    def default_out(self) -> Path:
        """``runs/<model>-<dataset>-<YYYYmmdd-HHMMSS>`` (the model's file stem when it is a path)."""
        stem = Path(self.model).stem if ("/" in self.model or "." in self.model) else self.model
        return Path("runs") / f"{stem}-{self.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


# Fields of the stored config that --resume may change (the rest defines the run).
RESUME_OVERRIDES = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("resume"))


# (field, minimum, maximum) of the integer fields
INT_FIELDS = (("epochs", 1, MAX_EPOCHS), ("batch_size", 1, MAX_BATCH_SIZE), ("seed", 0, MAX_SEED),
              ("checkpoint_every", 0, MAX_STEP_COUNT), ("log_every", 1, MAX_STEP_COUNT),
              ("workers", 0, MAX_WORKERS))  # fmt: skip


def check_path_field(name: str, value: Any) -> None:
    """``out`` / ``data_dir``: None or a usable path string. Refused: another type, an empty string,
    a NUL byte, a symbolic link that leads nowhere (dangling, or a loop). Reads only (``lstat``/``stat``)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigError(name, "{field} must be a path (a string), got {value}", value=value)
    if not value.strip():
        raise ConfigError(name, "{field} must be a folder path, got an empty string {value}", value=value)
    if "\0" in value:
        raise ConfigError(name, "{field} must not contain a NUL byte, got {value}", value=value)
    path = Path(value).expanduser()
    try:
        if path.is_symlink():
            path.stat()  # a dangling link or a loop raises here
    except OSError as exc:
        raise ConfigError(
            name,
            "{field} {value} is a symbolic link that leads nowhere ({why})",
            value=value,
            why=Text(exc.strerror or type(exc).__name__),
        ) from None


def _check_json(config: TrainConfig) -> None:
    """The whole config is stored as JSON (config.json, every checkpoint): check it is, before any write."""
    if not isinstance(config.extra, dict):
        raise ConfigError("extra", "{field} must be a mapping of notes, got {value}", value=config.extra)
    try:
        json.dumps(config.to_dict(), allow_nan=True)
    except (TypeError, ValueError, RecursionError) as exc:
        bad = next((k for k in config.to_dict() if not _is_json(getattr(config, k))), "extra")
        raise ConfigError(
            bad, "{field} must hold JSON data (strings, numbers, lists, mappings): {why}", why=Text.of(exc)
        ) from None


class Text(str):
    """A message part shown as is by :class:`ConfigError` (not quoted as a value is)."""

    @classmethod
    def of(cls, exc: BaseException) -> Text:
        """The first line of an exception's message (at most 200 characters)."""
        return cls((str(exc).splitlines() or [type(exc).__name__])[0][:200])


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _check_schedule(schedule: Any, warmup: Any) -> None:
    _check_choice("lr_schedule", schedule, SCHEDULES)
    if warmup is None:
        return
    _check_number("warmup", warmup, "a share in [0, 1)", lambda v: 0 <= v < 1)
    if schedule != "onecycle":
        raise ConfigError(
            "warmup",
            "{field} is the warm-up of the onecycle schedule; this run's schedule is {value}",
            value=schedule,
        )


def _check_int(name: str, value: Any, *, minimum: int, cap: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(name, f"{{field}} must be an integer >= {minimum}, got {{value}}", value=value)
    if value > cap:
        raise ConfigError(name, f"{{field}} must be <= {cap:,} (limits), got {{value}}", value=value)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(name, f"{{field}} must be one of {', '.join(choices)}, got {{value}}", value=value)


def _check_number(name: str, value: Any, what: str, ok: Any) -> None:
    good = isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        good = good and math.isfinite(value) and bool(ok(value))
    except OverflowError:  # an int too large for a float
        good = False
    if not good:
        raise ConfigError(name, f"{{field}} must be {what}, got {{value}}", value=value)
