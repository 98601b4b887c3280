"""Training autoencoders: config, loop, batch sources, distributed context, checkpoints, run folders.

Modules (docs/architecture.md, "Training"):

- ``config``      ``TrainConfig`` (no torch: ``convolab train --help`` reads its fields)
- ``session``     ``start``, ``resume``, ``train``: a ``Trainer`` from a config or a run folder
- ``loop``        ``Trainer``: the loop, validation, checkpoints, the final evaluation
- ``sources``     ``BatchSource`` and the in-memory ``TensorSource``; ``folder_source``: streaming
- ``batchorder``  the epoch permutation, global batches and rank shares, seeded noise
- ``context``     ``LocalContext`` (one process); ``distributed``: ``DistContext`` (torchrun + DDP)
- ``fit``         ``fit``, ``resume``: the Python front end (``convolab.fit``); ``run``: ``Run``, ``load_run``
- ``arrays``      images given as arrays (``fit``'s in-memory datasets, ``predict``, ``evaluate``)
- ``keras_api``   ``predict``, ``evaluate`` of a model on arrays (``model.predict``, Keras style)
- ``run_data``    ``RunData``, ``load_run_data``; ``run_model``: ``build_seeded_model``, ``checkpoint_model``
- ``run_checkpoints``  the commit order of checkpoints, ``open_resume``
- ``report``      figures, evaluate, reconstruct, compare of a run folder (``evaluation``, ``figures``)
- ``checkpoint``, ``runfolder``, ``progress``, ``streaming``, ``stream_data``, ``device``

The names below are imported on first use, so ``import convolab.train.config`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "config",
    "ConfigError": "config",
    "Trainer": "loop",
    "TrainResult": "loop",
    "NonFiniteLossError": "loop",
    "TrainingInterrupted": "loop",
    "start": "session",
    "resume": "session",
    "train": "session",
    "draw_figures": "session",
    "BatchSource": "sources",
    "TensorSource": "sources",
    "add_noise": "batchorder",
    "derive_seed": "batchorder",
    "epoch_permutation": "batchorder",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "load_run": "run",
    "Run": "run",
    "History": "run",
    "fit": "fit",
    "predict": "keras_api",
    "evaluate": "keras_api",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'convolab.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
