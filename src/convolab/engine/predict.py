"""Inference on the hot path: the forward function (the fused plan where there is one) and ``predict``.

Example:
    >>> forward = forward_fn(model)          # f(x, logits): the plan of a convolab Sequential
    >>> y = predict(model, x_test)           # inference_mode, big batches, NCHW output
    >>> eval_chunk(32, (1, 28, 28))          # images per evaluation chunk of a run at batch 32
    1024
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import torch
from torch import nn

from convolab.engine.device import autocast, check_amp, model_device, to_layout
from convolab.engine.plan import build_plan, run_plan
from convolab.limits import EVAL_CHUNK_BYTES, EVAL_CHUNK_IMAGES

__all__ = ["eval_chunk", "forward_fn", "predict"]


def forward_fn(
    model: nn.Module, fuse: bool = True, native: bool | Collection[str] = True
) -> Callable[..., torch.Tensor]:
    """``f(x, logits)`` running ``model``: its fused plan (``convolab.engine.plan``; with convolab's C
    kernels unless ``native=False``) when ``fuse`` and the model is a plannable convolab Sequential,
    else ``model(x, logits=logits)``."""
    plan = build_plan(model, native=native) if fuse else None
    if plan is None:
        return lambda x, logits=False: model(x, logits=logits)
    check = getattr(model, "check_input", None)  # a Sequential's public input (and memory) check

    def run(x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        if check is not None:
            check(x)
        return run_plan(plan, x, logits=logits)

    return run


def eval_chunk(batch_size: int, image_shape: tuple[int, ...] | torch.Size) -> int:
    """Images per evaluation chunk (validation, test, ``predict``) of a run trained at ``batch_size``.

    ``max(batch_size, n)`` where ``n`` images of ``image_shape`` ``(C, H, W)`` fit in
    ``limits.EVAL_CHUNK_BYTES`` as float32 (at most ``limits.EVAL_CHUNK_IMAGES``): the memory of an
    evaluation pass follows the batch (and the image), never the size of the split. 28x28 images give
    1,024 (the chunk before this rule); 128x128 give 64; 256x256 give ``max(batch_size, 16)``.

    >>> eval_chunk(32, (1, 28, 28)), eval_chunk(32, (1, 128, 128)), eval_chunk(2048, (1, 28, 28))
    (1024, 64, 2048)
    """
    per_image = 4 * max(1, int(torch.Size(image_shape).numel()))
    return max(int(batch_size), 1, min(EVAL_CHUNK_IMAGES, EVAL_CHUNK_BYTES // per_image))


def predict(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 1024,
    *,
    logits: bool = False,
    fuse: bool = True,
    amp: str | None = None,
    native: bool | Collection[str] = True,
) -> torch.Tensor:
    """Run ``model`` over ``images`` in batches without autograd; returns NCHW-contiguous outputs.

    Args:
        model: a ``prepare``-d module with ``forward(x, *, logits=False)``.
        images: ``(N, C, H, W)`` on any device; batches are moved to the model's device.
        batch_size: images per forward pass (large batches amortise per-call overhead).
        logits: return pre-sigmoid outputs instead of the model's activations.
        fuse: use the fused plan (``convolab.engine.plan``) when the model allows it.
        amp: ``None`` or ``"bf16"`` (autocast; outputs are returned as float32).
        native: use convolab's C kernels where the plan has them (``TrainStep``'s switch).

    Output shape:
        ``(N, C', H', W')`` on ``images.device``.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"predict: batch_size must be a positive int, got {batch_size!r}")
    check_amp("predict", amp)
    if images.shape[0] == 0:
        raise ValueError(f"predict: images is empty, shape {tuple(images.shape)}")
    device = model_device(model)
    was_training = model.training
    model.eval()
    forward = forward_fn(model, fuse, native)
    outs = []
    try:
        with torch.inference_mode(), autocast(device, amp):
            for chunk in images.split(batch_size):
                xb = to_layout(chunk, device)
                yb = forward(xb, logits)
                outs.append(yb.float().to(images.device).contiguous())
    finally:
        model.train(was_training)
    return torch.cat(outs)
