"""Moved to ``convolab.train.config``; this path stays for the modules outside training that use it."""

from convolab.train.config import TrainConfig

__all__ = ["TrainConfig"]
