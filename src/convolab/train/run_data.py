"""The data of a run: ``RunData`` and ``load_run_data``, the same tensors for training, evaluation, figures.

``load_run_data`` turns a TrainConfig into tensors (train / validation / evaluation set, labels, mean
training image) the same way every time, so ``evaluate`` sees exactly the held-out images training
did. A run trained on arrays (``convolab.fit``, dataset ``memory``) reads them back from its folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from convolab.train.config import TrainConfig

__all__ = ["MEMORY_DATASET", "RunData", "load_run_data", "memory_run_data"]


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
    return RunData(
        train=train,
        val=val,
        eval_images=eval_images,
        eval_labels=None,
        eval_name=eval_name,
        mean_image=train.mean(dim=0),
    )


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
