"""Keras-vs-convolab conformance cases: random layer configurations, run in both, outputs compared.

Each case is a short chain of Keras layers (usually one; ``Flatten -> Dense`` and ``Dense -> Reshape ->
Conv2D`` check the flatten order). The Keras layers get random weights (biases too, which Keras
initialises to zero), their config and weights go through convolab's importer mapping
(``convolab.keras_io.mapping``), and the convolab model's output is compared with Keras's on the same
random input. Used by ``tests/test_keras_conformance.py`` and by ``make_table.py`` (docs/keras.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ACTS = ["linear", "relu", "sigmoid", "tanh"]


@dataclass
class Case:
    """One configuration: Keras layer constructors (class name, kwargs) applied to ``input_shape`` (HWC)."""

    label: str
    input_shape: tuple[int, ...]
    layers: list[tuple[str, dict[str, Any]]]


def _pair(rng: np.random.Generator, lo: int, hi: int, square: float = 0.6) -> list[int]:
    a = int(rng.integers(lo, hi + 1))
    return [a, a] if rng.random() < square else [a, int(rng.integers(lo, hi + 1))]


def _conv_case(rng: np.random.Generator, transpose: bool) -> Case | None:
    from convolab.layers.padding import conv_output_length, keras_refuses_transpose

    k = _pair(rng, 1, 5)
    if rng.random() < 0.35:
        s, d = [1, 1], _pair(rng, 1, 3)
    else:
        s, d = _pair(rng, 1, 3), [1, 1]
    pad = str(rng.choice(["same", "valid"]))
    h, w = int(rng.integers(3, 13)), int(rng.integers(3, 13))
    cin = int(rng.integers(1, 4))
    kw: dict[str, Any] = dict(
        filters=int(rng.integers(1, 5)),
        kernel_size=k,
        strides=s,
        padding=pad,
        dilation_rate=d,
        activation=str(rng.choice(ACTS)),
        use_bias=bool(rng.random() < 0.8),
    )
    if transpose:
        kw["output_padding"] = [int(rng.integers(0, si)) for si in s] if rng.random() < 0.5 else None
        op = kw["output_padding"] or [None, None]
        if any(
            keras_refuses_transpose(i, ki, si, pad, a, di)
            for i, ki, si, a, di in zip((h, w), k, s, op, d, strict=True)
        ):
            return None
    elif (
        min(conv_output_length(i, ki, si, pad, di) for i, ki, si, di in zip((h, w), k, s, d, strict=True)) < 1
    ):
        return None
    name = "Conv2DTranspose" if transpose else "Conv2D"
    return Case(name, (h, w, cin), [(name, kw)])


def _pool_case(rng: np.random.Generator, name: str) -> Case | None:
    p = _pair(rng, 1, 4)
    strides = None if rng.random() < 0.4 else _pair(rng, 1, 3)
    pad = str(rng.choice(["same", "valid"]))
    h, w = int(rng.integers(2, 12)), int(rng.integers(2, 12))
    if pad == "valid" and (h < p[0] or w < p[1]):
        return None
    return Case(
        name, (h, w, int(rng.integers(1, 4))), [(name, dict(pool_size=p, strides=strides, padding=pad))]
    )


def _upsampling_case(rng: np.random.Generator) -> Case:
    kw = dict(size=_pair(rng, 1, 3), interpolation=str(rng.choice(["nearest", "bilinear"])))
    shape = (int(rng.integers(1, 8)), int(rng.integers(1, 8)), int(rng.integers(1, 4)))
    return Case("UpSampling2D", shape, [("UpSampling2D", kw)])


def _dense_case(rng: np.random.Generator) -> Case:
    kw = dict(
        units=int(rng.integers(1, 9)), activation=str(rng.choice(ACTS)), use_bias=bool(rng.random() < 0.8)
    )
    return Case("Dense", (int(rng.integers(1, 11)),), [("Dense", kw)])


def _flatten_dense_case(rng: np.random.Generator) -> Case:
    shape = (int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 5)))
    return Case("Flatten + Dense", shape, [("Flatten", {}), ("Dense", dict(units=int(rng.integers(1, 7))))])


def _dense_reshape_case(rng: np.random.Generator) -> Case:
    h, w, c = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
    return Case(
        "Dense + Reshape",
        (int(rng.integers(1, 9)),),
        [
            ("Dense", dict(units=h * w * c, activation="relu")),
            ("Reshape", dict(target_shape=[h, w, c])),
            ("Conv2D", dict(filters=2, kernel_size=[1, 1])),  # reads channels: the order must be right
        ],
    )


def _activation_case(rng: np.random.Generator) -> Case:
    act = str(rng.choice(["relu", "sigmoid", "tanh", "softmax", "leaky_relu", "linear"]))
    # softmax runs over channels: at least 2 of them (Keras warns about a size-1 softmax)
    shape = (int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(2, 5)))
    return Case("Activation", shape, [("Activation", dict(activation=act))])


GENERATORS: dict[str, Callable[[np.random.Generator], Case | None]] = {
    "Conv2D": lambda r: _conv_case(r, False),
    "Conv2DTranspose": lambda r: _conv_case(r, True),
    "MaxPooling2D": lambda r: _pool_case(r, "MaxPooling2D"),
    "AveragePooling2D": lambda r: _pool_case(r, "AveragePooling2D"),
    "UpSampling2D": _upsampling_case,
    "Dense": _dense_case,
    "Flatten + Dense": _flatten_dense_case,
    "Dense + Reshape": _dense_reshape_case,
    "Activation": _activation_case,
}


def draw_cases(kind: str, n: int, seed: int) -> list[Case]:
    """``n`` valid random cases of ``kind`` (configurations Keras itself refuses are redrawn)."""
    rng = np.random.default_rng(seed)
    out: list[Case] = []
    while len(out) < n:
        case = GENERATORS[kind](rng)
        if case is not None:
            out.append(case)
    return out


def _random_like(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal values scaled by 1/sqrt(fan-in) (kernels) so outputs stay O(1), like a trained model."""
    fan_in = max(1, int(np.prod(shape[:-1]))) if len(shape) > 1 else 1
    return (rng.normal(size=shape) / np.sqrt(fan_in)).astype(np.float32)


#: TensorFlow CPU kernels that refuse a configuration on some CPUs. With oneDNN off (TensorFlow's
#: default on CPUs without AVX-512, e.g. an AMD EPYC with AVX2, or ``TF_ENABLE_ONEDNN_OPTS=0``) the
#: plain Conv2DBackpropInput kernel refuses dilated Conv2DTranspose. Only these refusals are skipped.
TF_CPU_REFUSALS = ("Current CPU implementations do not yet support dilation rates larger than 1",)


class TFRefused(Exception):
    """TensorFlow's kernel on this CPU cannot compute the case (one of ``TF_CPU_REFUSALS``)."""


@dataclass
class KerasRun:
    """What Keras did on one case: each layer's (class, config, weights), the input and Keras's output."""

    input_shape: tuple[int, ...]
    layers: list[tuple[str, dict[str, Any], list[np.ndarray]]]
    x: np.ndarray
    y: np.ndarray


def is_dilated_transpose(case: Case) -> bool:
    return any(cls == "Conv2DTranspose" and max(kw["dilation_rate"]) > 1 for cls, kw in case.layers)


def keras_run(case: Case, seed: int = 0) -> KerasRun:
    """Build the case in Keras with random weights (seeded), run it on a random batch (seeded).

    Raises ``TFRefused`` when TensorFlow's CPU kernel refuses the configuration on this machine.
    """
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    klayers = [getattr(keras.layers, cls)(**kw) for cls, kw in case.layers]
    model = keras.Sequential([keras.Input(case.input_shape), *klayers])
    for layer in model.layers:  # random weights and biases (Keras's zero bias would hide bias bugs)
        layer.set_weights([_random_like(rng, w.shape) for w in layer.get_weights()])
    x = rng.random((3, *case.input_shape), dtype=np.float32)
    try:
        want = np.asarray(model(x, training=False))
    except tf.errors.InvalidArgumentError as exc:
        refusal = next((r for r in TF_CPU_REFUSALS if r in str(exc)), None)
        if refusal is None:
            raise
        raise TFRefused(refusal) from exc
    layers = [
        (type(lay).__name__, lay.get_config(), [np.asarray(w) for w in lay.get_weights()])
        for lay in model.layers
    ]
    return KerasRun(case.input_shape, layers, x, want)


def convolab_output(run: KerasRun) -> np.ndarray:
    """The imported convolab chain's output on ``run.x`` (channels-last, as Keras): needs no TensorFlow."""
    import torch

    from convolab.keras_io.importer import _load_weights
    from convolab.keras_io.mapping import Mapper
    from convolab.keras_io.structure import KerasLayer
    from convolab.model.sequential import Sequential

    leaves = [
        KerasLayer(cls, str(config.get("name", f"layer{i}")), config, weights)
        for i, (cls, config, weights) in enumerate(run.layers)
    ]
    mapped = Mapper(run.input_shape).run(leaves)
    ours = Sequential.from_spec(
        {"name": "case", "input_shape": list(mapped.input_shape), "layers": mapped.layers}
    )
    _load_weights(ours, mapped.weights, "case")
    xt = torch.from_numpy(run.x)
    if xt.dim() == 4:
        xt = xt.permute(0, 3, 1, 2)  # (N, C, H, W)
    with torch.no_grad():
        got = ours(xt)
    if got.dim() == 4:
        got = got.permute(0, 2, 3, 1)  # (N, H, W, C), as Keras
    return got.numpy()


def run_case(case: Case, seed: int = 0) -> float:
    """Max abs difference between Keras and the imported convolab chain on one random batch."""
    run = keras_run(case, seed)
    return float(np.abs(convolab_output(run) - run.y).max())


def describe(case: Case) -> str:
    return f"input {case.input_shape}: " + " -> ".join(f"{cls}({kw})" for cls, kw in case.layers)
