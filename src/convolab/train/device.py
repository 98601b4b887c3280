"""Devices: ``auto``/``cpu``/``cuda``/``cuda:N`` as a ``torch.device`` (not in the config: needs torch)."""

from __future__ import annotations

import torch


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
