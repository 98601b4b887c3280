"""A lab served on Debian's Fashion-MNIST with a one-epoch run (for the browser tests of issue 24).

Nothing here needs data beside the repository and the system's Fashion-MNIST: the run is trained by the
test (one epoch on 256 test images, a few seconds), the server reads the system's dataset folder.
"""

from __future__ import annotations

from pathlib import Path

FASHION = Path("/usr/share/datasets/fashion-mnist")
RUN = "fashion1"


def have_fashion() -> bool:
    return (FASHION / "t10k-images-idx3-ubyte.gz").exists()


def make_fashion_run(runs: Path) -> Path:
    """One epoch of the lecture's model on 256 Fashion-MNIST test images: an undertrained run."""
    from convolab.train import train
    from convolab.trainconfig import TrainConfig

    cfg = TrainConfig(
        model="seed-upsampling",
        dataset="fashion-mnist",
        data_dir=str(FASHION),
        train_split="test",
        limit=256,
        epochs=1,
        batch_size=128,
        out=str(runs / RUN),
        device="cpu",
    )
    return train(cfg, quiet=True).run_dir
