"""Shared helpers of the training tests: a tiny model spec and a tiny synthetic image-folder dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from convolab.train.config import TrainConfig


# 1x8x8 -> conv(4) -> pool (latent 4x4x4) -> up -> conv(1, sigmoid): 40 + 37 = 77 parameters.
def _conv(name: str, filters: int, activation: str) -> dict:
    return {
        "type": "Conv2D",
        "name": name,
        "filters": filters,
        "kernel_size": 3,
        "padding": "same",
        "activation": activation,
    }


TINY_SPEC = {
    "name": "tiny",
    "input_shape": [1, 8, 8],
    "latent": "enc_pool",
    "layers": [
        _conv("enc_conv", 4, "relu"),
        {"type": "MaxPool2D", "name": "enc_pool", "pool_size": 2},
        {"type": "UpSampling2D", "name": "dec_up", "size": 2},
        _conv("dec_out", 1, "sigmoid"),
    ],
}


def write_spec(folder: Path, spec: dict | None = None, name: str = "tiny.json") -> Path:
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / name
    path.write_text(json.dumps(spec or TINY_SPEC))
    return path


def _image(rng: np.random.Generator, label: int) -> np.ndarray:
    """8x8 uint8: a bright square (class 0) or a bright bar (class 1) at a random place, plus noise."""
    img = rng.integers(0, 30, size=(8, 8))
    r, c = rng.integers(0, 5, size=2)
    if label == 0:
        img[r : r + 3, c : c + 3] = 230
    else:
        img[:, c : c + 2] = 200
    return img.astype(np.uint8)


def write_dataset(folder: Path, n_train: int = 160, n_test: int = 40, seed: int = 0) -> str:
    """A labelled ``folder:`` dataset (train/ and test/, classes a and b); returns its dataset name."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            label = i % 2
            d = Path(folder) / split / "ab"[label]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_image(rng, label), mode="L").save(d / f"{i:05d}.png")
    return f"folder:{folder}"


def tiny_config(tmp_path: Path, **kw) -> TrainConfig:
    """A config training the tiny model on the synthetic data in ``tmp_path`` (fast, CPU)."""
    data = tmp_path / "data"
    dataset = write_dataset(data) if not data.exists() else f"folder:{data}"
    base = dict(
        model=str(write_spec(tmp_path)),
        dataset=dataset,
        epochs=2,
        batch_size=16,
        lr=1e-2,
        device="cpu",
        out=str(tmp_path / "run"),
        checkpoint_seconds=0.0,
        checkpoint_every=0,
        log_every=2,
    )
    base.update(kw)
    return TrainConfig(**base)
