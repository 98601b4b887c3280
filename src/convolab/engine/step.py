"""One optimisation step of training: ``TrainStep``.

Numerically the plain PyTorch loop (forward, loss, backward, ``optimizer.step``, ``zero_grad``); the
speed comes from how tensors are laid out and from skipping work that the plain loop does for nothing.
Measurements behind each choice are in BENCHMARKS.md.

- the fused plan and channels_last (``convolab.engine.plan``, ``convolab.engine.device``).
- BCE from logits: ``binary_cross_entropy_with_logits`` on the pre-sigmoid output is Keras's formula
  without its 1e-7 clipping, numerically stable, and one fused kernel instead of sigmoid + log + log.
- ``zero_grad(set_to_none=True)``: no fill kernel per parameter per step.

Example:
    >>> model = prepare(model, "cpu")
    >>> step = TrainStep(model, make_adam(model), loss="bce")
    >>> loss = step(x, x)  # detached 0-dim tensor
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import torch
import torch.nn.functional as F
from torch import nn

from convolab.engine.device import autocast, check_amp, memory_format, model_device
from convolab.engine.predict import forward_fn

__all__ = ["LOSSES", "TrainStep"]

LOSSES = ("bce", "mse")


class TrainStep:
    """One optimisation step, numerically identical to the plain PyTorch loop.

    Args:
        model: a module with ``forward(x, *, logits=False)`` (convolab's Sequential); already
            ``prepare``-d.
        optimizer: any torch optimizer over the model's parameters.
        loss: ``"bce"`` (binary cross-entropy from logits, Keras's ``binary_crossentropy``) or
            ``"mse"`` (mean squared error on the sigmoid output).
        fuse: run convolab Sequentials through their fused plan (``convolab.engine.plan``).
        amp: ``None`` (fp32, the default) or ``"bf16"``: autocast the forward pass to bfloat16 (for
            GPUs with bf16 tensor cores; parameters, gradients, optimizer state and the loss stay fp32).
        compile: ``None`` or a ``torch.compile`` mode for the forward pass (``"reduce-overhead"`` uses
            CUDA graphs on a GPU). Off by default: on CPU it measured slower (BENCHMARKS.md).
        native: run the plan's C kernels where they apply (``convolab.engine.native``); ``False`` keeps
            to PyTorch's own ops (the same function; for measuring what the kernels buy), or a
            collection of kernel names (``convolab.engine.native.NAMES``) to use only those.

    Input shape:
        ``x`` and ``target``: ``(N, C, H, W)`` on the model's device.

    Output shape:
        the batch's mean loss, a detached 0-dim tensor (call ``.item()`` only when you need it: that
        synchronises a GPU).

    Example:
        >>> step = TrainStep(model, torch.optim.Adam(model.parameters(), 1e-3), "bce")
        >>> for idx in torch.randperm(len(x)).split(256):
        ...     loss = step(x[idx], x[idx])
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss: str = "bce",
        *,
        fuse: bool = True,
        amp: str | None = None,
        compile: str | None = None,
        native: bool | Collection[str] = True,
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"TrainStep: loss must be one of {LOSSES}, got {loss!r}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"TrainStep: optimizer must be a torch.optim.Optimizer, got {type(optimizer)}")
        check_amp("TrainStep", amp)
        if compile is not None and not isinstance(compile, str):
            raise TypeError(f"TrainStep: compile must be None or a torch.compile mode, got {compile!r}")
        self.amp, self.compile = amp, compile
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.device = model_device(model)
        from convolab.engine.native import select

        self.fuse, self.native = fuse, select(native)  # checked now, not at the first step
        # built on first use, when every layer has its parameters
        self._forward: Callable[..., torch.Tensor] | None = None

    def forward(self) -> Callable[..., torch.Tensor]:
        """The forward pass ``f(x, logits)`` the step differentiates: the model's fused plan
        (``forward_fn``), compiled if asked; built on first use."""
        if self._forward is None:
            self._forward = forward_fn(self.model, self.fuse, self.native)
            if self.compile is not None:
                self._forward = torch.compile(self._forward, mode=self.compile, dynamic=False)
        return self._forward

    def loss_scale(
        self, x: torch.Tensor, target: torch.Tensor, global_n: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """``(x, target, scale)`` of a step: ``scale`` None takes the batch's mean loss, a number
        ``sum * scale``. A single process's batch is the whole global batch: the mean, ``global_n``
        unused (``convolab.train.distributed.DistributedTrainStep`` scales its shard by it)."""
        return x, target, None

    def compute_loss(
        self, x: torch.Tensor, target: torch.Tensor, global_n: int | None = None
    ) -> torch.Tensor:
        """Forward pass and the loss (the batch mean; see ``loss_scale``), with autograd (no backward)."""
        x, target, scale = self.loss_scale(x, target, global_n)
        forward = self.forward()
        with autocast(self.device, self.amp):
            out = forward(x, logits=self.loss == "bce")
        out = out.float()  # the loss in fp32 whatever the forward's precision
        loss_fn = F.binary_cross_entropy_with_logits if self.loss == "bce" else F.mse_loss
        if scale is None:
            return loss_fn(out, target)
        return loss_fn(out, target, reduction="sum") * scale

    def __call__(self, x: torch.Tensor, target: torch.Tensor, *, global_n: int | None = None) -> torch.Tensor:
        """One step on ``(x, target)``; ``global_n``: images in the whole global batch (``loss_scale``)."""
        fmt = memory_format(self.device)
        x = x.contiguous(memory_format=fmt) if x.dim() == 4 else x
        target = target.contiguous(memory_format=fmt) if target.dim() == 4 else target
        if not all(m.training for m in self.model.modules()):  # train() sets an attribute on every
            self.model.train()  # module, each through nn.Module.__setattr__: ~0.1 ms a step, skipped
        loss = self.compute_loss(x, target, global_n)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()
