"""The real data the tests read: Debian's Fashion-MNIST, which `make data` (a step of `make test`) installs.

Nothing beside the repository is needed: a folder holding only the test split (the case of a user who
copied 10,000 images) is made from Debian's files, once per test process.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
T10K = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# Fashion-MNIST's test split: 1,000 images of each class (published: zalandoresearch/fashion-mnist)
FASHION_TEST_COUNTS = [1000] * 10
MISSING = "Debian's dataset-fashion-mnist is not installed (`make data` installs it)"


def have_fashion() -> bool:
    return all((FASHION_SYSTEM / name).is_file() for name in ("train-images-idx3-ubyte.gz", *T10K))


@functools.cache
def fashion_t10k() -> Path:
    """A folder holding only Fashion-MNIST's test split (copies of Debian's two t10k files)."""
    folder = Path(tempfile.mkdtemp(prefix="convolab-fashion-t10k-"))
    atexit.register(shutil.rmtree, folder, True)
    for name in T10K:
        shutil.copyfile(FASHION_SYSTEM / name, folder / name)
    return folder
