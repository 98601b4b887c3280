"""The model walk: one pass over a Sequential's layers that every user of a model shares.

``Sequential`` (building and running), the static analysis, the spec validator and the fused plan all
need the same facts about a stack of layers: each layer's input and output shape, which MaxPool2D each
MaxUnpool2D takes its switches from, which pools must record switches, that a Dense is refused on an
image, and which layer's pre-activation gives the logits. They are computed here, once, as plain data
(``ModelWalk``), from unbuilt or built layers alike: nothing is allocated.

- **Unpool pairing** (``pair_pools``): a ``MaxUnpool2D(pool="p")`` is paired *by name* with the
  MaxPool2D ``p`` that comes before it. The pairing is part of the walk (``Step.pool``), not state kept
  on the layer; the unpool's arithmetic gets it as an explicit ``PoolLink``.
- **Dense on an image** (``check_dense_input``): refused, Keras's Dense would act on the channel axis,
  convolab's NCHW layout on W.
- **Logits** (``logits_index``): the last layer, or the last one before trailing activation-free
  Flatten/Reshape layers (they commute with an elementwise sigmoid).

Every error names the layer: ``layer 3 ('dec_conv1', Conv2D): ...``.

Example:
    >>> from convolab.model.sequential import build_model
    >>> steps = build_model("unpool").walk.steps
    >>> [(s.name, s.output_shape, s.pool_index) for s in steps if s.pool_index is not None]
    [('dec_unpool1', (4, 7, 7), 5), ('dec_unpool2', (8, 14, 14), 3), ('dec_unpool3', (16, 28, 28), 1)]
    >>> [s.name for s in steps if s.keeps_switches], steps[-1].logits
    (['enc_pool1', 'enc_pool2', 'enc_pool3'], True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from convolab import limits
from convolab.layers.base import AxisMap, Layer
from convolab.layers.dense import Dense, Flatten, Reshape
from convolab.layers.pooling import MaxPool2D
from convolab.layers.upsampling import MaxUnpool2D, PoolLink

__all__ = [
    "ModelWalk",
    "Step",
    "check_dense_input",
    "layer_where",
    "logits_index",
    "pair_pools",
    "walk",
]

Shape = tuple[int, ...]


def layer_where(index: int, layer: Layer) -> str:
    """``"layer 3 ('dec_conv1', Conv2D)"``: how every message names a layer of a model."""
    return f"layer {index} ({layer.name!r}, {type(layer).__name__})"


def _strip_label(layer: Layer, msg: str) -> str:
    prefix = f"{layer.label}: "
    return msg[len(prefix) :] if msg.startswith(prefix) else msg


def reraise(index: int, layer: Layer, exc: ValueError) -> ValueError:
    """``exc`` re-worded with the layer's place in the model (a LimitError stays a LimitError)."""
    cls = limits.LimitError if isinstance(exc, limits.LimitError) else ValueError
    return cls(f"{layer_where(index, layer)}: {_strip_label(layer, str(exc))}")


# --------------------------------------------------------------------------------------------------
# Facts that need no shapes


def pair_pools(layers: Sequence[Layer]) -> dict[int, int]:
    """``{unpool index: pool index}`` for every MaxUnpool2D, by the names of the (named) layers.

    Raises:
        ValueError: the pool is not a layer of the model, comes after the unpool, or is not a MaxPool2D.
    """
    index = {layer.name: i for i, layer in enumerate(layers) if layer.name is not None}
    pairs: dict[int, int] = {}
    for i, layer in enumerate(layers):
        if not isinstance(layer, MaxUnpool2D):
            continue
        where, j = layer_where(i, layer), index.get(layer.pool)
        if j is None:
            earlier = [n for n, k in index.items() if k < i]
            raise ValueError(
                f"{where}: pool {layer.pool!r} is not an earlier layer of this model (it must name a "
                f"MaxPool2D that comes before it){_near(layer.pool, earlier)}"
            )
        if j > i:
            raise ValueError(
                f"{where}: pool {layer.pool!r} is layer {j}, after this unpooling layer; "
                "a MaxUnpool2D must come after its MaxPool2D"
            )
        if not isinstance(layers[j], MaxPool2D):
            kind = type(layers[j]).__name__
            raise ValueError(f"{where}: pool {layer.pool!r} (layer {j}) is a {kind}, not a MaxPool2D")
        pairs[i] = j
    return pairs


def _near(value: str, choices: Sequence[str]) -> str:
    import difflib

    near = difflib.get_close_matches(value, list(choices), n=2, cutoff=0.6)
    if near:
        return f"; did you mean {', '.join(repr(n) for n in near)}?"
    return f"; expected one of {', '.join(repr(c) for c in choices)}" if choices else ""


def logits_index(layers: Sequence[Layer]) -> int:
    """Index of the layer whose pre-activation gives the logits: the last layer, or the last one before
    trailing activation-free Flatten/Reshape layers (they commute with an elementwise sigmoid, e.g. the
    zoo's dense model ends Dense(784, sigmoid) -> Reshape)."""
    i = len(layers) - 1
    while i > 0 and isinstance(layers[i], (Flatten, Reshape)) and layers[i].activation in (None, "linear"):
        i -= 1
    return i


def check_dense_input(layer: Layer, shape: Shape) -> None:
    """Refuse a Dense on an image input ``(C, H, W)`` (see the module docstring)."""
    if isinstance(layer, Dense) and len(shape) == 3:
        raise ValueError(
            f"input {shape} is an image (C, H, W): Keras's Dense would act on the channel "
            "axis, convolab's NCHW layout on W; add a Flatten before it, or use "
            f"Conv2D({layer.units}, 1) for a per-pixel Dense"
        )


# --------------------------------------------------------------------------------------------------
# The walk


@dataclass(frozen=True)
class Step:
    """One layer of a walked model.

    Attributes:
        index: position in the model.
        layer: the layer (built or not).
        input_shape, output_shape: one sample's shapes, no batch axis.
        link: for a MaxUnpool2D, its pool and that pool's input shape (``PoolLink``); else None.
        pool_index: for a MaxUnpool2D, the index of its MaxPool2D; else None.
        keeps_switches: a MaxPool2D whose switches a later MaxUnpool2D needs.
        logits: this layer's pre-activation is the model's logits (``forward(x, logits=True)``).
    """

    index: int
    layer: Layer
    input_shape: Shape
    output_shape: Shape
    link: PoolLink | None = None
    pool_index: int | None = None
    keeps_switches: bool = False
    logits: bool = False

    @property
    def name(self) -> str:
        return self.layer.name or f"{type(self.layer).__name__.lower()}_{self.index}"

    @property
    def where(self) -> str:
        return layer_where(self.index, self.layer)

    def count_params(self) -> int:
        return int(self.layer.count_params(self.input_shape))

    def macs(self) -> int:
        return int(self.layer.macs(self.input_shape))

    def axis_maps(self) -> tuple[AxisMap, AxisMap]:
        """The layer's receptive-field maps of (H, W) (its pool's window for a MaxUnpool2D)."""
        if isinstance(self.layer, MaxUnpool2D):
            return self.layer.axis_maps(self.input_shape, self.link)
        return self.layer.axis_maps(self.input_shape)


@dataclass(frozen=True)
class ModelWalk:
    """The walk of a model: its input shape and one ``Step`` per layer."""

    input_shape: Shape
    steps: tuple[Step, ...]

    @property
    def output_shape(self) -> Shape:
        return self.steps[-1].output_shape if self.steps else self.input_shape

    @property
    def layers(self) -> list[Layer]:
        return [step.layer for step in self.steps]

    @property
    def uses_switches(self) -> bool:
        """True when some MaxUnpool2D needs the switches of a pool (the model is not a plain chain)."""
        return any(step.keeps_switches for step in self.steps)

    @property
    def logits_index(self) -> int:
        return next(step.index for step in self.steps if step.logits)

    def param_count(self) -> int:
        return sum(step.count_params() for step in self.steps)

    def activation_values(self) -> int:
        """Values of every layer's output for one sample (what a training step keeps for backward)."""
        return sum(math.prod(step.output_shape) for step in self.steps)


def walk(layers: Sequence[Layer], input_shape: Sequence[int]) -> ModelWalk:
    """Walk ``layers`` from ``input_shape``: shapes, unpool pairing, logits; nothing is allocated.

    Raises:
        ValueError: a layer that cannot take its input shape (its own message, prefixed with its place),
            a Dense on an image, a bad unpool pairing, or a feature map side over ``limits.MAX_SIDE``.
    """
    layers = list(layers)
    pairs = pair_pools(layers)
    switch_pools = set(pairs.values())
    last = logits_index(layers) if layers else -1
    shape: Shape = tuple(int(v) for v in input_shape)
    steps: list[Step] = []
    for i, layer in enumerate(layers):
        link = None
        try:
            check_dense_input(layer, shape)
            if isinstance(layer, MaxUnpool2D):
                pool_step = steps[pairs[i]]
                link = PoolLink(pool_step.layer, pool_step.input_shape)
                out = layer.compute_output_shape(shape, link)
            else:
                out = layer.compute_output_shape(shape)
            out = tuple(int(v) for v in out)
            check_shape_limits(out)
        except ValueError as exc:
            raise reraise(i, layer, exc) from None
        steps.append(Step(i, layer, shape, out, link, pairs.get(i), i in switch_pools, i == last))
        shape = out
    return ModelWalk(tuple(int(v) for v in input_shape), tuple(steps))


def check_shape_limits(shape: Shape, label: str | None = None) -> None:
    """Refuse a feature map with a spatial side over ``limits.MAX_SIDE`` or too many channels.

    ``label`` names it in the message (default ``output <shape>``; the spec passes its input shape's).
    """
    label = label if label is not None else f"output {shape}"
    if len(shape) == 3:
        c, h, w = shape
        if max(h, w) > limits.MAX_SIDE:
            raise limits.LimitError(
                f"{label} has a side of {max(h, w)}, over the limit of {limits.MAX_SIDE} (limits.MAX_SIDE)"
            )
        if c > limits.MAX_CHANNELS:
            raise limits.LimitError(
                f"{label} has {c} channels, over the limit of {limits.MAX_CHANNELS} (limits.MAX_CHANNELS)"
            )
