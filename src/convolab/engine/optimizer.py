"""The optimizer ``convolab train`` runs: ``make_adam``, Keras's Adam as one fused kernel."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ADAM_BETAS", "ADAM_EPS", "make_adam"]

# Keras's Adam: beta_1=0.9, beta_2=0.999, epsilon=1e-7 (PyTorch's default epsilon is 1e-8).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-7


def make_adam(model: nn.Module, lr: float = 1e-3, **kwargs) -> torch.optim.Adam:
    """The optimizer ``convolab train`` runs (and the benchmarks time): ``torch.optim.Adam`` over
    ``model``'s parameters with Keras's betas and epsilon, fused (one kernel for all parameters) where
    the parameters' device supports it. The same algorithm as the unfused Adam; only the kernels differ
    (tests/test_fastpath.py compares them)."""
    params = list(model.parameters())
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") for p in params)
    kwargs.setdefault("fused", fused or None)
    kwargs.setdefault("betas", ADAM_BETAS)
    kwargs.setdefault("eps", ADAM_EPS)
    return torch.optim.Adam(params, lr=lr, **kwargs)
