"""A small trained 128x128 ``folder:`` run for the browser tests (activations equal to Python, timings).

The folder holds real pictures: Fashion-MNIST test images upscaled to 128x128 (bilinear), saved as PNG in
class subfolders, ``train/`` and ``test/``, as a user's own image folder would be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FOLDER_128 = """name: folder-128
input_shape: [1, 128, 128]
latent: code
layers:
- {type: Conv2D, filters: 16, kernel_size: 3, padding: same, activation: relu}
- {type: MaxPool2D, pool_size: 2}
- {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu}
- {type: MaxPool2D, pool_size: 2}
- {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu}
- {type: MaxPool2D, pool_size: 2, name: code}
- {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu}
- {type: UpSampling2D, size: 2}
- {type: Conv2D, filters: 8, kernel_size: 3, padding: same, activation: relu}
- {type: UpSampling2D, size: 2}
- {type: Conv2D, filters: 16, kernel_size: 3, padding: same, activation: relu}
- {type: UpSampling2D, size: 2}
- {type: Conv2D, filters: 1, kernel_size: 3, padding: same, activation: sigmoid}
"""

# tiles of FOLDER_128, layer by layer (every channel is shown: far below LAB_MAX_TILES)
FOLDER_128_TILES = 16 + 16 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 16 + 16 + 1


def make_image_folder(root: Path, data_dir: Path, count: int = 48, side: int = 128) -> Path:
    """``root`` with ``train/<label>/*.png`` and ``test/<label>/*.png``: ``count`` images at ``side``."""
    from PIL import Image

    from convolab.data import load_dataset

    ds = load_dataset("fashion-mnist", "test", data_dir=data_dir, limit=count)
    for i in range(count):
        split = "train" if i < count * 3 // 4 else "test"
        folder = root / split / str(int(ds.labels[i]))
        folder.mkdir(parents=True, exist_ok=True)
        digit = Image.fromarray(ds.images[i].numpy().reshape(28, 28).astype(np.uint8))
        digit.resize((side, side), Image.Resampling.BILINEAR).save(folder / f"{i:05d}.png")
    return root


def make_folder_run(runs: Path, images: Path, name: str, spec_dir: Path) -> Path:
    """One epoch of FOLDER_128 on ``folder:images`` (a real ``convolab train`` run, ~15 s on 2 cores)."""
    from convolab.train import train
    from convolab.train.config import TrainConfig

    spec = spec_dir / "folder-128.yaml"
    spec.write_text(FOLDER_128)
    cfg = TrainConfig(
        model=str(spec),
        dataset=f"folder:{images}",
        epochs=1,
        batch_size=16,
        out=str(runs / name),
        device="cpu",
    )
    return train(cfg, quiet=True).run_dir
