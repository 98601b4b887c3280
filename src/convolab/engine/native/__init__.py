"""Small C kernels for the memory-bound passes of the training step, with the PyTorch path as fallback.

- ``"pool"``: ``pool.pool_relu``, ``relu(max_pool2d(z))`` for non-overlapping windows, forward and
  backward in one pass each (``pool_relu.c``), for the plan's ``Conv2D(relu) -> MaxPool2D`` pairs;
- ``"conv_pool"``: ``conv_pool.conv_pool_relu``, the same pair with the convolution inside, where its
  input is the data (``conv_pool_relu.h``, ``.c``, ``_grad.c``);
- ``"shuffle"``: ``shuffle.shuffle_crop``, the sub-pixel convolution's ``pixel_shuffle`` and crop
  (``pixel_shuffle.c``);
- ``"subpixel"``: ``subpixel.subpixel_conv``, the whole sub-pixel convolution (conv, shuffle, crop,
  ReLU) as one direct convolution that skips the folded kernel's zero taps (``subpixel_conv.c``).

``build`` compiles them on first use (the system C compiler, well under a second) and caches the
library per source, compiler and CPU; ``status()`` says whether they run or why the PyTorch path does
(``CONVOLAB_NATIVE=0`` turns them off). ``pool`` and ``shuffle`` give the PyTorch path's values bit
for bit; ``conv_pool`` and ``subpixel`` sum in another order than oneDNN, so they agree to rounding
and exactly where the sums are exact (tests/test_native.py, tests/test_native_subpixel.py).
BENCHMARKS.md has what each buys.
"""

from collections.abc import Collection

from convolab.engine.native.build import library, status

NAMES = ("conv_pool", "pool", "shuffle", "subpixel")
__all__ = ["NAMES", "available", "library", "select", "status"]


def available() -> bool:
    """Whether the C kernels are built and loaded (building them now if needed)."""
    return library() is not None


def select(native: bool | Collection[str]) -> frozenset[str]:
    """The kernels a plan may use: ``True`` all of :data:`NAMES`, ``False`` none, or the names given
    (to measure one kernel by switching exactly it)."""
    if isinstance(native, bool):
        return frozenset(NAMES) if native else frozenset()
    if isinstance(native, str) or not isinstance(native, Collection):
        raise TypeError(f"native must be a bool or a collection of kernel names from {NAMES}, got {native!r}")
    unknown = set(native) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown kernels {sorted(unknown)}; the kernels are {', '.join(NAMES)}")
    return frozenset(native)
