"""The learning-rate schedule of a run: the LR of every step as a pure function of the global step.

``convolab train --lr-schedule`` picks one (``TrainConfig.lr_schedule``):

- ``constant``: ``--lr`` at every step (the default; the optimizer's LR is never touched).
- ``cosine``: cosine decay from ``--lr`` to 0 over the planned steps, ``lr * (1 + cos(pi * s / S)) / 2``
  for step ``s`` of ``S`` (``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=S, eta_min=0)``).
- ``onecycle``: PyTorch's ``OneCycleLR(max_lr=lr, total_steps=S, pct_start=warmup,
  anneal_strategy="cos", div_factor=25, final_div_factor=1e4, three_phase=False,
  cycle_momentum=False)``: a cosine warm-up from ``lr / 25`` to ``lr`` over the first ``warmup`` share
  of the steps, then a cosine down to ``lr / 25 / 1e4`` at the last step. Adam's betas stay Keras's
  (no momentum cycling).

Step ``s`` (0-based: the number of optimizer steps taken before it) of a run of ``S`` planned steps
(``epochs * steps per epoch``) trains with :func:`lr_at` ``(s)``, set on the optimizer's parameter
groups before the step. Being a function of ``(s, S)`` only, a resumed run needs no scheduler state:
the global step in the checkpoint is enough (``--resume`` stays bitwise exact), and every rank under
torchrun computes the same value from the same global step. No torch here: plain arithmetic.
"""

from __future__ import annotations

import math

__all__ = ["DEFAULT_WARMUP", "ONECYCLE_DIV", "ONECYCLE_FINAL_DIV", "SCHEDULES", "lr_at"]

SCHEDULES = ("constant", "cosine", "onecycle")
DEFAULT_WARMUP = 0.3  # onecycle's warm-up share when none is given (OneCycleLR's pct_start)
ONECYCLE_DIV = 25.0  # the warm-up starts at lr / 25 (OneCycleLR's div_factor)
ONECYCLE_FINAL_DIV = 1e4  # ... and the cycle ends at lr / 25 / 1e4 (its final_div_factor)


def lr_at(schedule: str, lr: float, step: int, total: int, warmup: float | None = None) -> float:
    """The learning rate of global step ``step`` (0-based) of ``total`` planned steps.

    ``warmup``: onecycle's warm-up share in [0, 1) (None: :data:`DEFAULT_WARMUP`); the other schedules
    take none. ``constant`` returns ``lr`` itself.

    >>> lr_at("constant", 1e-3, 7, 10)
    0.001
    >>> [round(lr_at("cosine", 1.0, s, 4), 4) for s in range(4)]
    [1.0, 0.8536, 0.5, 0.1464]
    >>> [round(lr_at("onecycle", 1.0, s, 10, 0.3), 4) for s in (0, 2, 9)]
    [0.04, 1.0, 0.0]
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"lr schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ValueError(f"lr schedule: the planned steps must be an integer >= 1, got {total!r}")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < total:
        raise ValueError(f"lr schedule: step must be an integer in [0, {total}), got {step!r}")
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        return lr * (1 + math.cos(math.pi * step / total)) / 2
    return _onecycle(lr, step, total, DEFAULT_WARMUP if warmup is None else warmup)


def _onecycle(lr: float, step: int, total: int, warmup: float) -> float:
    """OneCycleLR's two phases, with its arithmetic (the same floats for the same step)."""
    if not 0 <= warmup < 1:
        raise ValueError(f"lr schedule onecycle: warmup must be in [0, 1), got {warmup!r}")
    initial = lr / ONECYCLE_DIV
    final = initial / ONECYCLE_FINAL_DIV
    peak_step = float(warmup * total) - 1  # the step that trains at the peak
    if step <= peak_step:
        if peak_step == 0:  # a one-step warm-up is at the peak (OneCycleLR would divide by zero)
            return lr
        return _cos(initial, lr, step / peak_step)
    return _cos(lr, final, (step - peak_step) / (total - 1 - peak_step))


def _cos(start: float, end: float, pct: float) -> float:
    """Cosine from ``start`` (pct 0) to ``end`` (pct 1), written as OneCycleLR's ``_annealing_cos``."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
