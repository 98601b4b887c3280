"""Named architectures, as spec dicts: the lecture's two autoencoders and the upsampling family.

Every model reconstructs a ``(1, 28, 28)`` image, names its latent layer, and names every layer
(``enc_conv1``, ``enc_pool1``, ..., ``dec_conv1``, ``dec_up1``, ..., ``dec_out``). A name works wherever a
spec does (``convolab summary seed-upsampling``, ``load_spec("chollet")``).

Parameter counts equal Keras ``model.summary()`` for the same layers:

- ``seed-upsampling`` / ``seed-transpose``: the lecture's two models, 160, 1160, 292, 148, 296, 1168,
  145 = 3,369 parameters each;
- ``chollet``: the Keras blog's 16-8-8 convolutional autoencoder ("Building Autoencoders in Keras",
  F. Chollet, 2016), latent (8, 4, 4), 4,385 parameters.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

__all__ = ["DESCRIPTIONS", "ZOO", "get_spec", "list_models"]

Spec = dict[str, Any]
INPUT_SHAPE = [1, 28, 28]


def _conv(name: str, filters: int, padding: str = "same", activation: str = "relu", **kw: Any) -> dict:
    return {
        "type": "Conv2D",
        "name": name,
        "filters": filters,
        "kernel_size": 3,
        "padding": padding,
        "activation": activation,
        **kw,
    }


def _deconv(name: str, filters: int, padding: str = "same", activation: str = "relu", **kw: Any) -> dict:
    return {
        "type": "Conv2DTranspose",
        "name": name,
        "filters": filters,
        "kernel_size": 3,
        "padding": padding,
        "activation": activation,
        **kw,
    }


def _pool(name: str, padding: str = "valid") -> dict:
    return {"type": "MaxPool2D", "name": name, "pool_size": 2, "padding": padding}


def _up(name: str, kind: str = "UpSampling2D") -> dict:
    return {"type": kind, "name": name, "size": 2}


def _encoder_same() -> list[dict]:
    """28 -> 14 -> 7 -> 4 with 'same' pooling (the lecture's first encoder; latent (4, 4, 4))."""
    return [
        _conv("enc_conv1", 16), _pool("enc_pool1", "same"),
        _conv("enc_conv2", 8), _pool("enc_pool2", "same"),
        _conv("enc_conv3", 4), _pool("enc_pool3", "same"),
    ]  # fmt: skip


def _decoder_up(kind: str = "UpSampling2D") -> list[dict]:
    """4 -> 4 -> 8 -> 8 -> 16 -> 14 -> 28 -> 28 (the lecture's first decoder)."""
    return [
        _conv("dec_conv1", 4), _up("dec_up1", kind),
        _conv("dec_conv2", 8), _up("dec_up2", kind),
        _conv("dec_conv3", 16, "valid"), _up("dec_up3", kind),
        _conv("dec_out", 1, activation="sigmoid"),
    ]  # fmt: skip


def _model(name: str, layers: list[dict], latent: str) -> Spec:
    return {"name": name, "input_shape": list(INPUT_SHAPE), "latent": latent, "layers": layers}


def _seed_transpose() -> Spec:
    layers = [
        _conv("enc_conv1", 16, "valid"), _pool("enc_pool1"),  # 26, 13
        _conv("enc_conv2", 8, "valid"), _pool("enc_pool2"),  # 11, 5
        _conv("enc_conv3", 4, "valid"),  # 3: the latent (4, 3, 3)
        _deconv("dec_deconv1", 4), _up("dec_up1"),  # 3, 6
        _deconv("dec_deconv2", 8), _up("dec_up2"),  # 6, 12
        _deconv("dec_deconv3", 16, "valid"), _up("dec_up3"),  # 14, 28
        _deconv("dec_out", 1, activation="sigmoid"),  # 28
    ]  # fmt: skip
    return _model("seed-transpose", layers, "enc_conv3")


def _chollet() -> Spec:
    layers = [
        _conv("enc_conv1", 16), _pool("enc_pool1", "same"),
        _conv("enc_conv2", 8), _pool("enc_pool2", "same"),
        _conv("enc_conv3", 8), _pool("enc_pool3", "same"),  # latent (8, 4, 4)
        _conv("dec_conv1", 8), _up("dec_up1"),
        _conv("dec_conv2", 8), _up("dec_up2"),
        _conv("dec_conv3", 16, "valid"), _up("dec_up3"),
        _conv("dec_out", 1, activation="sigmoid"),
    ]  # fmt: skip
    return _model("chollet", layers, "enc_pool3")


def _unpool() -> Spec:
    # Each MaxUnpool2D puts values back where its MaxPool2D found the maxima and restores that pool's
    # input size, so 4 -> 7 -> 14 -> 28 mirrors the encoder exactly. Channels match each pool's output.
    layers = [
        *_encoder_same(),
        _conv("dec_conv1", 4), {"type": "MaxUnpool2D", "name": "dec_unpool1", "pool": "enc_pool3"},
        _conv("dec_conv2", 8), {"type": "MaxUnpool2D", "name": "dec_unpool2", "pool": "enc_pool2"},
        _conv("dec_conv3", 16), {"type": "MaxUnpool2D", "name": "dec_unpool3", "pool": "enc_pool1"},
        _conv("dec_out", 1, activation="sigmoid"),
    ]  # fmt: skip
    return _model("unpool", layers, "enc_pool3")


def _strided_transpose() -> Spec:
    # Learned upsampling: each stride-2 transposed conv doubles the size. 'same' with output_padding=0
    # gives 2i - 1 (Keras deconv_output_length), which takes 4 to 7; plain 'same' gives 2i.
    layers = [
        *_encoder_same(),
        _deconv("dec_deconv1", 8, strides=2, output_padding=0),  # 7
        _deconv("dec_deconv2", 16, strides=2),  # 14
        _deconv("dec_out", 1, strides=2, activation="sigmoid"),  # 28
    ]
    return _model("strided-transpose", layers, "enc_pool3")


def _dense() -> Spec:
    layers: list[dict[str, Any]] = [
        {"type": "Flatten", "name": "enc_flatten"},
        {"type": "Dense", "name": "enc_dense", "units": 32, "activation": "relu"},
        {"type": "Dense", "name": "dec_dense", "units": 784, "activation": "sigmoid"},
        {"type": "Reshape", "name": "dec_reshape", "target_shape": list(INPUT_SHAPE)},
    ]
    return _model("dense", layers, "enc_dense")


ZOO: dict[str, Spec] = {
    "seed-upsampling": _model("seed-upsampling", [*_encoder_same(), *_decoder_up()], "enc_pool3"),
    "seed-transpose": _seed_transpose(),
    "chollet": _chollet(),
    "unpool": _unpool(),
    "bed-of-nails": _model("bed-of-nails", [*_encoder_same(), *_decoder_up("BedOfNails2D")], "enc_pool3"),
    "strided-transpose": _strided_transpose(),
    "dense": _dense(),
}

DESCRIPTIONS: dict[str, str] = {
    "seed-upsampling": "the lecture's first autoencoder: conv + 'same' max pooling, nearest upsampling",
    "seed-transpose": "the lecture's second: 'valid' convs and pools, Conv2DTranspose + upsampling",
    "chollet": "the Keras blog's 16-8-8 convolutional autoencoder (4,385 parameters)",
    "unpool": "seed-upsampling's encoder; the decoder unpools at the encoder's max positions",
    "bed-of-nails": "seed-upsampling with bed-of-nails upsampling (values top-left, zeros elsewhere)",
    "strided-transpose": "seed-upsampling's encoder; stride-2 Conv2DTranspose as learned upsampling",
    "dense": "a fully connected 784-32-784 autoencoder",
}


def list_models() -> list[str]:
    """Names of the zoo's models, in a stable order."""
    return list(ZOO)


def get_spec(name: str) -> Spec:
    """A fresh copy of the spec dict of zoo model ``name``.

    Raises:
        ValueError: unknown name; the message lists the nearest names (or all of them).
    """
    if not isinstance(name, str) or name not in ZOO:
        near = difflib.get_close_matches(str(name), list(ZOO), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(near)}?" if near else f"known: {', '.join(ZOO)}"
        raise ValueError(f"unknown model {name!r}; {hint}")
    return copy.deepcopy(ZOO[name])
