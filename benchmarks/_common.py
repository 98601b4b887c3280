"""Shared by the PyTorch and the Keras side of the benchmark: data, metrics, the model's arithmetic.

Imports only NumPy, so the Keras child process (its own virtualenv, no torch) can use it too.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# Forward multiply-accumulates per 28x28 image of the lecture's first autoencoder (seed-upsampling):
# H*W*Cout*9*Cin per conv: 28*28*16*9 + 14*14*8*9*16 + 7*7*4*9*8 + 4*4*4*9*4 + 8*8*8*9*4
# + 14*14*16*9*8 (valid on 16x16) + 28*28*1*9*16.
FORWARD_MACS = 112_896 + 225_792 + 14_112 + 2_304 + 18_432 + 225_792 + 112_896
# Training ~ forward + 2x for backward (input and weight gradients), 2 FLOP per MAC.
TRAIN_FLOP_PER_IMAGE = 3 * FORWARD_MACS * 2
EPS = 1e-7  # Keras backend epsilon: binary_crossentropy clips probabilities to [eps, 1 - eps]


def read_idx_images(path: Path) -> np.ndarray:
    """IDX3 ubyte (gz) -> float32 (N, 28, 28) in [0, 1]."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, h, w = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    return (np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w) / np.float32(255)).astype(np.float32)


def load_images(
    data_dir: Path | None, train_size: int, test_size: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST train/test images (N, 28, 28) float32, or a synthetic stand-in when data_dir is None.

    The synthetic set (for smoke tests) is smooth random blobs, so losses still fall.
    """
    if data_dir is None:
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
        n = train_size + test_size
        cy, cx = rng.uniform(6, 22, (2, n, 1, 1)).astype(np.float32)
        r = rng.uniform(3, 8, (n, 1, 1)).astype(np.float32)
        img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2)).astype(np.float32)
        return img[:train_size], img[train_size:]
    train = read_idx_images(Path(data_dir) / "train-images-idx3-ubyte.gz")[:train_size]
    test = read_idx_images(Path(data_dir) / "t10k-images-idx3-ubyte.gz")[:test_size]
    return train, test


def bce_mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Mean binary cross-entropy (Keras's formula, probabilities clipped to [1e-7, 1-1e-7]) and MSE.

    Computed the same way, in float64, for every framework's predictions.
    """
    p = np.clip(pred.astype(np.float64).reshape(target.shape), EPS, 1 - EPS)
    t = target.astype(np.float64)
    bce = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    mse = np.mean((pred.astype(np.float64).reshape(target.shape) - t) ** 2)
    return float(bce), float(mse)
