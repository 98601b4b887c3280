"""A faster, numerically equivalent forward pass for convolab's Sequential (run by ``engine.predict``).

The model's own ``forward`` runs layer by layer. This plan rewrites three families of patterns into
cheaper kernels that compute the same function (same parameters, same autograd graph up to float
rounding); every other layer runs as itself. Measurements are in BENCHMARKS.md and docs/speed.md.

1. ``Conv2D(activation=relu) -> MaxPool2D`` (``pool_first``): pool first, then ReLU (in place). ReLU is
   monotone, so ``max(relu(a), relu(b)) == relu(max(a, b))`` exactly, and the gradient reaches the same
   input (the window's arg-max; zero where the max is <= 0). The ReLU and its backward then touch a 4x
   smaller tensor. A 'same' pool that pads only at the end (7 -> 4) uses ``ceil_mode`` instead of an
   ``F.pad`` copy. Non-overlapping windows with no leading padding (the lecture's pools) run pool and
   ReLU as one C pass each way (``convolab.engine.native.pool``, same values bit for bit) where the
   kernels are built; on the data itself (a first layer: few channels, no input gradient) the
   convolution joins them (``convolab.engine.native.conv_pool``: its full-resolution output is never stored).
2. ``subpixel``: a square ``UpSampling2D(nearest)`` or ``BedOfNails2D`` followed by a stride-1,
   undilated Conv2D ('same'/'valid') or Conv2DTranspose (any padding, output_padding): one phase
   convolution (``convolab.engine.phase_conv``, where the algebra is): a low-resolution convolution
   with ``O*s*s`` folded filters and ``pixel_shuffle``, no upsampled tensor, forward or backward. Where
   the kernels are built, the shuffle with its crop and ReLU is one C pass
   (``convolab.engine.native.shuffle``), and a layer with many inputs and few outputs (an image's
   last: 16 -> 1) runs as one direct C convolution over each phase's taps
   (``convolab.engine.native.subpixel``).
3. ``transpose``: a lone stride-1, undilated Conv2DTranspose (any padding, output_padding) is one
   ``F.conv2d`` with its flipped kernel and explicit pads (``phase_conv.FlippedConv``): no full
   output, no crop copy, the bias inside the convolution. A lone strided one (square stride s > 1)
   is bed of nails + the stride-1 case, so the nails phase convolution computes it
   (``phase_conv.strided_transpose``, tested). The plan uses it where the subpixel C kernel runs it
   (an image's last layer, 16 -> 1: 2.4 ms per training step against the layer's 4.4 ms,
   docs/speed.md), falling back to the layer's own call for an input the kernel declines; elsewhere
   only with ``STRIDED_TRANSPOSE`` (off): through oneDNN, for k = 3, s = 2 its folded 2 x 2 windows
   multiply 16 taps per input pixel where ``F.conv_transpose2d`` multiplies 9, and it measured
   slower (8 -> 16: 4.9-6.2 ms against 4.5 ms).

``convolab.engine.switches`` is asked first at every layer: it plans models with MaxUnpool2D switches
(``unpool=False`` declines them) and pools first under the other monotone activations; its module
docstring has the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

import torch
from torch import nn

from convolab.engine import native as kernel_set
from convolab.engine import phase_conv
from convolab.engine.native import conv_pool as kernel_conv_pool
from convolab.engine.native import pool as kernel_pool
from convolab.engine.native import trace
from convolab.engine.pool_geometry import conv_geometry as _conv_geometry
from convolab.engine.pool_geometry import kernel_geometry as _kernel_geometry
from convolab.engine.pool_geometry import pool_op as _pool_op
from convolab.engine.switches import Switches, SwitchOp
from convolab.engine.switches import entry as switch_entry

if TYPE_CHECKING:
    from convolab.layers.conv import Conv2D
    from convolab.layers.pooling import MaxPool2D
    from convolab.model.walk import Step

Fn = Callable[[torch.Tensor], torch.Tensor]
# One entry of a plan: (fn, activates, step). ``fn(x)`` is the pre-activation of one or more fused
# layers (``fn(x, switches)`` for a ``SwitchOp``: convolab.engine.switches); ``step`` is the walk's step
# of the last of them, whose activation still has to be applied when ``activates`` (and the model's
# logits are not asked of this step).
PlanStep = tuple["Fn | SwitchOp", bool, "Step"]

# Whether ``transpose`` rewrites every lone Conv2DTranspose of stride s > 1, not only those the subpixel
# C kernel computes: off, the others measured slower than the layer's own ``F.conv_transpose2d``
# (docs/speed.md; benchmarks/phase_speed.py).
STRIDED_TRANSPOSE = False


def build_plan(
    model: nn.Module,
    *,
    pool_first: bool = True,
    subpixel: bool = True,
    transpose: bool = True,
    unpool: bool = True,
    native: bool | Collection[str] = True,
) -> list[PlanStep] | None:
    """``[(fn, activates, step)]`` for a convolab Sequential, or None when the model is not plannable.

    ``fn(x)`` is the pre-activation of one or more fused layers; ``activates`` says whether
    ``step.layer``'s (the last fused layer's) activation still has to be applied (skipped for the
    walk's logits step when logits are asked). ``pool_first``, ``subpixel``, ``transpose`` and
    ``unpool`` switch the rewrites off one at a time (benchmarks/rewrites.py; tests/test_fastpath.py
    checks that each one changes the plan); ``native=False`` keeps convolab's C kernels out (PyTorch's
    ops only; the same function), or names the ones to use (``convolab.engine.native.NAMES``).
    ``unpool=False`` declines models with MaxUnpool2D switches (None: they run layer by layer);
    ``convolab.engine.switches`` plans them, and pools first under every monotone activation
    (``pool_first=False`` switches that off too).
    """
    use = kernel_set.select(native)
    from convolab.model.sequential import Sequential

    if not isinstance(model, Sequential) or (model.walk.uses_switches and not unpool):
        return None
    steps = model.walk.steps  # the model's one walk: shapes, pairing, logits (convolab.model.walk)
    if not all(step.layer.built for step in steps):
        return None
    plan: list[PlanStep] = []
    i = 0
    while i < len(steps):
        own = switch_entry(steps, i, use, pool_first)  # switches, and pool-first beyond ReLU
        if own is not None:
            plan.append(own[0])
            i += own[1]
            continue
        pair = _fused_pair(steps[i], steps[i + 1], use, pool_first, subpixel) if i + 1 < len(steps) else None
        if pair is None:
            plan.append(_single(steps[i], use) if transpose else (steps[i].layer.call, True, steps[i]))
            i += 1
        else:
            plan.append(pair)
            i += 2
    return plan


def _fused_pair(
    first: Step, second: Step, use: frozenset[str], pool_first: bool, subpixel: bool
) -> PlanStep | None:
    """The plan's entry for two consecutive layers that one of the rewrites fuses, else None."""
    from convolab.layers.conv import Conv2D
    from convolab.layers.pooling import MaxPool2D

    layer, nxt = first.layer, second.layer
    if pool_first and isinstance(layer, Conv2D) and layer.activation == "relu" and isinstance(nxt, MaxPool2D):
        return _conv_pool_op(layer, nxt, first, second, use), False, second
    return _phase_pair(first, second, use) if subpixel else None


def _phase_pair(first: Step, second: Step, use: frozenset[str]) -> PlanStep | None:
    """A square nearest UpSampling2D or BedOfNails2D before a stride-1, undilated 'same'/'valid'
    Conv2D or a stride-1, undilated Conv2DTranspose (any padding and output_padding): one phase
    convolution (``convolab.engine.phase_conv``), else None."""
    from convolab.layers.conv import Conv2D
    from convolab.layers.conv_transpose import Conv2DTranspose
    from convolab.layers.upsampling import BedOfNails2D, UpSampling2D

    up, conv = first.layer, second.layer
    nearest = isinstance(up, UpSampling2D) and up.interpolation == "nearest"
    if not (nearest or isinstance(up, BedOfNails2D)) or not isinstance(up, (UpSampling2D, BedOfNails2D)):
        return None
    if up.size[0] != up.size[1] or not isinstance(conv, (Conv2D, Conv2DTranspose)):
        return None
    if tuple(conv.strides) != (1, 1) or tuple(conv.dilation_rate) != (1, 1):
        return None
    if isinstance(conv, Conv2D) and conv.padding not in ("same", "valid"):
        return None
    # logits=True skips the logits step's activation: no kernel may fuse that ReLU
    relu = bool(use & {"shuffle", "subpixel"}) and conv.activation == "relu" and not second.logits
    return phase_conv.after_upsampling(up, conv, first.input_shape, use, relu), not relu, second


def _single(step: Step, use: frozenset[str]) -> PlanStep:
    """A lone layer's entry: an undilated, square-stride Conv2DTranspose rewritten (stride 1: one
    flipped ``F.conv2d``; stride s > 1: the nails phase convolution where the subpixel C kernel
    computes it, or everywhere with ``STRIDED_TRANSPOSE``), anything else the layer's own call."""
    from convolab.layers.conv_transpose import Conv2DTranspose

    layer = step.layer
    if not isinstance(layer, Conv2DTranspose) or tuple(layer.dilation_rate) != (1, 1):
        return layer.call, True, step
    s = layer.strides
    if s == (1, 1):
        return phase_conv.FlippedConv(layer, step.input_shape), True, step
    if s[0] != s[1]:
        return layer.call, True, step
    relu = bool(use & {"shuffle", "subpixel"}) and layer.activation == "relu" and not step.logits
    op = phase_conv.strided_transpose(layer, step.input_shape, use, relu)
    if not STRIDED_TRANSPOSE:  # only where the subpixel C kernel computes it; the layer elsewhere
        if not op.kernel_fits():
            return layer.call, True, step
        op.otherwise = layer.call  # an input the kernel declines (bf16 autocast, CUDA): the layer's call
    return op, not relu, step


def _conv_pool_op(conv: Conv2D, pool: MaxPool2D, conv_step: Step, pool_step: Step, use: frozenset[str]) -> Fn:
    """``relu(pool(conv(x)))`` of a ``Conv2D(relu) -> MaxPool2D`` pair (the walk's steps of the two),
    pool first, with the C kernels in ``use`` where the geometry allows them."""
    _, h, w = conv_step.input_shape
    _, ch, cw = conv_step.output_shape
    _, ph, pw = pool_step.output_shape
    pooling = _kernel_geometry(pool, (ch, cw), (ph, pw))
    fused = None
    if pooling and "conv_pool" in use:
        fused = _conv_geometry(conv, (h, w), (ch, cw), pooling)
    geometry = pooling if "pool" in use else None
    return _conv_pool_relu(conv, _pool_op(pool, (ch, cw)), geometry, fused)


def _conv_pool_relu(
    conv: Conv2D,
    pool: Callable[[torch.Tensor], torch.Tensor],
    geometry: tuple[tuple[int, int], tuple[int, int]] | None,
    fused: kernel_conv_pool.Geometry | None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        if fused is not None and conv.weight is not None and kernel_conv_pool.eligible(x, conv.weight, fused):
            return kernel_conv_pool.conv_pool_relu(x, conv.weight, conv.bias, fused)
        z = conv.call(x)
        if geometry is not None and kernel_pool.eligible(z, geometry[0]):
            return kernel_pool.pool_relu(z, *geometry)
        return torch.relu_(pool(z))

    run.rewrite = "pool-first"  # type: ignore[attr-defined]  # what explain() reports
    return run


def run_plan(plan: list[PlanStep], x: torch.Tensor, *, logits: bool = False) -> torch.Tensor:
    """Apply a plan from ``build_plan``; ``logits`` skips the activation of the walk's logits step
    (the last layer, or the last before trailing Flatten/Reshape), like ``Sequential``. The switches of
    the model's MaxPool2D layers go to their MaxUnpool2D layers in a dict made for this call alone."""
    switches: Switches = {}
    for i, (fn, activates, step) in enumerate(plan):
        trace.mark(i)
        x = fn(x, switches) if isinstance(fn, SwitchOp) else fn(x)
        if activates and not (logits and step.logits):
            x = step.layer.activate(x)
    return x
