"""Sequential: a model built from a spec, with pool/unpool pairing by name and logits for BCE.

Conventions (docs/layers.md):

- ``model.layers`` is an ``nn.ModuleList`` in spec order (iterating yields the layers, like Keras's
  ``model.layers``), so ``state_dict`` keys read ``layers.<index>.weight`` / ``layers.<index>.bias``; the
  names live on the layers (``layer.name``, ``model.get_layer(name)``) and in the spec that a checkpoint
  stores beside the weights.
- Every layer is built for its input shape at construction: parameters exist at once (an optimizer can be
  made right away) and are initialised like Keras (glorot_uniform, zero bias) from torch's global RNG, so
  ``torch.manual_seed`` makes a model reproducible.
- The model's walk (``convolab.model.walk``, computed once in ``__init__``) holds every shape, the pool/unpool
  pairing and the logits layer; ``forward`` follows it. A MaxUnpool2D gets the switches of its named
  MaxPool2D inside ``forward``; no state is kept on the modules between calls.
- Dense on an image input ``(C, H, W)`` is refused (``walk.check_dense_input``): Keras's Dense would act
  on the (last) channel axis, convolab's NCHW layout would make it act on W. Use Flatten first.
- Memory is checked before it is allocated: parameters at construction (``limits.MAX_MODEL_BYTES``),
  the activations of a batch at each forward (``limits.MAX_ACTIVATION_BYTES``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
from torch import nn

from convolab import limits
from convolab.layers import Layer
from convolab.model.spec import ModelSpec, check_input_shape, layer_dict, load_spec_and_layers, name_layers
from convolab.model.walk import ModelWalk, logits_index, walk

__all__ = ["Sequential", "build_model", "check_param_bytes", "logits_index"]

Shape = tuple[int, ...]
BYTES_PER_VALUE = 4  # float32: what a model is built in (``.double()`` doubles it)


class Sequential(nn.Module):
    """A stack of convolab layers with a known input shape.

    Args:
        layers: convolab layers (unnamed ones get names such as ``conv2d_1``).
        input_shape: one sample's shape without the batch axis, ``(C, H, W)`` or ``(features,)``.
        name: the model's name.
        latent: name of the layer whose output is the code (``encode`` stops there).

    Attributes:
        walk: the model's ``convolab.model.walk.ModelWalk`` (shapes, unpool pairing, logits), computed once.

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
        if not layers:
            raise ValueError("a Sequential needs at least one layer")
        name_layers(layers)  # the spec's naming rule and pairing checks; nothing is rebuilt
        if name is not None and not isinstance(name, str):
            raise ValueError(f"model name must be a string, got {name!r}")
        names = [layer.name for layer in layers]
        if latent is not None and latent not in names:
            raise ValueError(f"latent {latent!r} is not a layer name; layers: {', '.join(map(str, names))}")
        self.name = name
        self.input_shape: Shape = check_input_shape(input_shape)
        self.latent = latent
        self.walk: ModelWalk = walk(layers, self.input_shape)  # every shape, before anything is built
        check_param_bytes(self.walk)
        self.layers = nn.ModuleList(layers)
        for step in self.walk.steps:
            try:
                step.layer.build(step.input_shape)
            except ValueError as exc:  # pragma: no cover - the walk has checked the shapes
                raise ValueError(f"{step.where}: {exc}") from None

    # ---- construction ----------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, source: Any) -> Sequential:
        """Build the model described by a ``ModelSpec``, dict, YAML/JSON path or text, or zoo name."""
        spec, layers = load_spec_and_layers(source)  # validated once; these layers become the model
        return cls(layers, spec.input_shape, name=spec.name, latent=spec.latent)

    @property
    def shapes(self) -> list[tuple[str, Shape, Shape]]:
        """``[(name, input shape, output shape), ...]`` per layer (no batch axis)."""
        return [(step.name, step.input_shape, step.output_shape) for step in self.walk.steps]

    def to_spec(self) -> ModelSpec:
        """The canonical spec of this model; ``Sequential.from_spec(spec).to_spec() == spec``."""
        layers = [layer_dict(layer) for layer in self]
        return ModelSpec(name=self.name, input_shape=self.input_shape, layers=layers, latent=self.latent)

    # ---- access ----------------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self if layer.name is not None]  # all named in __init__

    @property
    def output_shape(self) -> Shape:
        return self.walk.output_shape

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

    def summary(self, input_shape: Sequence[int] | None = None, *, batch: int = 1, show: bool | None = None):
        """The static analysis of this model (``convolab.analysis.summary.Analysis``): the table that
        ``convolab summary`` prints, as data.

        Shown unless ``show`` is False (``None`` and ``True`` are the same): printed as a rich table in a
        terminal; in a Jupyter kernel displayed at once as an HTML table, where the call is, even in the
        middle of a cell (as the cell's last expression it is not shown a second time). Nothing runs and
        nothing is allocated.
        """
        from convolab.analysis.summary import analyze, print_table  # late: analysis builds on this
        from convolab.display import show_now

        result = analyze(self, input_shape, batch=batch)
        if show is not False and not show_now(result, result.display_bundle()):
            print_table(result)
        return result

    # ---- Keras's fit / evaluate / predict: thin calls of the public functions (docs/python.md) ------
    # The training layer sits above this module: these reach it through the package's public names at
    # call time (``convolab.fit``: the session path ``convolab train`` runs), never at import.
    def fit(
        self, x: Any = None, y: Any = None, *, shuffle: bool = True, verbose: Any = "auto", **kwargs: Any
    ):
        """Train this model in place on images ``x`` (or a dataset name): ``convolab.fit(model, x,
        **kwargs)``; returns the ``Run`` (``run.history["loss"]`` as Keras's ``History``). ``y``: None
        or ``x`` (an autoencoder's target is its input); ``shuffle``: always (seeded by ``seed``);
        ``verbose=0``: quiet."""
        if y is not None and y is not x:
            raise ValueError("y: an autoencoder's target is its input; call model.fit(x) or model.fit(x, x)")
        if shuffle is not True:
            raise ValueError(f"shuffle must be True (training always shuffles, by seed), got {shuffle!r}")
        if verbose == 0:
            kwargs.setdefault("quiet", True)
        from convolab.train.fit import fit  # the Keras-style methods: the model layer's one call upward

        return fit(self, x, **kwargs)

    def predict(self, x: Any, batch_size: int | None = None):
        """Outputs for images ``x`` (NumPy or torch; uint8 divided by 255) as a NumPy float32 array:
        ``convolab.predict``."""
        from convolab.train.keras_api import predict

        return predict(self, x, batch_size=batch_size)

    def evaluate(
        self,
        x: Any,
        y: Any = None,
        *,
        batch_size: int | None = None,
        loss: str = "bce",
        return_dict: bool = False,
    ):
        """The loss on images ``x`` against ``y`` (default ``x``); ``return_dict``: with bce, mse, psnr,
        ssim: ``convolab.evaluate``."""
        from convolab.train.keras_api import evaluate

        return evaluate(self, x, y, batch_size=batch_size, loss=loss, return_dict=return_dict)

    # ---- running ---------------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        """Refuse an input that is not a float tensor ``(N, *input_shape)``, or a batch whose activations
        would pass ``limits.MAX_ACTIVATION_BYTES`` (checked before anything runs). NumPy arrays and
        uint8 images go through ``predict`` / ``evaluate`` (scaled as ``convolab.fit`` scales them)."""
        label = f"model {self.name or 'Sequential'!r}"
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{label} takes a torch.Tensor, got {type(x).__module__}.{type(x).__qualname__}: use "
                "model.predict(x) for NumPy arrays (uint8 scaled to [0, 1], any image layout), or "
                "model(torch.as_tensor(x)) for floats in (N, C, H, W)"
            )
        if not x.is_floating_point():
            raise ValueError(
                f"{label} computes in floats, got a {str(x.dtype).replace('torch.', '')} tensor: use "
                "model.predict(x) (uint8 is divided by 255), or model(x.float() / 255)"
            )
        if torch.jit.is_tracing():
            return  # traced shapes are tensors; the trace fixes them (the input is checked when run eagerly)
        if tuple(x.shape[1:]) != self.input_shape:
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(f"{label}: expected input (N, {expected}), got {tuple(x.shape)}")
        n = x.shape[0]
        if not isinstance(n, int) or torch.compiler.is_compiling():
            return  # traced (export, compile): a symbolic batch must stay symbolic
        nbytes = self.walk.activation_values() * n * x.element_size()
        limits.check_bytes(
            f"a forward pass of a batch of {n} through model {self.name or 'Sequential'!r} "
            "(activations of every layer)",
            nbytes,
            limits.MAX_ACTIVATION_BYTES,
            "use a smaller batch (limits.MAX_ACTIVATION_BYTES)",
        )

    def _run(self, x: torch.Tensor, *, logits: bool = False, stop: str | None = None, collect=None):
        self.check_input(x)
        if torch.jit.is_tracing():
            # The layers compute paddings and output sizes from x.shape in Python, which tracing sees as
            # tensors (a TracerWarning each). They depend only on (C, H, W), fixed by input_shape, never
            # on the batch: the trace is right for every batch size (tests/test_keras_api.py).
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"convolab\.")
                return self._walk(x, logits=logits, stop=stop, collect=collect)
        return self._walk(x, logits=logits, stop=stop, collect=collect)

    def _walk(self, x: torch.Tensor, *, logits: bool, stop: str | None, collect):
        switches: dict[int, torch.Tensor] = {}
        for step in self.walk.steps:
            layer = step.layer
            if step.keeps_switches:  # a MaxPool2D whose switches a MaxUnpool2D needs
                x, switches[step.index] = layer.forward_with_switches(x)  # type: ignore[operator]
            elif step.pool_index is not None:  # a MaxUnpool2D: its own pool's switches and size
                out_hw = (step.output_shape[1], step.output_shape[2])
                x = layer(x, switches=switches[step.pool_index], output_size=out_hw, check=False)
            elif logits and step.logits:
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


def check_param_bytes(model_walk: ModelWalk) -> None:
    """Refuse a model whose float32 parameters would pass ``limits.MAX_MODEL_BYTES``, naming the largest
    layer, before any parameter is allocated."""
    total = model_walk.param_count() * BYTES_PER_VALUE
    if total > limits.MAX_MODEL_BYTES and model_walk.steps:
        big = max(model_walk.steps, key=lambda step: step.count_params())
        limits.check_bytes(
            f"the parameters of this model ({model_walk.param_count():,} float32; the largest, "
            f"{big.where}, has {big.count_params():,})",
            total,
            limits.MAX_MODEL_BYTES,
            "limits.MAX_MODEL_BYTES",
        )


def build_model(source: Any) -> Sequential:
    """Shortcut for ``Sequential.from_spec(source)``."""
    return Sequential.from_spec(source)
