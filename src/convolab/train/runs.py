"""A run's pieces shared by training, evaluation and figures: its data, its model, its checkpoints.

``load_run_data`` turns a TrainConfig into tensors (train / validation / evaluation set, labels, mean
training image) the same way every time, so ``evaluate`` sees exactly the held-out images training
did. ``load_run`` rebuilds a trained model from a run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from convolab.train.checkpoint import (
    STATE_FILE,
    check_resumable,
    check_weights,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from convolab.train.config import RESUME_OVERRIDES, TrainConfig
from convolab.train.device import resolve_device

if TYPE_CHECKING:
    from convolab.model.sequential import Sequential


@dataclass
class RunData:
    """The tensors of a run, float32 in [0, 1], ``(N, C, H, W)``, on CPU."""

    train: torch.Tensor
    val: torch.Tensor
    eval_images: torch.Tensor
    eval_labels: torch.Tensor | None
    eval_name: str  # "test" or "validation (held out of the test split)"
    mean_image: torch.Tensor  # (C, H, W): the mean training image, the trivial baseline
    classes: list[str] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])  # type: ignore[return-value]


def load_run_data(
    config: TrainConfig, *, eval_dataset: str | None = None, eval_data_dir: str | None = None
) -> RunData:
    """Load the splits ``config`` names; ``eval_dataset`` swaps in another dataset's test split
    (found in ``eval_data_dir`` when given)."""
    from convolab.data import load_dataset, train_val_split

    if config.dataset == MEMORY_DATASET:  # images given to convolab.fit, kept in the run folder
        return _memory_run_data(config, eval_dataset, eval_data_dir)
    ds = load_dataset(config.dataset, split=config.train_split, data_dir=config.data_dir, limit=config.limit)
    train, val = train_val_split(ds, config.val_fraction, seed=config.seed)
    if eval_dataset is not None and eval_dataset != config.dataset:
        ev = load_dataset(eval_dataset, split="test", data_dir=eval_data_dir, limit=config.limit)
        name = f"{eval_dataset} test"
    elif config.train_split == "train":
        ev = load_dataset(config.dataset, split="test", data_dir=config.data_dir, limit=config.limit)
        name = "test"
    else:  # only the test split exists: the validation part is held out, so it is the evaluation set
        ev, name = val, f"validation (held out of the {config.train_split} split)"
    train_x = train.float()
    return RunData(
        train=train_x,
        val=val.float(),
        eval_images=ev.float(),
        eval_labels=ev.labels,
        eval_name=name,
        mean_image=train_x.mean(dim=0),
        classes=ev.classes,
    )


MEMORY_DATASET = "memory"  # config.dataset of a run trained on arrays (convolab.fit): train.arrays


def memory_run_data(
    train: torch.Tensor, val: torch.Tensor, eval_images: torch.Tensor, eval_name: str
) -> RunData:
    """A ``RunData`` of in-memory float32 ``(N, C, H, W)`` splits (what ``convolab.fit`` trains on)."""
    return RunData(train=train, val=val, eval_images=eval_images, eval_labels=None, eval_name=eval_name,
                   mean_image=train.mean(dim=0))  # fmt: skip


def _memory_run_data(config: TrainConfig, eval_dataset: str | None, eval_data_dir: str | None) -> RunData:
    from convolab.train.arrays import read_arrays

    if config.out is None:
        raise ValueError("a run on in-memory images keeps them in its folder, but this config names none")
    data = memory_run_data(*read_arrays(Path(config.out)))
    if eval_dataset is not None and eval_dataset != MEMORY_DATASET:
        from convolab.data import load_dataset

        ev = load_dataset(eval_dataset, split="test", data_dir=eval_data_dir, limit=config.limit)
        data.eval_images, data.eval_labels, data.classes = ev.float(), ev.labels, ev.classes
        data.eval_name = f"{eval_dataset} test"
    return data


def build_model(source: Any, seed: int, data_shape: tuple[int, ...] | None = None) -> Sequential:
    """Build a model from a zoo name, spec path or spec dict, with weights initialised from ``seed``."""
    from convolab.model.sequential import Sequential

    torch.manual_seed(seed)
    model = Sequential.from_spec(source)
    if data_shape is not None and tuple(model.input_shape) != tuple(data_shape):
        raise ValueError(
            f"model {source if isinstance(source, str) else model.to_spec().name!r} takes inputs of shape "
            f"{tuple(model.input_shape)} but the dataset's images are {tuple(data_shape)}"
        )
    if data_shape is not None and tuple(model.output_shape) != tuple(data_shape):
        raise ValueError(  # an autoencoder's target is its input: checked before any folder or step
            f"model {source if isinstance(source, str) else model.to_spec().name!r} outputs shape "
            f"{tuple(model.output_shape)} but trains to reconstruct the dataset's images "
            f"{tuple(data_shape)}; its last layer must give the images' channels and size"
        )
    return model


def model_info(model: Sequential) -> dict[str, Any]:
    """Name, parameter count and MACs per image (from the static analysis) of a model."""
    from convolab.analysis.summary import analyze

    spec = model.to_spec()
    info = analyze(spec.to_dict())
    return {"model": spec.name, "params": int(info.total_params), "macs": int(info.total_macs)}


# The order checkpoints are committed in when one save writes several: `best` before `last`. A kill
# between the two leaves `best` new and `last` old; resuming from `last` retrains that epoch, which is
# deterministic, so it improves again and commits both: the run ends bitwise equal, best and summary
# included. (The other order would leave a `last` that names a `best` never written.)
COMMIT_ORDER = ("best", "last")


def save_run_checkpoint(
    run_dir: Path, which: tuple[str, ...], model: torch.nn.Module, state: dict, optimizer: dict | None
) -> Path:
    """Save the checkpoints ``which`` of ``run_dir`` in ``COMMIT_ORDER``; returns the last one's path."""
    from convolab.train.checkpoint import kill_point

    weights = model.state_dict()
    names = sorted(which, key=COMMIT_ORDER.index)
    path = run_dir / names[-1]
    for i, name in enumerate(names):
        if i:
            kill_point(f"between-{names[i - 1]}-{name}")
        path = save_checkpoint(run_dir / name, weights=weights, state=state, optimizer=optimizer)
    return path


def open_resume(run: str | Path, overrides: dict[str, Any]):
    """The ``last`` checkpoint of ``run`` and its config with ``overrides`` applied (validated).

    A run killed before its first checkpoint has only its ``config.json``: the checkpoint is then
    None and the run starts over from it (the same numbers, since a run is a function of its config).
    """
    from convolab.train.runfolder import CONFIG_FILE, read_json

    run = Path(run)
    if not run.exists():
        raise ValueError(f"--resume {run}: no such run folder")
    ckpt = None
    try:
        ckpt = load_checkpoint(resolve_checkpoint(run, "last"))
    except ValueError as exc:
        if not (run / CONFIG_FILE).is_file() or (run / "last").exists() or (run / "best").exists():
            raise ValueError(f"--resume {run}: {exc}") from None
    if ckpt is not None:
        try:
            check_resumable(ckpt.state, ckpt.path / STATE_FILE)
        except ValueError as exc:
            raise ValueError(f"--resume {run}: {exc}") from None
    config = TrainConfig.from_dict(ckpt.config if ckpt is not None else read_json(run / CONFIG_FILE))
    bad = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if bad:
        raise ValueError(
            f"resume continues the stored configuration; {', '.join(bad)} cannot change "
            f"(only {', '.join(RESUME_OVERRIDES)} can)"
        )
    for key, value in overrides.items():
        setattr(config, key, value)
    config.out = str(ckpt.path.parent if ckpt is not None else run)
    return ckpt, config.validate()


@dataclass
class LoadedRun:
    """A trained model rebuilt from a run folder, with its config and checkpoint state."""

    path: Path
    checkpoint: Path
    model: Sequential
    config: TrainConfig
    state: dict[str, Any]


def load_run(run: str | Path, which: str = "best", device: str = "auto") -> LoadedRun:
    """Rebuild the model of ``run`` (a run folder or a checkpoint folder) from its checkpoint."""
    from convolab.engine.device import prepare
    from convolab.model.sequential import Sequential

    ckpt_path = resolve_checkpoint(run, which)
    ckpt = load_checkpoint(ckpt_path, with_optimizer=False)
    try:
        model = Sequential.from_spec(ckpt.spec)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"checkpoint {ckpt_path} holds an invalid model spec: {exc}") from None
    check_weights(model, ckpt.weights, ckpt_path)
    model.load_state_dict(ckpt.weights)
    prepare(model, resolve_device(device))
    model.eval()
    config = TrainConfig.from_dict(ckpt.config)
    run_dir = ckpt_path.parent if ckpt_path.name in ("best", "last", ".best.old", ".last.old") else ckpt_path
    config.out = str(run_dir)  # where the run is now (it may have been moved since)
    return LoadedRun(path=run_dir, checkpoint=ckpt_path, model=model, config=config, state=ckpt.state)
