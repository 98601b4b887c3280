"""Static analysis of a model: shapes, parameters, MACs, activation memory and exact receptive fields.

Nothing runs and no activation is allocated: the walk calls each layer's arithmetic
(``compute_output_shape``, ``count_params``, ``macs``, ``axis_maps``; DESIGN.md, "The layer contract") on
unbuilt layers, so a batch of 64 full-HD images is analysed in milliseconds. Receptive fields come from
the exact interval walk in ``convolab.receptive_field``.

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

from convolab.layers.base import Layer, get_layer_class
from convolab.layers.upsampling import MaxUnpool2D
from convolab.receptive_field import AxisField, compose, global_field, identity_field

__all__ = ["Analysis", "LayerInfo", "analyze", "build_layers", "format_bytes", "render_table"]

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
    fields: tuple[AxisField, AxisField] | None = field(default=None, repr=False)

    @property
    def receptive_field(self) -> dict[str, dict[str, Any]] | None:
        """``{"h": {...}, "w": {...}}`` with ``max``, ``center``, ``jump``, ``offset`` per axis."""
        if self.fields is None:
            return None
        return {"h": self.fields[0].summary(), "w": self.fields[1].summary()}

    def pixel_field(self, u: int, v: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Model-input rows and columns ``((lo, hi), (lo, hi))`` that output pixel ``(u, v)`` can see.

        Fields are separable: the pixel sees the product of its row's and its column's intervals, and
        nothing when either axis sees nothing (the zeros of a bed of nails).
        """
        if self.fields is None:
            raise ValueError(f"layer {self.name!r}: the model input has no (H, W) axes")
        rows, cols = self.fields[0].interval(u), self.fields[1].interval(v)
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


def format_bytes(n: int) -> str:
    """Keras's style: ``13476 -> '13.16 KB'`` (1 KB = 1024 bytes)."""
    size: float = n
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------------------------------


def build_layers(layer_configs: Sequence[dict[str, Any]]) -> list[Layer]:
    """Unbuilt layer objects (no parameters allocated) from spec layer dicts ``{"type", "name", ...}``."""
    from convolab.spec import build_layer  # late: spec.py resolves names through the zoo

    layers = []
    for i, cfg in enumerate(layer_configs):
        if not isinstance(cfg, dict) or "type" not in cfg:
            raise ValueError(f"layer {i}: must be a mapping with a 'type', got {cfg!r}")
        name = cfg.get("name")
        where = f"layer {i} ({name!r}, {cfg['type']})"
        try:
            cls = get_layer_class(cfg["type"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        layers.append(build_layer(cls, cfg, name, where))
    return layers


def _resolve(source: Any) -> tuple[str, Any, list[Layer]]:
    """``(name, input_shape, layers)`` of a model, a ModelSpec, a spec dict/file/string or a zoo name."""
    if isinstance(source, Layer):
        raise TypeError("analyze() takes a model or a spec, got a single layer; pass [layer] instead")
    if isinstance(source, nn.Module) and hasattr(source, "layers"):  # a built Sequential
        name = getattr(source, "name", None) or type(source).__name__
        return name, getattr(source, "input_shape", None), list(cast(Iterable[Layer], source.layers))
    if not (hasattr(source, "layers") and hasattr(source, "input_shape")):  # not yet a ModelSpec
        from convolab.spec import load_spec  # late: spec.py resolves names through the zoo

        source = load_spec(source)
    return source.name, source.input_shape, build_layers(source.layers)


def analyze(model_or_spec: Any, input_shape: Sequence[int] | None = None, *, batch: int = 1) -> Analysis:
    """Analyse a model without running it.

    Args:
        model_or_spec: a ``Sequential``, a ``ModelSpec``, a spec dict, a YAML/JSON path or string, a zoo
            name, or a plain list of convolab layers (then ``input_shape`` is required).
        input_shape: ``(C, H, W)`` or ``(features,)`` without the batch axis; overrides the spec's.
        batch: batch size used for activation memory.

    Returns:
        An ``Analysis``; ``.to_dict()`` is JSON-able.

    Raises:
        ValueError: unknown model or layer, bad spec, or a shape a layer cannot take (the layer's message).
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if isinstance(model_or_spec, list) and all(isinstance(m, Layer) for m in model_or_spec):
        name, shape, layers = "model", None, list(model_or_spec)
    else:
        name, shape, layers = _resolve(model_or_spec)
    from convolab.spec import check_input_shape  # late: spec.py resolves names through the zoo

    shape = check_input_shape(input_shape if input_shape is not None else shape, "input shape")
    return Analysis(str(name), shape, batch, tuple(_walk(layers, shape, batch)))


def _walk(layers: Sequence[Layer], shape: tuple[int, ...], batch: int) -> list[LayerInfo]:
    fields = (identity_field(shape[1]), identity_field(shape[2])) if len(shape) == 3 else None
    in_hw = shape[1:] if len(shape) == 3 else None
    seen: dict[str, tuple[Layer, tuple[int, ...]]] = {}
    infos = []
    for i, layer in enumerate(layers):
        name = layer.name or f"{type(layer).__name__.lower()}_{i}"
        try:  # the same messages as Sequential: "layer 3 ('dec_conv1', Conv2D): ..."
            if type(layer).__name__ == "Dense" and len(shape) == 3:  # as Sequential refuses it
                raise ValueError(f"input {shape} is an image (C, H, W): add a Flatten before this Dense")
            _pair(layer, seen)
            out = tuple(int(v) for v in layer.compute_output_shape(shape))
            params = int(layer.count_params(shape))
            fields = _next_fields(layer, fields, shape, out, in_hw)
        except ValueError as exc:
            msg, prefix = str(exc), f"{layer.label}: "
            msg = msg[len(prefix) :] if msg.startswith(prefix) else msg
            raise ValueError(f"layer {i} ({name!r}, {type(layer).__name__}): {msg}") from None
        trainable = params if getattr(layer, "trainable", True) else 0
        infos.append(
            LayerInfo(
                name=name,
                type=type(layer).__name__,
                input_shape=shape,
                output_shape=out,
                params=params,
                trainable_params=trainable,
                macs=int(layer.macs(shape)),
                activation_bytes=math.prod(out) * BYTES_PER_VALUE * batch,
                fields=fields,
            )
        )
        seen[name] = (layer, shape)
        shape = out
    return infos


def _pair(layer: Layer, seen: dict[str, tuple[Layer, tuple[int, ...]]]) -> None:
    """Give a MaxUnpool2D its MaxPool2D (by name) and that pool's input shape, as the model does."""
    if not isinstance(layer, MaxUnpool2D) or not isinstance(layer.pool, str):
        return
    pool_name = layer.pool
    if pool_name not in seen:
        raise ValueError(f"pool {pool_name!r} is not an earlier layer of the model")
    pool, pool_input = seen[pool_name]
    layer.bind(pool, pool_input)


def _next_fields(
    layer: Layer,
    fields: tuple[AxisField, AxisField] | None,
    shape: tuple[int, ...],
    out: tuple[int, ...],
    in_hw: tuple[int, ...] | None,
) -> tuple[AxisField, AxisField] | None:
    """Receptive fields of ``layer``'s output; the whole input once the spatial layout is gone."""
    if in_hw is None:
        return None
    if fields is None or len(shape) != 3 or len(out) != 3:
        h, w = (out[1], out[2]) if len(out) == 3 else (1, 1)
        return global_field(h, in_hw[0]), global_field(w, in_hw[1])
    mh, mw = layer.axis_maps(shape)
    return compose(fields[0], mh, out[1]), compose(fields[1], mw, out[2])


# --------------------------------------------------------------------------------------------------
# The table (in the spirit of Keras's model.summary(), with the columns Keras does not show)


def _param_bytes(n: int) -> str:
    return format_bytes(n * BYTES_PER_VALUE)


def _shape_text(shape: tuple[int, ...], channels_last: bool) -> str:
    if channels_last and len(shape) == 3:
        shape = (shape[1], shape[2], shape[0])  # Keras's (H, W, C)
    return str(tuple(shape))


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}" if x != int(x) else str(int(x))


def _rf_text(rf: dict[str, dict[str, Any]] | None) -> str:
    """``max / centre / jump``, one value when H and W agree, else ``HxW`` pairs."""
    if rf is None:
        return "-"
    h, w = rf["h"], rf["w"]
    parts = []
    for key in ("max", "center", "jump"):
        a, b = _num(h[key]), _num(w[key])
        parts.append(a if a == b else f"{a}x{b}")
    return " / ".join(parts)


def render_table(analysis: Analysis, *, channels_last: bool = False) -> Any:
    """A ``rich.table.Table`` of the analysis: one row per layer, totals in the caption.

    Columns: Layer (type), Output shape (no batch axis; ``(H, W, C)`` with ``channels_last``), Param #,
    MACs (per sample), Activation memory (float32 output x batch), RF (max / centre / jump) in input
    pixels. The input is the first row.
    """
    from rich.table import Table

    title = f"Model: {analysis.name}" + (f" (batch {analysis.batch})" if analysis.batch != 1 else "")
    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("Layer (type)")
    table.add_column("Output shape")
    for col in ("Param #", "MACs", "Activation memory"):
        table.add_column(col, justify="right")
    table.add_column("RF (max / centre / jump)", justify="right")
    spatial = len(analysis.input_shape) == 3
    table.add_row(
        "input (Input)",
        _shape_text(analysis.input_shape, channels_last),
        "0",
        "0",
        format_bytes(analysis.input_bytes),
        "1 / 1 / 1" if spatial else "-",
    )
    for li in analysis.layers:
        table.add_row(
            f"{li.name} ({li.type})",
            _shape_text(li.output_shape, channels_last),
            f"{li.params:,}",
            f"{li.macs:,}",
            format_bytes(li.activation_bytes),
            _rf_text(li.receptive_field),
        )
    a = analysis
    table.caption = "\n".join(
        [
            f"Total params: {a.total_params:,} ({format_bytes(a.param_bytes)})",
            f"Trainable params: {a.trainable_params:,} ({_param_bytes(a.trainable_params)})",
            f"Non-trainable params: {a.non_trainable_params:,} ({_param_bytes(a.non_trainable_params)})",
            f"MACs per sample: {a.total_macs:,} (FLOPs = 2 x MACs)",
            f"Activation memory: {format_bytes(a.activation_bytes)} for batch {a.batch} "
            f"(+ input {format_bytes(a.input_bytes)}), float32",
        ]
    )
    return table
