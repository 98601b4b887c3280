"""Moved to ``convolab.train.checkpoint``; this path stays for the modules outside training that use it."""

from convolab.train.checkpoint import (
    CHECKPOINT_FORMAT,
    FORMAT_VERSION,
    OPTIMIZER_FILE,
    STATE_FILE,
    WEIGHTS_FILE,
    Checkpoint,
    check_weights,
    load_checkpoint,
    load_state,
    resolve_checkpoint,
    save_checkpoint,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "FORMAT_VERSION",
    "OPTIMIZER_FILE",
    "STATE_FILE",
    "WEIGHTS_FILE",
    "Checkpoint",
    "check_weights",
    "load_checkpoint",
    "load_state",
    "resolve_checkpoint",
    "save_checkpoint",
]
