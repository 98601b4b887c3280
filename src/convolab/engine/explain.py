"""What runs for each layer of a model in training: ``explain(model)``.

The fused plan (``convolab.engine.plan``) rewrites some layers into cheaper kernels that compute the
same function, and within a rewrite a C kernel (``convolab.engine.native``) may run instead of
PyTorch's ops, depending on shapes, dtype and device. ``explain`` answers from what happens, not from
a second copy of those rules: it builds the plan, runs one forward pass of a small batch through it
(on the model's device and layout, with autograd on, as in training) and records which C kernels each
entry of the plan called.

Example:
    >>> for row in explain(prepare(Sequential.from_spec("seed-upsampling"), "cpu")):
    ...     print(row)
    enc_conv1 + enc_pool1: pool-first (native: conv_pool)
    ...
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import torch
from torch import nn

from convolab.engine.device import memory_format, model_device
from convolab.engine.native.trace import recording
from convolab.engine.plan import build_plan, run_plan
from convolab.model.sequential import Sequential

__all__ = ["PlanRow", "explain"]

BATCH = 2  # images of the probe batch: enough for every kernel's eligibility, small for any model


@dataclass(frozen=True)
class PlanRow:
    """One entry of a plan: the layers it computes, the rewrite (``""``: the layer as itself) and the
    C kernels its forward pass called (``()``: PyTorch's ops only)."""

    layers: tuple[str, ...]
    rewrite: str
    kernels: tuple[str, ...]

    @property
    def runs(self) -> str:
        """``"native: k1, k2"`` or ``"PyTorch"``."""
        return f"native: {', '.join(self.kernels)}" if self.kernels else "PyTorch"

    def __str__(self) -> str:
        what = self.rewrite or "as itself"
        return f"{' + '.join(self.layers)}: {what} ({self.runs})"


def explain(
    model: nn.Module, *, native: bool | Collection[str] = True, **flags: bool
) -> list[PlanRow] | None:
    """Per plan entry, what runs in a training step of ``model`` (a built convolab ``Sequential``);
    None where the model has no plan (it runs layer by layer). ``native`` and ``flags`` are
    ``build_plan``'s (switch a rewrite or kernels off to see what changes)."""
    plan = build_plan(model, native=native, **flags)
    if plan is None or not isinstance(model, Sequential):
        return None
    device = model_device(model)
    steps = model.walk.steps
    shape = steps[0].input_shape
    x = torch.rand(BATCH, *shape, device=device).contiguous(memory_format=memory_format(device))
    model.check_input(x)  # refuses a batch whose activations would pass limits.MAX_ACTIVATION_BYTES
    rows, done = [], 0
    with torch.enable_grad(), recording() as log:
        run_plan(plan, x)  # marks each entry's start in the log (trace.mark), kernels record their names
    per_entry: list[list[str]] = [[] for _ in plan]
    current = -1
    for item in log:
        if isinstance(item, int):
            current = item
        elif current >= 0:
            per_entry[current].append(item)
    for (fn, _, step), kernels in zip(plan, per_entry, strict=True):
        layers = tuple(s.layer.name or type(s.layer).__name__ for s in steps[done : step.index + 1])
        rows.append(PlanRow(layers, getattr(fn, "rewrite", ""), tuple(dict.fromkeys(kernels))))
        done = step.index + 1
    return rows
