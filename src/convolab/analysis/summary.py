"""Static analysis of a model: shapes, parameters, MACs, activation memory and exact receptive fields.

Nothing runs and no activation is allocated: the model walk (``convolab.model.walk``) calls each layer's
arithmetic (``compute_output_shape``, ``count_params``, ``macs``, ``axis_maps``; docs/architecture.md,
"The layer contract") on unbuilt layers, so a batch of 64 full-HD images is analysed in milliseconds.
Receptive fields come from the exact interval walk in ``convolab.analysis.receptive_field``.

Example:
    >>> a = analyze("seed-upsampling")
    >>> a.total_params, a.layers[0].output_shape
    (3369, (16, 28, 28))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from torch import nn

from convolab import limits
from convolab.analysis.receptive_field import AxisField, FieldWalk
from convolab.analysis.table import format_bytes, in_notebook, print_table, render_table, to_html, to_text
from convolab.display import show_at_cell_end
from convolab.layers.base import Layer
from convolab.model.walk import ModelWalk, Step, walk

__all__ = [
    "Analysis",
    "LayerInfo",
    "MemoryEstimate",
    "analyze",
    "build_layers",
    "check_memory",
    "format_bytes",
    "in_notebook",
    "model_walk",
    "print_table",
    "render_table",
]

BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class LayerInfo:
    """What the analysis knows about one layer (shapes exclude the batch axis; MACs are per sample)."""

    name: str
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    trainable_params: int
    macs: int
    activation_bytes: int
    receptive_field: dict[str, dict[str, Any]] | None = field(default=None, repr=False)
    """``{"h": {...}, "w": {...}}`` with ``max``, ``center``, ``jump``, ``offset`` per axis (None when
    the model input has no (H, W) axes)."""
    _source: FieldWalk | None = field(default=None, repr=False, compare=False)
    _index: int = field(default=0, repr=False, compare=False)

    @property
    def fields(self) -> tuple[AxisField, AxisField] | None:
        """Per-coordinate receptive fields of the (H, W) axes of this layer's output (``AxisField``s),
        computed on demand within ``limits.MAX_ANALYSIS_BYTES``; None without (H, W) axes."""
        return None if self._source is None else self._source.get(self._index)

    def pixel_field(self, u: int, v: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Model-input rows and columns ``((lo, hi), (lo, hi))`` that output pixel ``(u, v)`` can see.

        Fields are separable: the pixel sees the product of its row's and its column's intervals, and
        nothing when either axis sees nothing: ``None`` means the pixel depends on no input pixel at all
        (it is a structural zero, plus bias: e.g. the holes of a bed of nails, or a dilated window whose
        taps all fall on them). The intervals bound the pixels seen; with holes, not all inside are.
        """
        fields = self.fields
        if fields is None:
            raise ValueError(f"layer {self.name!r}: the model input has no (H, W) axes")
        rows, cols = fields[0].interval(u), fields[1].interval(v)
        return None if rows is None or cols is None else (rows, cols)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "activation_bytes": self.activation_bytes,
            "receptive_field": self.receptive_field,
        }


@dataclass(frozen=True)
class Analysis:
    """The result of ``analyze``: one ``LayerInfo`` per layer plus totals."""

    name: str
    input_shape: tuple[int, ...]
    batch: int
    layers: tuple[LayerInfo, ...]

    @property
    def total_params(self) -> int:
        return sum(li.params for li in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(li.trainable_params for li in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates of one forward pass of one sample."""
        return sum(li.macs for li in self.layers)

    @property
    def input_bytes(self) -> int:
        return math.prod(self.input_shape) * BYTES_PER_VALUE * self.batch

    @property
    def activation_bytes(self) -> int:
        """Sum of every layer's float32 output for the whole batch (the input excluded)."""
        return sum(li.activation_bytes for li in self.layers)

    @property
    def param_bytes(self) -> int:
        return self.total_params * BYTES_PER_VALUE

    def layer(self, name: str) -> LayerInfo:
        for li in self.layers:
            if li.name == name:
                return li
        raise ValueError(f"no layer named {name!r}; layers: {', '.join(li.name for li in self.layers)}")

    def __repr__(self) -> str:
        return (
            f"Analysis({self.name!r}, input {self.input_shape}, batch {self.batch}, "
            f"{len(self.layers)} layers, {self.total_params:,} params)"
        )

    def __rich__(self) -> Any:
        """The table ``convolab summary`` prints (``rich.print(analysis)``)."""
        return render_table(self)

    def _repr_html_(self) -> str:
        """The same table as HTML, for Jupyter."""
        return to_html(self)

    def display_bundle(self) -> dict[str, str]:
        """What a notebook shows: the HTML table, and the table as text for a text-only front end."""
        return {"text/html": to_html(self), "text/plain": to_text(self)}

    def _ipython_display_(self) -> None:
        """Jupyter: the table, once per cell (``model.summary()`` shows it where it is called; as the
        cell's last expression too it is not shown again)."""
        show_at_cell_end(self, self.display_bundle())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (what ``convolab summary --json`` prints)."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "batch": self.batch,
            "layers": [li.to_dict() for li in self.layers],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
            "input_bytes": self.input_bytes,
            "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes,
        }


# --------------------------------------------------------------------------------------------------


def build_layers(layer_configs: Sequence[dict[str, Any]]) -> list[Layer]:
    """Unbuilt, named layer objects (no parameters allocated) from spec layer dicts ``{"type", ...}``,
    with every check of the spec (``spec.spec_layers``)."""
    from convolab.model.spec import spec_layers  # late: spec.py resolves names through the zoo

    return spec_layers(layer_configs)


def _resolve(source: Any) -> tuple[str, Any, list[Layer]]:
    """``(name, input_shape, layers)`` of a model, a ModelSpec, a spec dict/file/string or a zoo name."""
    if isinstance(source, Layer):
        raise TypeError("analyze() takes a model or a spec, got a single layer; pass [layer] instead")
    if isinstance(source, nn.Module) and hasattr(source, "layers"):  # a built Sequential
        name = getattr(source, "name", None) or type(source).__name__
        return name, getattr(source, "input_shape", None), list(cast(Iterable[Layer], source.layers))
    from convolab.model.spec import load_spec_and_layers  # late: spec.py resolves names through the zoo

    spec, layers = load_spec_and_layers(source)  # one validation pass; these layers are analysed
    return spec.name or "model", spec.input_shape, layers


def model_walk(model_or_spec: Any, input_shape: Sequence[int] | None = None) -> tuple[str, ModelWalk]:
    """``(name, walk)`` of anything ``analyze`` takes; nothing is built or allocated."""
    if isinstance(model_or_spec, list) and all(isinstance(m, Layer) for m in model_or_spec):
        name, shape, layers = "model", None, list(model_or_spec)
        from convolab.model.spec import name_layers

        name_layers(layers)
    else:
        name, shape, layers = _resolve(model_or_spec)
    from convolab.model.spec import check_input_shape  # late: spec.py resolves names through the zoo

    shape = check_input_shape(input_shape if input_shape is not None else shape, "input shape")
    existing = getattr(model_or_spec, "walk", None)
    if isinstance(existing, ModelWalk) and existing.input_shape == shape:
        return str(name), existing  # a Sequential's own walk
    return str(name), walk(layers, shape)


def _check_batch(batch: Any) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    limits.check_count("batch", batch, limits.MAX_BATCH_SIZE)
    return batch


def analyze(model_or_spec: Any, input_shape: Sequence[int] | None = None, *, batch: int = 1) -> Analysis:
    """Analyse a model without running it.

    Args:
        model_or_spec: a ``Sequential``, a ``ModelSpec``, a spec dict, a YAML/JSON path or string, a zoo
            name, or a plain list of convolab layers (then ``input_shape`` is required; unnamed layers
            are named in place, as a Sequential names them).
        input_shape: ``(C, H, W)`` or ``(features,)`` without the batch axis; overrides the spec's.
        batch: batch size used for activation memory.

    Returns:
        An ``Analysis``; ``.to_dict()`` is JSON-able.

    Raises:
        ValueError: unknown model or layer, bad spec, or a shape a layer cannot take (the layer's message).
        LimitError: a shape over ``convolab.limits`` (sides, channels) or fields over MAX_ANALYSIS_BYTES.
    """
    batch = _check_batch(batch)
    name, mw = model_walk(model_or_spec, input_shape)
    source = FieldWalk(mw) if len(mw.input_shape) == 3 else None
    summaries = source.summaries() if source is not None else [None] * len(mw.steps)
    infos = tuple(_info(step, batch, rf, source) for step, rf in zip(mw.steps, summaries, strict=True))
    return Analysis(name, mw.input_shape, batch, infos)


def _info(step: Step, batch: int, rf: Any, source: FieldWalk | None) -> LayerInfo:
    try:
        params, macs = step.count_params(), step.macs()
    except ValueError as exc:  # pragma: no cover - the walk has checked the shapes
        raise ValueError(f"{step.where}: {exc}") from None
    return LayerInfo(
        name=step.name,
        type=type(step.layer).__name__,
        input_shape=step.input_shape,
        output_shape=step.output_shape,
        params=params,
        trainable_params=params if getattr(step.layer, "trainable", True) else 0,
        macs=macs,
        activation_bytes=math.prod(step.output_shape) * BYTES_PER_VALUE * batch,
        receptive_field=rf,
        _source=source,
        _index=step.index,
    )


# --------------------------------------------------------------------------------------------------
# Memory, estimated before anything is allocated


@dataclass(frozen=True)
class MemoryEstimate:
    """What building a model and running one batch through it will allocate (float32 by default)."""

    param_bytes: int
    activation_bytes: int
    input_bytes: int
    largest_params: str
    largest_activation: str

    @property
    def total_bytes(self) -> int:
        return self.param_bytes + self.activation_bytes + self.input_bytes


def check_memory(
    model_or_spec: Any,
    input_shape: Sequence[int] | None = None,
    *,
    batch: int = 1,
    bytes_per_value: int = BYTES_PER_VALUE,
    training: bool = True,
) -> MemoryEstimate:
    """Estimate, without building or running anything, the memory of a model and of one batch, and
    refuse it when over ``limits.MAX_MODEL_BYTES`` (parameters; x4 when ``training``: weights,
    gradients and Adam's two moments) or ``limits.MAX_ACTIVATION_BYTES`` (every layer's output for the
    batch, what backward keeps). The message names the largest layer and the bytes.

    Call it before ``Sequential.from_spec`` / a forward on user-sized input: train, evaluate, export,
    reconstruct, figures and the lab do. Takes what ``analyze`` takes.

    Raises:
        LimitError: over a limit (one line: what, how much, the limit).
    """
    batch = _check_batch(batch)
    _, mw = model_walk(model_or_spec, input_shape)
    if not mw.steps:  # pragma: no cover - specs and Sequential need a layer
        raise ValueError("a model needs at least one layer")
    per_param = bytes_per_value * (4 if training else 1)
    big_p = max(mw.steps, key=lambda step: step.count_params())
    big_a = max(mw.steps, key=lambda step: math.prod(step.output_shape))
    est = MemoryEstimate(
        param_bytes=mw.param_count() * per_param,
        activation_bytes=mw.activation_values() * batch * bytes_per_value,
        input_bytes=math.prod(mw.input_shape) * batch * bytes_per_value,
        largest_params=f"{big_p.where}: {limits.format_bytes(big_p.count_params() * per_param)}",
        largest_activation=(
            f"{big_a.where}: {limits.format_bytes(math.prod(big_a.output_shape) * batch * bytes_per_value)}"
        ),
    )
    what = "training" if training else "the weights"
    limits.check_bytes(
        f"the parameters of this model for {what} (largest {est.largest_params})",
        est.param_bytes,
        limits.MAX_MODEL_BYTES,
        "limits.MAX_MODEL_BYTES",
    )
    limits.check_bytes(
        f"the activations of a batch of {batch} (largest {est.largest_activation})",
        est.activation_bytes + est.input_bytes,
        limits.MAX_ACTIVATION_BYTES,
        "use a smaller batch or input (limits.MAX_ACTIVATION_BYTES)",
    )
    return est
