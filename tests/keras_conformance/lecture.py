"""The lecture's autoencoders in Keras: built from convolab's zoo specs, trained briefly on real data.

``keras_model(spec)`` writes the same architecture with Keras layers (names kept, Reshape targets
channels-last), so a Keras model trained in TensorFlow can be saved, imported into convolab, and its
reconstructions compared with Keras's own.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: zoo models that Keras can express (the others use convolab's unpooling / bed of nails)
KERAS_ZOO = ("seed-upsampling", "seed-transpose", "chollet", "strided-transpose", "dense")
KERAS_CLASS = {"MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D"}


def keras_model(spec: dict[str, Any]):
    """A Keras ``Sequential`` with the layers of a convolab spec dict."""
    import keras

    c, h, w = spec["input_shape"]
    layers = []
    for entry in spec["layers"]:
        kw = {k: v for k, v in entry.items() if k != "type"}
        if entry["type"] == "Reshape" and len(kw["target_shape"]) == 3:
            tc, th, tw = kw["target_shape"]
            kw["target_shape"] = (th, tw, tc)
        layers.append(getattr(keras.layers, KERAS_CLASS.get(entry["type"], entry["type"]))(**kw))
    return keras.Sequential([keras.Input((h, w, c)), *layers], name=spec["name"].replace("-", "_"))


def fashion_subset(folder: Path, n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """The first images of Fashion-MNIST's train and test splits, (N, 28, 28, 1) float32 in [0, 1]."""
    from convolab.data.idx import read_idx

    train = read_idx(folder / "train-images-idx3-ubyte.gz")[:n_train]
    test = read_idx(folder / "t10k-images-idx3-ubyte.gz")[:n_test]
    return (train[..., None] / 255.0).astype(np.float32), (test[..., None] / 255.0).astype(np.float32)


def train_and_save(name: str, x_train: np.ndarray, out: Path, seed: int = 0) -> tuple[Any, dict[str, Path]]:
    """Train zoo model ``name`` one epoch in Keras (Adam, BCE, batch 256) and save it three ways."""
    import keras

    from convolab.model.zoo import get_spec

    keras.utils.set_random_seed(seed)
    model = keras_model(get_spec(name))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x_train, x_train, epochs=1, batch_size=256, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"keras": out / f"{name}.keras", "h5": out / f"{name}.h5", "weights": out / f"{name}.weights.h5"}
    with warnings.catch_warnings():
        # Keras's own saving code trips NumPy 2's __array__(copy=...) deprecation (not ours to fix)
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        model.save(paths["keras"])
        model.save_weights(paths["weights"])
        warnings.simplefilter("ignore", UserWarning)  # Keras 3 calls .h5 legacy: that is the point
        model.save(paths["h5"])
    return model, paths
