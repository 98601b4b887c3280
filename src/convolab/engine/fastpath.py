"""The hot path of training and inference: device placement, one optimisation step, batched predict.

Everything here is numerically the plain PyTorch loop (forward, loss, backward, ``optimizer.step``,
``zero_grad``); the speed comes from how tensors are laid out and from skipping work that the plain loop
does for nothing. Measurements behind each choice are in BENCHMARKS.md.

- channels_last on CPU: oneDNN's convolutions run NHWC natively; NCHW inputs are reordered on every
  call. Measured ~1.5x per epoch on the lecture's first autoencoder (BENCHMARKS.md).
- BCE from logits: ``binary_cross_entropy_with_logits`` on the pre-sigmoid output is Keras's formula
  without its 1e-7 clipping, numerically stable, and one fused kernel instead of sigmoid + log + log.
- ``zero_grad(set_to_none=True)``: no fill kernel per parameter per step.

Example:
    >>> model = prepare(model, "cpu")
    >>> step = TrainStep(model, torch.optim.Adam(model.parameters()), loss="bce")
    >>> loss = step(x, x)  # detached 0-dim tensor
    >>> y = predict(model, x_test)
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import torch
import torch.nn.functional as F
from torch import nn

from convolab.engine import plan as fastplan
from convolab.limits import EVAL_CHUNK_BYTES, EVAL_CHUNK_IMAGES

LOSSES = ("bce", "mse")
# Mixed precision: bf16 keeps fp32's exponent range, so no loss scaling is needed (unlike fp16).
AMP_DTYPES = {"bf16": torch.bfloat16}
HEAP_MAX_BLOCK = 64 << 20  # glibc mmap threshold set by configure_allocator (see there)


def _memory_format(device: torch.device) -> torch.memory_format:
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


def _check_amp(where: str, amp: str | None) -> None:
    if amp is not None and amp not in AMP_DTYPES:
        raise ValueError(f"{where}: amp must be None or one of {tuple(AMP_DTYPES)}, got {amp!r}")


def _autocast(device: torch.device, amp: str | None):
    """bf16 autocast on ``device`` (convolutions in bf16; losses and reductions stay fp32)."""
    dtype = AMP_DTYPES[amp] if amp is not None else torch.bfloat16  # dtype unused when disabled
    return torch.autocast(device.type, dtype=dtype, enabled=amp is not None)


def _model_device(model: nn.Module) -> torch.device:
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
        x = x.contiguous(memory_format=_memory_format(dev))
    return x


_ALLOCATOR_CONFIGURED = False


def configure_allocator() -> bool:
    """Keep large CPU buffers in the process heap (glibc ``mallopt``); True if it took effect.

    glibc serves allocations above its mmap threshold with fresh ``mmap`` pages and returns freed heap
    tops to the OS, so every training step page-faults (and the kernel zeroes) its biggest activations
    again: the 12.8 MB first-layer tensor of the lecture's model at batch 256. Raising the mmap and trim
    thresholds keeps those pages: measured ~1.3x per step (its pool-gradient fill 7.4 -> 1.5 ms, first
    convolution 6.1 -> 2.5 ms; BENCHMARKS.md). Process-wide and idempotent; memory freed by torch stays
    with the process for reuse. A no-op (False) where the C library is not glibc.

    The mmap threshold is ``HEAP_MAX_BLOCK`` (64 MiB), not more: with 1 GiB the heap fragmented, and a
    streamed run's peak memory grew with the number of evaluation chunks (docs/scaling.md, 21-145 MB
    more for 8x the images in tests/test_memory_scaling.py; 3 MB with 64 MiB). Blocks above it (large
    images at large batches) come from mmap again: bounded memory before speed.
    """
    global _ALLOCATOR_CONFIGURED
    if _ALLOCATOR_CONFIGURED:
        return True
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # pragma: no cover - unusual Linux without glibc's soname
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    ok = libc.mallopt(m_mmap_threshold, HEAP_MAX_BLOCK) == 1
    ok = ok and libc.mallopt(m_trim_threshold, 2**31 - 1) == 1
    _ALLOCATOR_CONFIGURED = ok
    return ok


def prepare(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """Move ``model`` to ``device`` and into the fast memory format there; returns the same module.

    On CPU this also calls ``configure_allocator()`` (process-wide: large buffers stay in the heap).

    Args:
        model: any module whose 4-D parameters are convolution kernels.
        device: ``"cpu"``, ``"cuda"``, ``torch.device``.
    """
    dev = torch.device(device)
    if dev.type == "cpu":
        configure_allocator()
    model.to(dev)
    # Parameters must be 4-D for channels_last to matter; other parameters are unaffected.
    # Module.to(memory_format=...) exists at run time; torch's stubs omit the keyword
    model.to(memory_format=_memory_format(dev))  # type: ignore[call-overload]
    return model


def forward_fn(model: nn.Module, fuse: bool = True, native: bool | Collection[str] = True):
    """``f(x, logits)`` running ``model``: its fused plan (``convolab.engine.plan``; with convolab's C
    kernels unless ``native=False``) when ``fuse`` and the model is a plannable convolab Sequential,
    else ``model(x, logits=logits)``."""
    plan = fastplan.build_plan(model, native=native) if fuse else None
    if plan is None:
        return lambda x, logits=False: model(x, logits=logits)
    check = getattr(model, "check_input", None)  # a Sequential's public input (and memory) check

    def run(x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        if check is not None:
            check(x)
        return fastplan.run_plan(plan, x, logits=logits)

    return run


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


def configure_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads (default: the usable cores); returns the number set.

    On a machine shared with other busy processes fewer threads can be faster: with 2 cores and a load
    of ~4, one thread measured 2-9x faster per step than two (OpenMP threads spin-wait for each other at
    every op; BENCHMARKS.md). Pass ``num_threads=1`` there.
    """
    import os

    if num_threads is None:
        try:
            num_threads = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            num_threads = os.cpu_count() or 1
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"configure_threads: num_threads must be a positive int, got {num_threads!r}")
    torch.set_num_threads(num_threads)
    return num_threads


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
        _check_amp("TrainStep", amp)
        if compile is not None and not isinstance(compile, str):
            raise TypeError(f"TrainStep: compile must be None or a torch.compile mode, got {compile!r}")
        self.amp, self.compile = amp, compile
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.device = _model_device(model)
        from convolab.engine.native import select

        self.fuse, self.native = fuse, select(native)  # checked now, not at the first step
        # built on first use, when every layer has its parameters
        self._forward: Callable[..., torch.Tensor] | None = None

    def compute_loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Forward pass and the mean loss, with autograd (no backward)."""
        if self._forward is None:
            self._forward = forward_fn(self.model, self.fuse, self.native)
            if self.compile is not None:
                self._forward = torch.compile(self._forward, mode=self.compile, dynamic=False)
        with _autocast(self.device, self.amp):
            out = self._forward(x, logits=self.loss == "bce")
        out = out.float()  # the loss in fp32 whatever the forward's precision
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(out, target)
        return F.mse_loss(out, target)

    def __call__(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fmt = _memory_format(self.device)
        x = x.contiguous(memory_format=fmt) if x.dim() == 4 else x
        target = target.contiguous(memory_format=fmt) if target.dim() == 4 else target
        if not all(m.training for m in self.model.modules()):  # train() sets an attribute on every
            self.model.train()  # module, each through nn.Module.__setattr__: ~0.1 ms a step, skipped
        loss = self.compute_loss(x, target)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()


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
    _check_amp("predict", amp)
    if images.shape[0] == 0:
        raise ValueError(f"predict: images is empty, shape {tuple(images.shape)}")
    device = _model_device(model)
    was_training = model.training
    model.eval()
    forward = forward_fn(model, fuse, native)
    outs = []
    try:
        with torch.inference_mode(), _autocast(device, amp):
            for chunk in images.split(batch_size):
                xb = to_layout(chunk, device)
                yb = forward(xb, logits)
                outs.append(yb.float().to(images.device).contiguous())
    finally:
        model.train(was_training)
    return torch.cat(outs)
