"""The layer contract shared by every convolab layer, and the registry of layer types.

A convolab layer is a ``torch.nn.Module`` (NCHW inside) that also knows its own arithmetic without
running: output shape, parameter count, multiply-accumulates and the receptive-field map of each
spatial axis. Shapes given to these methods exclude the batch axis: ``(C, H, W)`` for images,
``(features,)`` or any other tuple for vectors and sequences.

Contract (docs/architecture.md, "The layer contract"):

- ``__init__`` validates and normalises every argument; a bad one raises ``ValueError`` naming the layer,
  the argument and the received value.
- ``build(input_shape)`` creates the parameters for that input shape (Keras semantics: weights exist only
  once the input is known); ``forward`` builds lazily on first call if needed.
- ``compute_output_shape``, ``count_params``, ``macs`` are pure arithmetic; ``axis_maps`` describes how
  each output coordinate maps to an interval of input coordinates, per spatial axis.
- ``get_config()`` returns every constructor argument, defaults included, as Keras's ``get_config`` does;
  ``from_config(get_config())`` rebuilds an identical (unbuilt) layer. ``spec_config()`` is what a spec
  entry holds: the same, less the keyword-only arguments other than ``name`` left at their default
  (convolab's extras beyond Keras's arguments, e.g. Conv2D's ``kernel`` and ``trainable``), so that
  ordinary specs stay short; spec files, run folders and reprs use it (``model.spec.layer_dict``).
- ``call(x)`` computes the pre-activation; ``forward(x) = activation(call(x))``. Models use
  ``call`` on their last layer to get logits (BCE from logits).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from convolab import limits
from convolab.layers import activation_functions as _act

Shape = tuple[int, ...]

LAYER_REGISTRY: dict[str, type[Layer]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make ``cls`` buildable from specs by its class name (and its aliases)."""
    for key in (cls.__name__, *cls.aliases):
        if key in LAYER_REGISTRY and LAYER_REGISTRY[key] is not cls:
            raise ValueError(f"layer type {key!r} is registered twice")
        LAYER_REGISTRY[key] = cls
    return cls


def get_layer_class(type_name: str) -> type[Layer]:
    """Look up a layer type by name; unknown names get the closest known names in the error."""
    try:
        return LAYER_REGISTRY[type_name]
    except KeyError:
        import difflib

        near = difflib.get_close_matches(type_name, sorted(LAYER_REGISTRY), n=3, cutoff=0.5)
        hint = (
            f"; did you mean {', '.join(near)}?"
            if near
            else f"; known: {', '.join(sorted(set(c.__name__ for c in LAYER_REGISTRY.values())))}"
        )
        raise ValueError(f"unknown layer type {type_name!r}{hint}") from None


# --------------------------------------------------------------------------------------------------
# Argument normalisation: shared by all layers so every message has the same form.


def layer_error(layer: str, arg: str, value: Any, why: str) -> ValueError:
    return ValueError(f"{layer}: {arg} {why}, got {value!r}")


def check_limit(layer: str, arg: str, value: Any, n: int, limit: int, limit_name: str) -> None:
    """Refuse an argument over a ``convolab.limits`` constant, naming layer, field, value and limit."""
    if n > limit:
        raise limits.LimitError(f"{layer}: {arg} must be <= {limit} (limits.{limit_name}), got {value!r}")


def to_pair(
    layer: str, arg: str, value: Any, *, minimum: int = 1, limit: str | None = None
) -> tuple[int, int]:
    """Normalise an int or a pair of ints (Keras style) to ``(h, w)``; each must be >= ``minimum`` and,
    with ``limit`` (the name of a constant in ``convolab.limits``), <= that limit."""
    if isinstance(value, bool):
        raise layer_error(layer, arg, value, "must be an int or a pair of ints")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise layer_error(layer, arg, value, "must be an int or a pair of ints")
        pair = (int(value[0]), int(value[1]))
    else:
        raise layer_error(layer, arg, value, "must be an int or a pair of ints")
    if min(pair) < minimum:
        raise layer_error(layer, arg, value, f"must be >= {minimum}")
    if limit is not None:
        check_limit(layer, arg, value, max(pair), getattr(limits, limit), limit)
    return pair


def to_positive_int(layer: str, arg: str, value: Any, *, limit: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise layer_error(layer, arg, value, "must be a positive int")
    if limit is not None:
        check_limit(layer, arg, value, value, getattr(limits, limit), limit)
    return value


def to_padding(layer: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in ("same", "valid"):
        raise layer_error(layer, "padding", value, "must be 'same' or 'valid'")
    return value.lower()


def to_bool(layer: str, arg: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise layer_error(layer, arg, value, "must be true or false")
    return value


# --------------------------------------------------------------------------------------------------
# Receptive-field maps (docs/architecture.md, "Receptive fields, exactly").


@dataclass(frozen=True)
class AxisMap:
    """How output coordinate ``u`` of a layer depends on input coordinates along one spatial axis.

    ``kind`` is one of:

    - ``"window"``: conv/pool; ``u`` sees ``[u*stride - pad, u*stride - pad + kernel - 1]`` (``kernel`` is
      the effective, dilated length; with dilation only every ``dilation``-th tap is used, which does not
      change the interval's ends).
    - ``"transpose"``: transposed conv or max unpooling; ``u`` sees the inputs ``v`` with
      ``0 <= u + pad - v*stride < kernel`` (``pad`` is the crop before). For unpooling the window is the
      paired pool's, since the switch position is data dependent.
    - ``"nearest"``: nearest upsampling by ``stride``; ``u`` sees ``u // stride``.
    - ``"nails"``: bed of nails; ``u`` sees ``u // stride`` when ``u % stride == 0``, else nothing.
    - ``"bilinear"``: half-pixel bilinear upsampling by ``stride`` (the taps with non-zero weight).
    - ``"identity"``: ``u`` sees ``u`` (activations, element-wise layers).
    - ``"global"``: every output sees the whole input (Dense on a flattened map, Flatten, Reshape).

    ``in_len`` is the input length of this axis; results are clipped to ``[0, in_len - 1]``.
    ``dilation`` (window/transpose, stride 1 only, as the layers require): the taps are ``dilation``
    apart, so a clipped end moves to the first tap inside the input, not to the border.
    """

    kind: str
    in_len: int
    kernel: int = 1
    stride: int = 1
    pad: int = 0
    dilation: int = 1

    def interval(self, u: int) -> tuple[int, int] | None:
        """Input interval ``(lo, hi)`` (inclusive) that output coordinate ``u`` can see, or None."""
        n, k, s, p = self.in_len, self.kernel, self.stride, self.pad
        if self.kind == "window":
            lo, hi = u * s - p, u * s - p + k - 1
        elif self.kind == "transpose":
            # v*s <= u + p and v*s > u + p - k
            lo, hi = -(-(u + p - k + 1) // s), (u + p) // s
        elif self.kind == "nearest":
            lo = hi = u // s
        elif self.kind == "nails":
            if u % s:
                return None
            lo = hi = u // s
        elif self.kind == "bilinear":
            x = min(max((u + 0.5) / s - 0.5, 0.0), n - 1)
            lo = math.floor(x)
            hi = lo + 1 if x > lo else lo
        elif self.kind == "identity":
            lo = hi = u
        elif self.kind == "global":
            lo, hi = 0, n - 1
        else:  # pragma: no cover - constructed only by layers
            raise ValueError(f"unknown axis map kind {self.kind!r}")
        d = self.dilation
        if d > 1 and self.kind in ("window", "transpose"):  # taps lo, lo + d, ..., hi
            lo, hi = lo + max(-(lo // d), 0) * d, hi - max(-(-(hi - n + 1) // d), 0) * d
        lo, hi = max(lo, 0), min(hi, n - 1)
        return (lo, hi) if lo <= hi else None


# --------------------------------------------------------------------------------------------------


class Layer(nn.Module):
    """Base class of convolab layers. Subclasses implement the arithmetic and ``call``.

    Args:
        name: unique name inside a model; defaults to a snake_case name chosen by the model.
        activation: one of ``convolab.layers.activations.ACTIVATIONS`` (``None`` means linear).
    """

    #: extra names this type is known by in specs (e.g. Keras's ``MaxPooling2D``)
    aliases: ClassVar[tuple[str, ...]] = ()
    #: True for layers whose output is a (C, H, W) feature map
    spatial: ClassVar[bool] = False

    def __init__(self, *, name: str | None = None, activation: str | None = None) -> None:
        super().__init__()
        if name is not None and (not isinstance(name, str) or not name):
            raise layer_error(type(self).__name__, "name", name, "must be a non-empty string")
        self.name = name
        self.activation = _act.normalize(type(self).__name__, activation)
        self._act_fn: Callable[[torch.Tensor], torch.Tensor] = _act.get(self.activation)
        self.built_shape: Shape | None = None
        # where parameters made by a later build() go: .to()/.double()/.cuda() before build move this
        self._param_like = torch.empty(0)

    # ---- identity --------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """``name`` if set, else the class name: used in every error message."""
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def error(self, arg: str, value: Any, why: str) -> ValueError:
        return layer_error(self.label, arg, value, why)

    # ---- building --------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self.built_shape is not None

    def build(self, input_shape: Shape) -> None:
        """Create parameters for ``input_shape`` (no batch axis). Idempotent for the same shape."""
        input_shape = tuple(int(v) for v in input_shape)
        if self.built_shape is not None:
            if self.built_shape != input_shape:
                raise ValueError(
                    f"{self.label}: built for input shape {self.built_shape}, called with {input_shape}"
                )
            return
        self.compute_output_shape(input_shape)  # validates the shape before allocating anything
        self._build(input_shape)  # float32 on the CPU, from torch's global RNG (reproducible anywhere)
        like = self._param_like
        if like.dtype != torch.float32 or like.device.type != "cpu":  # moved before build: follow it
            super()._apply(lambda t: t.to(like.device, like.dtype if t.is_floating_point() else t.dtype))
        self.built_shape = input_shape

    def _apply(self, fn, recurse=True):
        # nn.Module.to/.double/.half/.cuda all end here: record the move, so that a layer moved
        # before it is built builds its parameters there (``Conv2D(3, 3).double()`` keeps float64)
        self._param_like = fn(self._param_like)
        return super()._apply(fn, recurse)

    def _build(self, input_shape: Shape) -> None:
        """Allocate parameters; layers without weights keep this default."""

    def built_param(self, param: torch.Tensor | None) -> torch.Tensor:
        """``param`` (a parameter made by ``build``); RuntimeError naming the layer while it is unbuilt.

        ``forward`` builds on its first call; ``call`` does not, so calling it first is a mistake.
        """
        if param is None:
            raise RuntimeError(
                f"{self.label} is not built: call the layer (forward builds it) or build(input_shape) "
                "before call()"
            )
        return param

    # ---- arithmetic (pure, no tensors) -----------------------------------------------------------
    def compute_output_shape(self, input_shape: Shape) -> Shape:
        raise NotImplementedError

    def count_params(self, input_shape: Shape) -> int:
        """Number of parameters for this input shape (what Keras ``count_params()`` reports)."""
        return 0

    def macs(self, input_shape: Shape) -> int:
        """Multiply-accumulates of one forward pass for one sample (FLOPs = 2 x MACs)."""
        return 0

    def axis_maps(self, input_shape: Shape) -> tuple[AxisMap, AxisMap]:
        """Receptive-field maps of the (H, W) axes for an image input ``(C, H, W)``."""
        _, h, w = input_shape
        return AxisMap("identity", h), AxisMap("identity", w)

    # ---- config ----------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Every constructor argument, defaults included, as plain JSON-able data (tuples become lists)."""
        raise NotImplementedError

    def spec_config(self) -> dict[str, Any]:
        """``get_config()`` less the keyword-only arguments (but ``name``) left at their default.

        The one place where defaults are dropped: those arguments are convolab's extras (Conv2D's
        ``kernel`` and ``trainable``), written in a spec only when set; every other argument is written,
        defaults included.
        """
        extras = _keyword_defaults(type(self))
        return {k: v for k, v in self.get_config().items() if k not in extras or v != extras[k]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def base_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"name": self.name}
        return cfg

    # ---- running ---------------------------------------------------------------------------------
    def call(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activation output. Subclasses implement this."""
        raise NotImplementedError

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        """This layer's activation applied to a pre-activation ``x`` (the identity when linear)."""
        return self._act_fn(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.built:
            self.build(tuple(x.shape[1:]))
        return self._act_fn(self.call(x))

    def extra_repr(self) -> str:
        cfg = {k: v for k, v in self.spec_config().items() if k != "name" and v is not None}
        return ", ".join(f"{k}={v}" for k, v in cfg.items())


def _keyword_defaults(cls: type[Layer]) -> dict[str, Any]:
    """``{argument: default}`` of the keyword-only constructor arguments of ``cls`` other than ``name``."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name != "name"}


def check_image_shape(layer: Layer, input_shape: Shape) -> tuple[int, int, int]:
    """Validate a ``(C, H, W)`` input shape for a spatial layer and return it."""
    if len(input_shape) != 3:
        raise ValueError(f"{layer.label}: expects an image input (C, H, W), got shape {tuple(input_shape)}")
    c, h, w = (int(v) for v in input_shape)
    if min(c, h, w) < 1:
        raise ValueError(f"{layer.label}: input shape must be positive, got {tuple(input_shape)}")
    return c, h, w
