"""The layer contract, for every layer type: analysis == forward, Keras's parameter counts, config round
trip, gradients reach every parameter, registry, clear refusals."""

from __future__ import annotations

import inspect
import json

import pytest
import torch

from convolab.layers import (
    LAYER_REGISTRY,
    Activation,
    AvgPool2D,
    BedOfNails2D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Flatten,
    Layer,
    MaxPool2D,
    MaxUnpool2D,
    PoolLink,
    Reshape,
    UpSampling2D,
    get_layer_class,
)

# (layer, input shape, Keras's count_params() for that layer on that input)
CASES = [
    (Conv2D(16, 3, padding="same", activation="relu"), (1, 28, 28), 160),
    (Conv2D(8, 3, padding="same"), (16, 14, 14), 1160),
    (Conv2D(4, 3, padding="same"), (8, 7, 7), 292),
    (Conv2D(4, 3, padding="same"), (4, 4, 4), 148),
    (Conv2D(8, 3, padding="same"), (4, 8, 8), 296),
    (Conv2D(1, 3, padding="same", activation="sigmoid"), (16, 28, 28), 145),
    (Conv2D(16, 5, strides=5, use_bias=False), (3, 40, 25), 1200),  # lecture: 5x5x3x16 = 1,200
    (Conv2D(3, (3, 2), strides=(2, 1), padding="same", dilation_rate=1), (2, 9, 8), 39),
    (Conv2D(2, 3, dilation_rate=2, padding="same"), (2, 9, 9), 38),
    (Conv2D.from_kernel([[1.0, 0.0, -1.0]] * 3), (1, 6, 6), 9),
    (Conv2DTranspose(16, 3, padding="same"), (8, 7, 7), 1168),
    (Conv2DTranspose(4, 3, strides=2, padding="same"), (4, 3, 3), 148),
    (Conv2DTranspose(3, 3, strides=2, output_padding=1), (2, 4, 5), 57),
    (Conv2DTranspose(2, 2, strides=3, padding="valid", use_bias=False), (2, 3, 3), 16),
    (Dense(3), (4, 2), 9),
    (Dense(1, use_bias=False), (4, 2), 2),  # the lecture's box squeeze: weight (2, 1) in Keras
    (Dense(5, activation="tanh"), (12,), 65),
    (Flatten(), (16, 7, 7), 0),
    (Reshape((4, -1)), (16,), 0),
    (MaxPool2D(2, padding="same"), (3, 7, 7), 0),
    (MaxPool2D(3, strides=2), (2, 9, 8), 0),
    (AvgPool2D(2, padding="same"), (3, 7, 5), 0),
    (UpSampling2D(2), (2, 3, 4), 0),
    (UpSampling2D((2, 3), interpolation="bilinear"), (2, 3, 4), 0),
    (BedOfNails2D(2), (2, 3, 4), 0),
    (Activation("softmax"), (3, 4, 4), 0),
    (Activation("leaky_relu"), (7,), 0),
]
IDS = [f"{type(layer).__name__}-{i}" for i, (layer, _, _) in enumerate(CASES)]


def _fresh(layer: Layer) -> Layer:
    return type(layer).from_config(layer.get_config())


@pytest.mark.parametrize(("layer", "shape", "keras_params"), CASES, ids=IDS)
def test_contract(layer: Layer, shape: tuple, keras_params: int) -> None:
    layer = _fresh(layer)
    torch.manual_seed(0)
    x = torch.randn(2, *shape, requires_grad=True)
    y = layer(x)
    assert tuple(y.shape[1:]) == layer.compute_output_shape(shape)
    assert layer.count_params(shape) == keras_params == sum(p.numel() for p in layer.parameters())
    assert layer.macs(shape) >= 0
    # config: JSON-able, round trip rebuilds an identical layer
    cfg = json.loads(json.dumps(layer.get_config()))
    assert cfg == layer.get_config()
    again = type(layer).from_config(cfg)
    assert again.get_config() == cfg
    # every trainable parameter (and the input) receives a gradient
    y.square().sum().backward()
    assert x.grad is not None
    for name, p in layer.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    # the axis maps exist for image inputs and cover the output
    if len(shape) == 3:
        mh, mw = layer.axis_maps(shape)
        assert mh.in_len == shape[1] and mw.in_len == shape[2]


def test_unpool_contract() -> None:
    pool, unpool = MaxPool2D(3, strides=2, padding="same", name="p"), MaxUnpool2D("p")
    link = PoolLink(pool, (2, 7, 9))
    x = torch.randn(2, 2, 7, 9, requires_grad=True)
    y, s = pool.forward_with_switches(x)
    z = unpool(y, switches=s, output_size=(7, 9))
    assert tuple(z.shape[1:]) == unpool.compute_output_shape(tuple(y.shape[1:]), link) == (2, 7, 9)
    assert unpool.count_params((2, 4, 5)) == 0 and unpool.macs((2, 4, 5)) == 0
    assert MaxUnpool2D.from_config(unpool.get_config()).get_config() == {"pool": "p", "name": None}
    z.sum().backward()
    assert x.grad is not None and x.grad.sum() > 0
    mh, _ = unpool.axis_maps((2, 4, 5), link)
    assert (mh.kind, mh.kernel, mh.stride, mh.pad) == ("transpose", 3, 2, 1)


def test_keras_macs() -> None:
    assert Conv2D(16, 3, padding="same").macs((1, 28, 28)) == 28 * 28 * 16 * 1 * 9
    assert Conv2D(16, 5, strides=5, use_bias=False).macs((3, 1920, 1080)) == 384 * 216 * 16 * 3 * 25
    assert Conv2DTranspose(16, 3, strides=2, padding="same").macs((8, 7, 7)) == 7 * 7 * 8 * 16 * 9
    assert Dense(3).macs((64, 4, 2)) == 64 * 4 * 2 * 3
    assert MaxPool2D().macs((3, 8, 8)) == UpSampling2D().macs((3, 8, 8)) == 0


def test_registry_and_aliases() -> None:
    for name in (
        "Conv2D",
        "Conv2DTranspose",
        "Dense",
        "Flatten",
        "Reshape",
        "MaxPool2D",
        "AvgPool2D",
        "UpSampling2D",
        "BedOfNails2D",
        "MaxUnpool2D",
        "Activation",
    ):
        assert LAYER_REGISTRY[name].__name__ == name
    assert get_layer_class("MaxPooling2D") is MaxPool2D
    assert get_layer_class("AveragePooling2D") is AvgPool2D
    with pytest.raises(ValueError, match="did you mean Conv2D"):
        get_layer_class("Conv2d")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Conv2D(0, 3), r"Conv2D: filters must be a positive int, got 0"),
        (lambda: Conv2D(4, 0, name="c"), r"Conv2D 'c': kernel_size must be >= 1, got 0"),
        (lambda: Conv2D(4, 3, padding="full"), r"padding must be 'same' or 'valid', got 'full'"),
        (lambda: Conv2D(4, 3, strides=2, dilation_rate=2), r"strides > 1 together with dilation_rate > 1"),
        (lambda: Conv2DTranspose(4, 3, strides=2, output_padding=2), r"output_padding must be < strides"),
        (lambda: Conv2DTranspose(4, 3, strides=2, dilation_rate=2), r"strides > 1 together with dilation"),
        (lambda: Dense(0), r"units must be a positive int, got 0"),
        (lambda: Dense(3, activation="swish"), r"activation must be one of .*got 'swish'"),
        (lambda: MaxPool2D((2, 2, 2)), r"pool_size must be an int or a pair of ints"),
        (lambda: UpSampling2D(2, interpolation="bicubic"), r"interpolation must be 'nearest' or 'bilinear'"),
        (lambda: Reshape((2, -1, -1)), r"target_shape must be a list of positive ints with at most one -1"),
        (lambda: MaxUnpool2D(""), r"pool must be the name of a MaxPool2D layer"),
        (lambda: Activation(None), r"activation must be one of"),
    ],
)
def test_bad_arguments(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("layer", "shape", "message"),
    [
        (Conv2D(4, 5, name="c1"), (1, 3, 9),
         r"Conv2D 'c1': kernel 5 \(effective 5\) is larger than the 'valid' input 3 on axis H"),
        (Conv2D(4, 3, dilation_rate=3), (1, 9, 6),
         r"kernel 3 \(effective 7\) is larger than the 'valid' input 6 on axis W"),
        (MaxPool2D(4), (1, 3, 8), r"pool size 4 is larger than the 'valid' input 3 on axis H"),
        (Conv2DTranspose(1, 2, strides=2, padding="same", output_padding=0), (1, 3, 3),
         r"TensorFlow needs ceil\(output / stride\) == input"),
        (Conv2D(4, 3), (28, 28), r"expects an image input \(C, H, W\), got shape \(28, 28\)"),
        (Reshape((3, 3)), (8,), r"cannot reshape input \(8,\) \(8 values\) to \(3, 3\)"),
        (Conv2D.from_kernel([[1.0]]), (3, 4, 4), r"fixed kernel has 1 input channel\(s\), the input has 3"),
        (MaxUnpool2D("p"), (1, 2, 2), r"its output shape is its pool's input shape; pass the pairing"),
    ],
)  # fmt: skip
def test_impossible_shapes(layer: Layer, shape: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        layer.compute_output_shape(shape)


def test_build_is_lazy_and_checked() -> None:
    layer = Conv2D(4, 3)
    assert list(layer.parameters()) == []  # Keras semantics: weights exist once the input is known
    layer.build((2, 5, 5))
    assert layer.weight.shape == (4, 2, 3, 3) and layer.bias.shape == (4,)
    with pytest.raises(ValueError, match=r"built for input shape \(2, 5, 5\), called with \(3, 5, 5\)"):
        layer.build((3, 5, 5))


@pytest.mark.parametrize(
    ("layer", "x"),
    [
        (Conv2D(4, 3, name="c"), torch.zeros(1, 2, 5, 5)),
        (Conv2DTranspose(4, 3, name="c"), torch.zeros(1, 2, 5, 5)),
        (Dense(3, name="c"), torch.zeros(1, 6)),
    ],
    ids=["Conv2D", "Conv2DTranspose", "Dense"],
)
def test_call_before_build_is_refused(layer: Layer, x: torch.Tensor) -> None:
    # forward() builds lazily; call() alone does not: a clear error (not an assert, gone under python -O)
    with pytest.raises(RuntimeError, match=r"'c' is not built: call the layer \(forward builds it\)"):
        layer.call(x)
    assert layer(x).shape[0] == 1  # forward builds, then call() works
    assert layer.call(x).shape[0] == 1


def _init_arguments(cls: type[Layer]) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def test_cases_cover_every_registered_layer_type() -> None:
    assert {type(layer) for layer, _, _ in CASES} | {MaxUnpool2D} == set(LAYER_REGISTRY.values())


@pytest.mark.parametrize("layer", [*(c[0] for c in CASES), MaxUnpool2D("p")], ids=[*IDS, "MaxUnpool2D"])
def test_get_config_holds_every_argument_like_keras(layer: Layer) -> None:
    # Keras's get_config: every constructor argument, defaults included (docs/layers.md, "Configs")
    cfg = layer.get_config()
    assert sorted(cfg) == sorted(_init_arguments(type(layer)))
    again = type(layer)(**cfg)
    assert type(again) is type(layer) and again.get_config() == cfg
    # spec_config: the same less the keyword-only extras (but name) left at their default, nothing else
    extras = {
        p.name: p.default
        for p in inspect.signature(type(layer).__init__).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name != "name"
    }
    assert layer.spec_config() == {k: v for k, v in cfg.items() if k not in extras or v != extras[k]}


def test_spec_config_drops_conv2d_extras_only_at_their_default() -> None:
    plain = Conv2D(2, 3)
    assert plain.get_config()["kernel"] is None and plain.get_config()["trainable"] is True
    assert "kernel" not in plain.spec_config() and "trainable" not in plain.spec_config()
    # Keras's own arguments stay, defaults included
    assert {"padding": "valid", "use_bias": True, "activation": None}.items() <= plain.spec_config().items()
    frozen = Conv2D(2, 3, trainable=False)
    assert frozen.spec_config()["trainable"] is False and "kernel" not in frozen.spec_config()
    fixed = Conv2D.from_kernel([[1.0, -1.0]], trainable=True)
    assert fixed.spec_config()["kernel"] == [[1.0, -1.0]]
    assert "trainable" not in fixed.spec_config()
    assert "trainable" not in repr(plain) and "trainable=False" in repr(frozen)
