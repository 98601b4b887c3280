"""Sequential: a model built from a spec, with pool/unpool pairing by name and logits for BCE.

Conventions (docs/layers.md):

- ``model.layers`` is an ``nn.ModuleList`` in spec order (iterating yields the layers, like Keras's
  ``model.layers``), so ``state_dict`` keys read ``layers.<index>.weight`` / ``layers.<index>.bias``; the
  names live on the layers (``layer.name``, ``model.get_layer(name)``) and in the spec that a checkpoint
  stores beside the weights.
- Every layer is built for its input shape at construction: parameters exist at once (an optimizer can be
  made right away) and are initialised like Keras (glorot_uniform, zero bias) from torch's global RNG, so
  ``torch.manual_seed`` makes a model reproducible.
- A MaxUnpool2D gets the switches of its named MaxPool2D inside ``forward``; no state is kept on the
  modules between calls.
- Dense on an image input ``(C, H, W)`` is refused: Keras's Dense would act on the (last) channel axis,
  convolab's NCHW layout would make it act on W. Use Flatten first, or Conv2D(units, 1).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
from torch import nn

from convolab.layers import Dense, Layer, MaxPool2D, MaxUnpool2D, get_layer_class
from convolab.spec import ModelSpec, build_layer, canonical_layers, layer_dict, load_spec

Shape = tuple[int, ...]


class Sequential(nn.Module):
    """A stack of convolab layers with a known input shape.

    Args:
        layers: convolab layers (unnamed ones get names such as ``conv2d_1``).
        input_shape: one sample's shape without the batch axis, ``(C, H, W)`` or ``(features,)``.
        name: the model's name.
        latent: name of the layer whose output is the code (``encode`` stops there).

    Example:
        >>> model = Sequential.from_spec({"input_shape": [1, 28, 28], "layers": [
        ...     {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same"},
        ...     {"type": "MaxPool2D", "name": "p"}, {"type": "MaxUnpool2D", "pool": "p"}]})
        >>> model(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 16, 28, 28])
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        input_shape: Sequence[int],
        *,
        name: str | None = None,
        latent: str | None = None,
    ) -> None:
        super().__init__()
        layers = list(layers)
        spec = load_spec(
            {
                "name": name,
                "input_shape": list(input_shape),
                "latent": latent,
                "layers": [{"type": type(layer).__name__, **layer.get_config()} for layer in layers],
            }
        )  # validates names, pool references and arguments with the spec's messages
        for layer, entry in zip(layers, spec.layers, strict=True):
            layer.name = entry["name"]
        self.name = spec.name
        self.input_shape: Shape = spec.input_shape
        self.latent = spec.latent
        self.layers = nn.ModuleList(layers)
        self.shapes = self._build()
        self._switch_pools = {layer.pool for layer in layers if isinstance(layer, MaxUnpool2D)}

    # ---- construction ----------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, source: Any) -> Sequential:
        """Build the model described by a ``ModelSpec``, dict, YAML/JSON path or text, or zoo name."""
        spec = load_spec(source)
        layers = []
        for i, entry in enumerate(spec.layers):
            where = f"layer {i} ({entry['name']!r}, {entry['type']})"
            args = {k: v for k, v in entry.items() if k != "type"}
            layers.append(build_layer(get_layer_class(entry["type"]), args, entry["name"], where))
        return cls(layers, spec.input_shape, name=spec.name, latent=spec.latent)

    def _build(self) -> list[tuple[str, Shape, Shape]]:
        """Walk the shapes, pair unpools with pools, build every layer; ``[(name, in, out), ...]``."""
        shapes: list[tuple[str, Shape, Shape]] = []
        pools: dict[str, tuple[MaxPool2D, Shape]] = {}
        shape = self.input_shape
        for i, layer in enumerate(self):
            name = layer.name
            assert name is not None  # every layer was named from the spec in __init__
            try:
                if isinstance(layer, Dense) and len(shape) == 3:
                    raise ValueError(
                        f"input {shape} is an image (C, H, W): Keras's Dense would act on the channel "
                        "axis, convolab's NCHW layout on W; add a Flatten before it, or use "
                        f"Conv2D({layer.units}, 1) for a per-pixel Dense"
                    )
                if isinstance(layer, MaxUnpool2D):
                    layer.bind(*pools[layer.pool])
                out = tuple(int(v) for v in layer.compute_output_shape(shape))
                layer.build(shape)
            except ValueError as exc:
                msg, prefix = str(exc), f"{layer.label}: "
                msg = msg[len(prefix) :] if msg.startswith(prefix) else msg
                raise ValueError(f"layer {i} ({layer.name!r}, {type(layer).__name__}): {msg}") from None
            if isinstance(layer, MaxPool2D):
                pools[name] = (layer, shape)
            shapes.append((name, shape, out))
            shape = out
        return shapes

    def to_spec(self) -> ModelSpec:
        """The canonical spec of this model; ``Sequential.from_spec(spec).to_spec() == spec``."""
        layers = canonical_layers([layer_dict(layer) for layer in self])
        return ModelSpec(name=self.name, input_shape=self.input_shape, layers=layers, latent=self.latent)

    # ---- access ----------------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self if layer.name is not None]  # all named in __init__

    @property
    def output_shape(self) -> Shape:
        return self.shapes[-1][2]

    def get_layer(self, name: str) -> Layer:
        for layer in self:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers: {', '.join(self.layer_names)}")

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        # nn.ModuleList is typed as holding Modules; every entry here is a Layer (see __init__)
        return cast(Iterator[Layer], iter(self.layers))

    # ---- running ---------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.input_shape:
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(
                f"model {self.name or 'Sequential'!r}: expected input (N, {expected}), got {tuple(x.shape)}"
            )

    def _run(self, x: torch.Tensor, *, logits: bool = False, stop: str | None = None, collect=None):
        self._check_input(x)
        switches: dict[str, torch.Tensor] = {}
        last = logits_index(list(self))
        for i, layer in enumerate(self):
            if isinstance(layer, MaxPool2D) and layer.name in self._switch_pools:  # spec: pools are MaxPool2D
                x, switches[layer.name] = layer.forward_with_switches(x)
            elif isinstance(layer, MaxUnpool2D):
                x = layer(x, switches=switches[layer.pool], check=False)  # our pool's switches
            elif logits and i == last:
                x = layer.call(x)  # pre-activation: logits for binary_cross_entropy_with_logits
            else:
                x = layer(x)
            if collect is not None:
                collect.append((layer.name, x))
            if layer.name == stop:
                break
        return x

    def forward(self, x: torch.Tensor, *, logits: bool = False) -> torch.Tensor:
        """Run all layers on ``x`` ``(N, *input_shape)``; ``logits=True`` skips the LAST activation
        (of the last layer, or of the layer before trailing Flatten/Reshape layers)."""
        return self._run(x, logits=logits)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The output of the ``latent`` layer (the code)."""
        if self.latent is None:
            raise ValueError(
                f"model {self.name or 'Sequential'!r} has no latent layer: set 'latent' in the spec"
            )
        return self._run(x, stop=self.latent)

    def feature_maps(self, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """``[(layer name, output), ...]`` for every layer, in order."""
        maps: list[tuple[str, torch.Tensor]] = []
        self._run(x, collect=maps)
        return maps


def logits_index(layers: Sequence[Layer]) -> int:
    """Index of the layer whose pre-activation gives the logits: the last layer, or the last one before
    trailing activation-free Flatten/Reshape layers (they commute with an elementwise sigmoid, e.g. the
    zoo's dense model ends Dense(784, sigmoid) -> Reshape)."""
    from convolab.layers import Flatten, Reshape

    i = len(layers) - 1
    while i > 0 and isinstance(layers[i], (Flatten, Reshape)) and layers[i].activation in (None, "linear"):
        i -= 1
    return i


def build_model(source: Any) -> Sequential:
    """Shortcut for ``Sequential.from_spec(source)``."""
    return Sequential.from_spec(source)
