"""Where the hot path runs: the device, its memory layout, and bf16 autocast.

- channels_last on CPU: oneDNN's convolutions run NHWC natively; NCHW inputs are reordered on every
  call. Measured ~1.5x per epoch on the lecture's first autoencoder (BENCHMARKS.md).
- bf16 autocast (``amp="bf16"``): bf16 keeps fp32's exponent range, so no loss scaling is needed
  (unlike fp16); convolutions run in bf16, losses and reductions stay fp32.

Example:
    >>> model = prepare(model, "cpu")   # on the device, in its layout
    >>> x = to_layout(images, "cpu")    # a batch in the same layout
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "AMP_DTYPES",
    "autocast",
    "bf16_supported",
    "check_amp",
    "memory_format",
    "model_device",
    "prepare",
    "to_layout",
]

# Mixed precision: bf16 keeps fp32's exponent range, so no loss scaling is needed (unlike fp16).
AMP_DTYPES = {"bf16": torch.bfloat16}


def memory_format(device: torch.device) -> torch.memory_format:
    """NHWC on CPU (oneDNN's native layout); NCHW elsewhere until measured otherwise."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def bf16_supported(device: torch.device | str = "cpu") -> bool:
    """Whether bf16 autocast is fast on ``device``: a CUDA GPU with bf16, or a CPU that oneDNN runs bf16 on.

    oneDNN's bf16 check is true on CPUs with AVX-512 (native bf16 with avx512_bf16 or AMX); elsewhere
    bf16 would be emulated and slower than fp32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def check_amp(where: str, amp: str | None) -> None:
    """Refuse an ``amp`` other than ``None`` or a key of ``AMP_DTYPES``; ``where`` names the caller."""
    if amp is not None and amp not in AMP_DTYPES:
        raise ValueError(f"{where}: amp must be None or one of {tuple(AMP_DTYPES)}, got {amp!r}")


def autocast(device: torch.device, amp: str | None) -> torch.autocast:
    """bf16 autocast on ``device`` (convolutions in bf16; losses and reductions stay fp32); off for None."""
    dtype = AMP_DTYPES[amp] if amp is not None else torch.bfloat16  # dtype unused when disabled
    return torch.autocast(device.type, dtype=dtype, enabled=amp is not None)


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s parameters (CPU for a module without any)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def to_layout(x: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Move a 4-D image batch to ``device`` in the memory format the fast path wants there.

    Args:
        x: images ``(N, C, H, W)``; other ranks are only moved.
        device: target device; ``None`` keeps ``x.device``.
    """
    dev = torch.device(device) if device is not None else x.device
    x = x.to(dev)
    if x.dim() == 4:
        x = x.contiguous(memory_format=memory_format(dev))
    return x


def prepare(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """Move ``model`` to ``device`` and into the fast memory format there; returns the same module.

    Only the model changes: the process's allocator is tuned by training alone
    (``convolab.engine.allocator.configure_allocator``, called when a training run readies its model:
    ``train.run_model.ready_model``).

    Args:
        model: any module whose 4-D parameters are convolution kernels.
        device: ``"cpu"``, ``"cuda"``, ``torch.device``.
    """
    dev = torch.device(device)
    model.to(dev)
    # Parameters must be 4-D for channels_last to matter; other parameters are unaffected.
    # Module.to(memory_format=...) exists at run time; torch's stubs omit the keyword
    model.to(memory_format=memory_format(dev))  # type: ignore[call-overload]
    return model
