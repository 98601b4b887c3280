"""The fused plan's entries for max-unpooling models and for pool-first under other activations.

``convolab.engine.plan.build_plan`` asks :func:`entry` first at every layer; where it answers None the
plan's own rewrites apply. A MaxUnpool2D needs the switches of its MaxPool2D from the same forward
pass: the entries that write or read them are :class:`SwitchOp` s, which ``run_plan`` calls with a
dict it makes afresh for each call (``{pool index: switches}``), so nothing is kept between calls
and one plan may run in several threads at once.

1. **Switch-keeping pools.** ``Conv2D(relu) -> MaxPool2D`` still pools first (ReLU on the pooled
   tensor). The switches must be the layer-by-layer model's: it pools ``relu(z)``, where a window whose
   values are all <= 0 holds only zeros and max pooling keeps the *first* real position of the window
   (no later value is greater), while pooling ``z`` finds its true arg-max. So
   ``switches = where(pooled <= 0, first, argmax of z)``, with ``first`` the switches of the pool on a
   plane of zeros (computed once per geometry, by the layer's own pool). Elsewhere the two agree: a
   positive maximum stays the same number after ReLU, no zero ties it, and among equal maxima both
   keep the first; a NaN stays NaN under ReLU and wins both pools (the last NaN), and ``NaN <= 0`` is
   false, so its position is kept. ``Conv2D(linear)`` pools ``z`` either way: its switches are the
   pool's. Other activations keep their layer-by-layer order on a switch-keeping pool: sigmoid and tanh
   saturate to equal floats (and map neighbouring floats to one value), so the first of several tied
   maxima is not ``z``'s arg-max, and a switch at another pixel moves a whole unpooled value.
   Where the C kernels are built (``native``), a non-overlapping pool without leading padding runs
   as ``pool_relu`` / ``conv_pool_relu``, whose one-byte winner (``DEAD`` where the pooled value is
   <= 0) gives the same switches, kept as those bytes (``Winners``) and made int64 only for a path
   that needs them: ``origin + offset[winner]`` with ``offset[DEAD] = 0`` (the window's first position
   is its origin there). ``conv_pool_relu`` sums the convolution in another order than
   oneDNN, so where two of a window's values lie within rounding of each other its switch can differ
   from the layer path's, as its values differ by rounding.
2. **Fast unpooling.** A MaxUnpool2D whose pool's windows do not overlap (strides >= pool size) gets
   switches without duplicates, so ``max_unpool2d(..., disjoint=True)`` is one scatter into zeros whose
   backward is a gather; overlapping windows keep the general, deterministic path. Where the pool ran
   as a C kernel its winners stay the switches (``Winners``: one byte per pooled value, no int64
   indices) and ``pool.unpool`` writes each output once and gathers in the backward. A
   ``Conv2D(relu) -> MaxUnpool2D`` pair runs as one entry: the ReLU is applied in that pass (the PyTorch
   path: ``torch.relu`` then the scatter).
3. **Pool first for other monotone activations** (pools without switches). For an elementwise ``f``
   that is non-decreasing, ``max(f(a), f(b)) == f(max(a, b))``: linear, relu, sigmoid, tanh and
   leaky_relu (slope 0.2 > 0) are; softmax (it mixes the channels) is not. So ``Conv2D(f) -> MaxPool2D``
   runs ``f(pool(conv(x)))`` on the pooled tensor. The values are the same up to float rounding of
   ``f``'s kernel. The gradient goes to ``z``'s arg-max; the layer-by-layer model sends it to the first
   arg-max of ``f(z)``, the same pixel unless ``f`` maps two of the window's values to one float (a tie
   after saturation, or below ``f``'s resolution); there both are valid subgradients of the max, and
   where sigmoid rounded to 1.0 (tanh to +-1.0) its derivative as autograd computes it (``y * (1 - y)``,
   ``1 - y**2``) is 0 on both paths (tests/test_plan_switches.py). ReLU pairs stay with the plan's own
   rule (and its C kernels).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F

from convolab.engine.native import conv_pool as kernel_conv_pool
from convolab.engine.native import pool as kernel_pool
from convolab.engine.pool_geometry import ceil_len, conv_geometry, kernel_geometry, pool_op
from convolab.layers import activation_functions

if TYPE_CHECKING:
    from convolab.layers.conv import Conv2D
    from convolab.layers.pooling import MaxPool2D
    from convolab.model.walk import Step

Switches = dict[int, "torch.Tensor | Winners"]
# A plan entry (convolab.engine.plan.PlanStep): (fn or SwitchOp, activates, the step of its last layer)
Entry = tuple["Callable[[torch.Tensor], torch.Tensor] | SwitchOp", bool, "Step"]
PoolFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Geometry = tuple[tuple[int, int], tuple[int, int]]  # (pool size, output size) of a C pooling kernel
Offsets = tuple[torch.Tensor, torch.Tensor]  # winner_offsets: (table, origin)

# Elementwise and non-decreasing: pooling commutes with them (see the module docstring, 3).
MONOTONE = frozenset({"linear", "relu", "sigmoid", "tanh", "leaky_relu"})
# Where the switches of the pooled pre-activation give the layer-by-layer model's switches (1).
SWITCH_EXACT = frozenset({"linear", "relu"})


class Winners:
    """Switches as the C pooling kernels leave them: uint8 ``(N, Ho, Wo, C)`` window positions
    ``i * kw + j`` (``DEAD``, where the pooled value was <= 0, stands for the window's first
    position) of non-overlapping windows without leading padding. ``Unpool`` scatters at them in C
    where it can; ``switches()`` gives the int64 flat indices of ``MaxPool2D.forward_with_switches``
    for every other path."""

    def __init__(
        self, winners: torch.Tensor, kernel: Geometry, in_hw: tuple[int, int], offsets: Offsets
    ) -> None:
        self.winners, self.kernel, self.in_hw, self.offsets = winners, kernel, in_hw, offsets

    def switches(self) -> torch.Tensor:
        table, origin = self.offsets
        return (table.to(self.winners.device)[self.winners.long()] + origin.to(self.winners.device)).permute(
            0, 3, 1, 2
        )


def as_switches(value: torch.Tensor | Winners) -> torch.Tensor:
    """The int64 switches ``(N, C, Ho, Wo)`` of a pool, whichever form the plan keeps them in."""
    return value.switches() if isinstance(value, Winners) else value


class SwitchOp:
    """A plan entry that writes or reads this call's switches: ``op(x, switches) -> y``."""

    def __call__(self, x: torch.Tensor, switches: Switches) -> torch.Tensor:
        raise NotImplementedError


def pool_with_switches(pool: MaxPool2D, in_hw: tuple[int, int]) -> PoolFn:
    """``x -> (pooled, switches)`` of ``pool`` on an ``in_hw`` input, as ``pool.forward_with_switches``:
    symmetric padding is max_pool2d's own; padding at the end only, where ``ceil_mode`` gives the same
    windows, is ``ceil_mode`` (no ``F.pad`` copy, indices already in the unpadded plane); other padding
    runs the layer's own call."""
    h, w = in_hw
    top, bottom, left, right = pool.pads(h, w)
    k, s = pool.pool_size, pool.strides
    if top == bottom and left == right:
        return lambda x: F.max_pool2d(x, k, s, padding=(top, left), return_indices=True)
    if not top and not left:
        expect = ((h + bottom - k[0]) // s[0] + 1, (w + right - k[1]) // s[1] + 1)
        if (ceil_len(h, k[0], s[0]), ceil_len(w, k[1], s[1])) == expect:
            return lambda x: F.max_pool2d(x, k, s, ceil_mode=True, return_indices=True)
    return pool.forward_with_switches


class FirstPositions:
    """The switches of ``pool`` on a plane of zeros: each window's first real position (cached per
    device; int64 ``(1, 1, Ho, Wo)``)."""

    def __init__(self, pool: MaxPool2D, in_hw: tuple[int, int]) -> None:
        self.pool, self.in_hw = pool, in_hw
        self._cache: dict[torch.device, torch.Tensor] = {}

    def get(self, device: torch.device) -> torch.Tensor:
        first = self._cache.get(device)
        if first is None:  # the same value whichever thread computes it first
            zeros = torch.zeros((1, 1, *self.in_hw), device=device)
            with torch.no_grad():
                first = self.pool.forward_with_switches(zeros)[1]
            self._cache[device] = first
        return first


class PoolSwitches(SwitchOp):
    """A switch-keeping MaxPool2D on its own (its input is not a plannable conv): pool, keep switches."""

    rewrite = "switches"  # what convolab.engine.explain reports

    def __init__(self, pool: MaxPool2D, step: Step) -> None:
        _, h, w = step.input_shape
        self.index, self.pool = step.index, pool_with_switches(pool, (h, w))

    def __call__(self, x: torch.Tensor, switches: Switches) -> torch.Tensor:
        y, switches[self.index] = self.pool(x)
        return y


class Unpool(SwitchOp):
    """A MaxUnpool2D: its pool's switches of this call, scattered (``disjoint`` where provably so);
    with ``conv``, a ``Conv2D(relu)`` before it, ``unpool(relu(conv(x)))`` (the ReLU inside the C pass
    where the switches are a C pool's winners)."""

    def __init__(self, pool: MaxPool2D, pool_index: int, out_hw: tuple[int, int], conv: Conv2D | None = None):
        self.pool_index, self.out_hw, self.conv = pool_index, out_hw, conv
        self.disjoint = all(s >= k for s, k in zip(pool.strides, pool.pool_size, strict=True))
        name = "unpool scatter" if self.disjoint else "unpool"
        self.rewrite = f"conv + {name}" if conv is not None else name  # what explain reports

    def __call__(self, x: torch.Tensor, switches: Switches) -> torch.Tensor:
        from convolab.layers.upsampling import max_unpool2d

        relu = self.conv is not None
        if self.conv is not None:
            x = self.conv.call(x)
        kept = switches[self.pool_index]
        if isinstance(kept, Winners) and kernel_pool.unpool_eligible(x):
            return kernel_pool.unpool(x, kept.winners, kept.kernel[0], self.out_hw, relu=relu)
        x = torch.relu(x) if relu else x
        return max_unpool2d(x, as_switches(kept), self.out_hw, check=False, disjoint=self.disjoint)


class ConvPoolSwitches(SwitchOp):
    """``Conv2D(relu | linear) -> MaxPool2D`` keeping switches: pool first (module docstring, 1)."""

    rewrite = "pool-first (switches)"  # what convolab.engine.explain reports

    def __init__(self, conv: Conv2D, pool: MaxPool2D, steps: tuple[Step, Step], use: Collection[str]) -> None:
        conv_step, pool_step = steps
        _, h, w = conv_step.input_shape
        _, ch, cw = conv_step.output_shape
        _, ph, pw = pool_step.output_shape
        self.conv, self.index, self.in_hw = conv, pool_step.index, (ch, cw)
        self.relu = conv.activation == "relu"
        self.pool = pool_with_switches(pool, (ch, cw))
        self.first = FirstPositions(pool, (ch, cw))
        kernel = kernel_geometry(pool, (ch, cw), (ph, pw)) if self.relu else None
        self.geometry: Geometry | None = kernel  # where a C kernel's winners can be the switches
        self.kernel: Geometry | None = kernel if "pool" in use else None  # the pool kernel may run
        # the C unpool belongs to the pool kernel: without it, conv_pool's winners become int64 switches
        self.keep_winners = "pool" in use
        self.fused: kernel_conv_pool.Geometry | None = None
        if kernel is not None and "conv_pool" in use:
            self.fused = conv_geometry(conv, (h, w), (ch, cw), kernel)
        self.offsets = winner_offsets(kernel, (ch, cw)) if kernel is not None else None

    def __call__(self, x: torch.Tensor, switches: Switches) -> torch.Tensor:
        y, switches[self.index] = self.run(x)
        return y

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | Winners]:
        conv, w = self.conv, self.conv.weight
        if self.fused is not None and w is not None and kernel_conv_pool.eligible(x, w, self.fused):
            y, winner = kernel_conv_pool.conv_pool_relu(x, w, conv.bias, self.fused, winners=True)
            return y, self.from_winners(winner)
        z = conv.call(x)
        if self.kernel is not None and kernel_pool.eligible(z, self.kernel[0]):
            y, winner = kernel_pool.pool_relu(z, *self.kernel, winners=True)
            return y, self.from_winners(winner)
        y, idx = self.pool(z)
        if not self.relu:
            return y, idx
        idx = torch.where(y <= 0, self.first.get(y.device), idx)  # before ReLU, in place, changes y
        return torch.relu_(y), idx

    def from_winners(self, winner: torch.Tensor) -> Winners | torch.Tensor:
        """The C kernels' winners ``(N, Ho, Wo, C)`` kept as the switches (``DEAD``, where the pooled
        value is <= 0, stands for the window's first position); as int64 switches where the pool
        kernel (and with it the C unpool) is not in use."""
        if self.geometry is None or self.offsets is None:
            raise RuntimeError("no C pooling geometry: the kernels' winners cannot occur")
        kept = Winners(winner, self.geometry, self.in_hw, self.offsets)
        return kept if self.keep_winners else kept.switches()


def winner_offsets(kernel: Geometry, in_hw: tuple[int, int]) -> Offsets:
    """``(table, origin)`` for a C pooling kernel's geometry ``(pool size, output size)`` on an
    ``in_hw`` plane (non-overlapping windows, no leading padding): ``table[i * kw + j] = i * W + j``, the
    flat offset of window position ``(i, j)`` (256 entries; ``DEAD`` = 255 -> 0, the window's first
    position), and ``origin`` ``(Ho, Wo, 1)``, each window's flat first position."""
    ((kh, kw), (ho, wo)), w = kernel, in_hw[1]
    table = torch.zeros(256, dtype=torch.long)
    for p in range(kh * kw):
        table[p] = (p // kw) * w + p % kw
    rows = torch.arange(ho).mul_(kh * w).view(ho, 1, 1)
    cols = torch.arange(wo).mul_(kw).view(1, wo, 1)
    return table, rows + cols


Op = Callable[[torch.Tensor], torch.Tensor]


def conv_pool(conv: Conv2D, pool: Op) -> Op:
    """``f(pool(conv(x)))`` for a monotone non-decreasing activation ``f`` of the conv (module doc, 3)."""
    act = activation_functions.get(conv.activation)

    def run(x: torch.Tensor) -> torch.Tensor:
        return act(pool(conv.call(x)))

    run.rewrite = "pool-first"  # type: ignore[attr-defined]  # what convolab.engine.explain reports
    return run


def entry(steps: Sequence[Step], i: int, use: Collection[str], pool_first: bool) -> tuple[Entry, int] | None:
    """``(plan entry, layers it covers)`` for ``steps[i]`` where this module's rules apply, else None
    (``build_plan``'s own rules: ReLU pairs without switches, sub-pixel convolutions, single layers)."""
    from convolab.layers.conv import Conv2D
    from convolab.layers.pooling import MaxPool2D
    from convolab.layers.upsampling import MaxUnpool2D

    step = steps[i]
    layer = step.layer
    if isinstance(layer, MaxUnpool2D):
        return _unpool(step, None), 1
    nxt = steps[i + 1] if i + 1 < len(steps) else None
    if (
        isinstance(layer, Conv2D)
        and layer.activation == "relu"
        and nxt
        and isinstance(nxt.layer, MaxUnpool2D)
    ):
        return _unpool(nxt, layer), 2
    if pool_first and nxt is not None and isinstance(layer, Conv2D) and isinstance(nxt.layer, MaxPool2D):
        act = layer.activation or "linear"
        if nxt.keeps_switches and act in SWITCH_EXACT:
            return (ConvPoolSwitches(layer, nxt.layer, (step, nxt), use), False, nxt), 2
        if not nxt.keeps_switches and act in MONOTONE - {"relu"}:
            _, ch, cw = step.output_shape
            return (conv_pool(layer, pool_op(nxt.layer, (ch, cw))), False, nxt), 2
    if step.keeps_switches and isinstance(layer, MaxPool2D):
        return (PoolSwitches(layer, step), False, step), 1
    return None


def _unpool(step: Step, conv: Conv2D | None) -> tuple[Unpool, bool, Step]:
    if step.link is None or step.pool_index is None:
        raise ValueError(f"{step.where}: a MaxUnpool2D without its pool in the walk")
    out_hw = (step.output_shape[1], step.output_shape[2])
    return Unpool(cast("MaxPool2D", step.link.pool), step.pool_index, out_hw, conv), False, step
