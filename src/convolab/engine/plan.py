"""A faster, numerically equivalent forward pass for convolab's Sequential (run by ``engine.predict``).

The model's own ``forward`` runs layer by layer. This plan rewrites two patterns of the lecture's
autoencoders into cheaper kernels that compute the same function (same parameters, same autograd
graph up to float rounding); every other layer runs as itself. Measurements are in BENCHMARKS.md.

1. ``Conv2D(activation=relu) -> MaxPool2D``: pool first, then ReLU (in place). ReLU is monotone, so
   ``max(relu(a), relu(b)) == relu(max(a, b))`` exactly, and the gradient reaches the same input (the
   window's arg-max; zero where the max is <= 0). The ReLU and its backward then touch a 4x smaller tensor.
   A 'same' pool that pads only at the end (7 -> 4) uses ``ceil_mode`` instead of an ``F.pad`` copy.
   Non-overlapping windows with no leading padding (the lecture's pools) run pool and ReLU as one C
   pass each way (``convolab.engine.native.pool``, same values bit for bit) where the kernels are built;
   on the data itself (a first layer: few channels, no input gradient) the convolution joins them
   (``convolab.engine.native.conv_pool``: its full-resolution output is never stored).
2. ``UpSampling2D(nearest, s) -> Conv2D(k, stride 1)``: a sub-pixel convolution. Output row ``s*i + a``
   reads upsampled rows ``s*i + a - pad_top + t`` = low-resolution rows ``i + floor((a - pad_top + t) / s)``,
   so each of the ``s*s`` output phases is an ordinary convolution of the *low-resolution* input with a
   kernel made by summing taps that land on the same low row; one convolution with ``O*s*s`` filters and
   ``pixel_shuffle`` produce all phases. No upsampled tensor exists, forward or backward. Where the
   kernels are built, the shuffle with its crop and ReLU is one C pass (``convolab.engine.native.shuffle``),
   and a layer with many inputs and few outputs (an image's last: 16 -> 1) runs as one direct C
   convolution that skips each phase's structurally zero taps (``convolab.engine.native.subpixel``).
   (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
   Convolutional Neural Network", for the sub-pixel/phase view.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from convolab.engine import native as kernel_set
from convolab.engine.native import conv_pool as kernel_conv_pool
from convolab.engine.native import pool as kernel_pool
from convolab.engine.native import shuffle as kernel_shuffle
from convolab.engine.native import subpixel as kernel_subpixel
from convolab.engine.pool_geometry import conv_geometry as _conv_geometry
from convolab.engine.pool_geometry import kernel_geometry as _kernel_geometry
from convolab.engine.pool_geometry import pool_op as _pool_op
from convolab.engine.switches import SwitchOp
from convolab.engine.switches import entry as switch_entry

if TYPE_CHECKING:
    from convolab.layers.conv import Conv2D
    from convolab.layers.pooling import MaxPool2D
    from convolab.layers.upsampling import UpSampling2D
    from convolab.model.walk import Step

Fn = Callable[[torch.Tensor], torch.Tensor]
# One entry of a plan: (fn, activates, step). ``fn(x)`` is the pre-activation of one or more fused
# layers (``fn(x, switches)`` for a ``SwitchOp``: convolab.engine.switches); ``step`` is the walk's step
# of the last of them, whose activation still has to be applied when ``activates`` (and the model's
# logits are not asked of this step).
PlanStep = tuple["Fn | SwitchOp", bool, "Step"]


def _phase_taps(s: int, k: int, pad_before: int) -> tuple[torch.Tensor, int]:
    """Selection tensor ``M[a, u, t] = 1`` where phase ``a``'s tap ``t`` reads low row offset ``u + dmin``.

    Returns ``(M, dmin)``; ``M`` has shape ``(s, K', k)`` with ``K' = dmax - dmin + 1``.
    """
    offs = [[(a - pad_before + t) // s for t in range(k)] for a in range(s)]  # floor division
    dmin = min(min(r) for r in offs)
    dmax = max(max(r) for r in offs)
    m = torch.zeros(s, dmax - dmin + 1, k)
    for a in range(s):
        for t in range(k):
            m[a, offs[a][t] - dmin, t] = 1.0
    return m, dmin


class _SubPixelConv:
    """``conv(upsample_nearest(x, s))`` as one low-resolution conv + ``pixel_shuffle`` (see module doc)."""

    def __init__(
        self,
        up: UpSampling2D,
        conv: Conv2D,
        in_hw: tuple[int, int],
        native: Collection[str] = frozenset(),
        relu: bool = False,
    ) -> None:
        """``native``: the C kernels to use ("subpixel": the whole convolution, else "shuffle": its
        shuffle); ``relu``: apply the conv's ReLU here (in the kernel's pass where one runs)."""
        from convolab.layers.padding import padding_amounts

        s = up.size[0]
        self.s, self.conv, self.shuffle, self.relu = s, conv, "shuffle" in native, relu
        kh, kw = conv.kernel_size
        h, w = in_hw  # low-resolution input size
        (pt, pb), (pl, pr) = (
            padding_amounts(h * s, kh, 1, conv.padding),
            padding_amounts(w * s, kw, 1, conv.padding),
        )
        self.out_hw = (h * s + pt + pb - kh + 1, w * s + pl + pr - kw + 1)
        self.mh, dh = _phase_taps(s, kh, pt)
        self.mw, dw = _phase_taps(s, kw, pl)
        self._fold: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}  # (kh*kw, s*s*K'h*K'w)
        ph, pw = math.ceil(self.out_hw[0] / s), math.ceil(self.out_hw[1] / s)
        # low-res padding so each phase yields ph x pw outputs; negative values crop
        self.pads = (
            -dw,
            pw - 1 + dw + self.mw.shape[1] - 1 - (w - 1),
            -dh,
            ph - 1 + dh + self.mh.shape[1] - 1 - (h - 1),
        )
        self.fused = None  # the C kernel's geometry (square folded windows only)
        if "subpixel" in native and self.mh.shape[1] == self.mw.shape[1]:
            spans = kernel_subpixel.phase_spans
            self.fused = kernel_subpixel.Geometry(
                s, self.mh.shape[1], (dh, dw), spans(self.mh), spans(self.mw), self.out_hw
            )

    def weight(self, taps_last: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The folded filters ``(O*s*s, C, K'h, K'w)`` in pixel_shuffle's channel order (``taps_last``:
        ``(O*s*s, K'h, K'w, C)``, the C kernel's layout) and the bias repeated per phase.

        ``W'[o, a, b, c, u, v] = sum_{t, l} Mh[a, u, t] Mw[b, v, l] w[o, c, t, l]``: one matrix
        product of the ``(O*C, kh*kw)`` filters with the fixed selection ``(s*s*K'h*K'w, kh*kw)``
        (an einsum of the three costs ~5x more per step, forward and backward).
        """
        w = self.conv.weight  # (O, C, kh, kw)
        if w is None:
            raise RuntimeError(f"{self.conv.label}: not built, no weights to fold (build the model first)")
        key = (w.device, w.dtype)
        if key not in self._fold:  # one host-to-device copy per device, not per step
            fold = torch.einsum("aut,bvl->abuvtl", self.mh, self.mw)
            self._fold[key] = fold.reshape(-1, fold.shape[-2] * fold.shape[-1]).t().contiguous().to(w)
        o, c, kh, kw = w.shape
        s, uh, uw = self.s, self.mh.shape[1], self.mw.shape[1]
        w2 = (w.reshape(o * c, kh * kw) @ self._fold[key]).view(o, c, s, s, uh, uw)
        if taps_last:
            w2 = w2.permute(0, 2, 3, 4, 5, 1).reshape(o * s * s, uh, uw, c)
        else:
            w2 = w2.permute(0, 2, 3, 1, 4, 5).reshape(o * s * s, c, uh, uw)
        b = self.conv.bias
        return w2, (b.repeat_interleave(s * s) if b is not None else None)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv.weight
        if self.fused is not None and w is not None and kernel_subpixel.eligible(x, w, self.fused):
            wt, b2 = self.weight(taps_last=True)
            return kernel_subpixel.subpixel_conv(x, wt, b2, self.fused, relu=self.relu)
        w2, b2 = self.weight()
        left, right, top, bottom = self.pads
        if left == right and top == bottom and left >= 0 and top >= 0:
            y = F.conv2d(x, w2, b2, padding=(top, left))
        else:
            y = F.conv2d(F.pad(x, (left, right, top, bottom)), w2, b2)
        if self.shuffle and kernel_shuffle.eligible(y, self.s):  # one pass, crop (and ReLU) included
            return kernel_shuffle.shuffle_crop(y, self.s, self.out_hw, relu=self.relu)
        y = F.pixel_shuffle(y, self.s)  # (N, O, ph*s, pw*s)
        y = y[:, :, : self.out_hw[0], : self.out_hw[1]]
        return torch.relu(y) if self.relu else y


def build_plan(
    model: nn.Module,
    *,
    pool_first: bool = True,
    subpixel: bool = True,
    native: bool | Collection[str] = True,
    unpool: bool = True,
) -> list[PlanStep] | None:
    """``[(fn, activates, step)]`` for a convolab Sequential, or None when the model is not plannable.

    ``fn(x)`` is the pre-activation of one or more fused layers; ``activates`` says whether
    ``step.layer``'s (the last fused layer's) activation still has to be applied (skipped for the
    walk's logits step when logits are asked). ``pool_first`` and ``subpixel`` switch the two rewrites
    off one at a time (for the ablation in BENCHMARKS.md; tests/test_fastpath.py checks that each one
    changes the plan); ``native=False`` keeps convolab's C kernels out (PyTorch's ops only; the same
    function), or names the ones to use (``convolab.engine.native.NAMES``). ``unpool=False`` declines
    models with MaxUnpool2D switches (None, as before ``convolab.engine.switches``, which plans them
    and pools first under every monotone activation; ``pool_first=False`` switches that off too).
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
            plan.append(own[0])  # type: ignore[arg-type]
            i += own[1]
            continue
        pair = _fused_pair(steps[i], steps[i + 1], use, pool_first, subpixel) if i + 1 < len(steps) else None
        if pair is None:
            plan.append((steps[i].layer.call, True, steps[i]))
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
    from convolab.layers.upsampling import UpSampling2D

    layer, nxt = first.layer, second.layer
    if pool_first and isinstance(layer, Conv2D) and layer.activation == "relu" and isinstance(nxt, MaxPool2D):
        return _conv_pool_op(layer, nxt, first, second, use), False, second
    if subpixel and isinstance(layer, UpSampling2D) and isinstance(nxt, Conv2D) and _subpixel_ok(layer, nxt):
        # logits=True skips the logits step's activation: no kernel may fuse that ReLU
        relu = bool(use & {"shuffle", "subpixel"}) and nxt.activation == "relu" and not second.logits
        _, h, w = first.input_shape
        return _SubPixelConv(layer, nxt, (h, w), use, relu), not relu, second
    return None


def _subpixel_ok(up: UpSampling2D, conv: Conv2D) -> bool:
    """Nearest square upsampling before a stride-1, undilated 'same'/'valid' convolution."""
    return (
        up.interpolation == "nearest"
        and up.size[0] == up.size[1]
        and tuple(conv.strides) == (1, 1)
        and tuple(conv.dilation_rate) == (1, 1)
        and conv.padding in ("same", "valid")
    )


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

    return run


def run_plan(plan: list[PlanStep], x: torch.Tensor, *, logits: bool = False) -> torch.Tensor:
    """Apply a plan from ``build_plan``; ``logits`` skips the activation of the walk's logits step
    (the last layer, or the last before trailing Flatten/Reshape), like ``Sequential``. The switches of
    the model's MaxPool2D layers go to their MaxUnpool2D layers in a dict made for this call alone."""
    switches: dict[int, torch.Tensor] = {}
    for fn, activates, step in plan:
        x = fn(x, switches) if isinstance(fn, SwitchOp) else fn(x)
        if activates and not (logits and step.logits):
            x = step.layer.activate(x)
    return x
