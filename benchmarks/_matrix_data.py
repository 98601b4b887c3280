"""The data of benchmarks/matrix.py: the datasets it makes, and the split every contender trains on.

- ``write_shapes(folder, n_train, n_test, size, channels)``: a deterministic ``folder:`` dataset of smooth
  synthetic shapes (soft-edged ellipses and rectangles over a colour gradient) as PNG files in
  ``train/`` and ``test/``; RGB 64x64 for the RGB model, gray 28x28 for ``--quick``.
- ``prepare(dataset, data_dir, limit, work)``: the images `convolab train` trains and tests on, loaded
  with the same public calls and defaults its run uses (``convolab.data.load_dataset``, then
  ``train_val_split`` with fraction 0.1 and seed 0), written as ``.npy`` (N, C, H, W) float32 for the
  Keras and plain PyTorch contenders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

VAL_FRACTION = 0.1  # `convolab train`'s defaults (--val-fraction, --seed): the split it trains on
SEED = 0


@dataclass
class Split:
    """What every contender of one model trains and tests on."""

    cli_args: list[str]  # --dataset ... (and --data-dir / --limit) for `convolab train`
    train_npy: Path
    test_npy: Path
    n_train: int
    n_test: int
    shape: tuple[int, int, int]  # (C, H, W)


def _shape_image(rng: np.random.Generator, size: int, channels: int) -> np.ndarray:
    """One (size, size, channels) float image in [0, 1]: a gradient and 1-3 soft shapes."""
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)) + 0.5
    c0, c1 = rng.uniform(0, 1, (2, channels)).astype(np.float32)
    img = c0 + (c1 - c0) * np.clip(ramp, 0, 1)[..., None]
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.2, 0.8, 2)
        ry, rx = rng.uniform(0.08, 0.3, 2)
        if rng.random() < 0.5:  # ellipse
            d = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
        else:  # rectangle
            d = np.maximum(np.abs(yy - cy) / ry, np.abs(xx - cx) / rx)
        alpha = 1 / (1 + np.exp((d - 1) * 12))  # soft edge
        colour = rng.uniform(0, 1, channels).astype(np.float32)
        img = img * (1 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(img, 0, 1)


def write_shapes(folder: Path, n_train: int, n_test: int, size: int = 64, channels: int = 3) -> str:
    """Write the synthetic shapes dataset (seeded: the same files every time); returns ``folder:PATH``."""
    from PIL import Image

    rng = np.random.default_rng(SEED)
    for split, n in (("train", n_train), ("test", n_test)):
        (folder / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = (_shape_image(rng, size, channels) * 255).round().astype(np.uint8)
            Image.fromarray(img if channels == 3 else img[..., 0]).save(folder / split / f"{i:05d}.png")
    return f"folder:{folder}"


def prepare(dataset: str, data_dir: str | None, limit: int | None, work: Path) -> Split:
    """The split `convolab train --dataset DATASET [--data-dir] [--limit]` makes, saved as .npy."""
    from convolab.data import load_dataset, train_val_split

    cli = ["--dataset", dataset]
    if data_dir and not dataset.startswith("folder:"):
        cli += ["--data-dir", data_dir]
    if limit:
        cli += ["--limit", str(limit)]
    dd = data_dir if not dataset.startswith("folder:") else None
    train_ds = load_dataset(dataset, split="train", data_dir=dd, limit=limit)
    train, _val = train_val_split(train_ds, VAL_FRACTION, seed=SEED)
    test = load_dataset(dataset, split="test", data_dir=dd, limit=limit).float()
    train = train.float()
    work.mkdir(parents=True, exist_ok=True)
    paths = work / "train.npy", work / "test.npy"
    np.save(paths[0], train.numpy())
    np.save(paths[1], test.numpy())
    c, h, w = (int(v) for v in train.shape[1:])
    return Split(cli, paths[0], paths[1], int(train.shape[0]), int(test.shape[0]), (c, h, w))
