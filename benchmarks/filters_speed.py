"""Seconds per kernel for ``filter2d`` on a photograph-sized (1920x1080) image, with references.

For every kernel in ``convolab.filters.KERNELS`` (and the Sobel gradient magnitude) it prints the median
of several runs of ``filter2d`` on RGB and on grayscale, the same sum computed the plain way
(``F.conv2d(groups=C)`` on NCHW memory, what a first implementation would do), and
``scipy.ndimage.correlate`` when SciPy is installed, with the speed-ups. Times are wall-clock on the
machine at hand; the ratios are the comparable part (docs/architecture.md, "Performance").

    python benchmarks/filters_speed.py [--repeats 5] [--threads 2] [--no-scipy]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from convolab.filters import KERNELS, filter2d, gradient_magnitude


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_nchw(x: torch.Tensor, k: np.ndarray) -> torch.Tensor:
    """The straightforward depthwise conv on NCHW memory (symmetric zero padding, odd kernels)."""
    c = x.shape[1]
    w = torch.as_tensor(k, dtype=x.dtype).expand(c, 1, *k.shape)
    return F.conv2d(x, w, padding=(k.shape[0] // 2, k.shape[1] // 2), groups=c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-scipy", action="store_true", help="skip the (slow) SciPy reference")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ndi = None
    if not args.no_scipy:
        try:
            from scipy import ndimage as ndi
        except ImportError:
            pass
    rng = np.random.default_rng(0)
    rgb = rng.random((1080, 1920, 3), dtype=np.float32)
    gray = np.ascontiguousarray(rgb[..., 0])
    nchw = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()  # (1, 3, H, W)
    print(f"1920x1080, float32, {args.threads} threads, median of {args.repeats} (seconds)")
    head = f"{'kernel':<11} {'size':>5} {'RGB':>7} {'gray':>7} {'NCHW plain':>11} {'speed-up':>9}"
    print(head + (f" {'scipy RGB':>10} {'vs scipy':>9}" if ndi else ""))
    for name, spec in KERNELS.items():
        k = spec.build(None, None)
        t_rgb = median_seconds(lambda k=k: filter2d(rgb, k), args.repeats)
        t_gray = median_seconds(lambda k=k: filter2d(gray, k), args.repeats)
        t_plain = median_seconds(lambda k=k: plain_nchw(nchw, k), max(1, args.repeats // 2))
        line = f"{name:<11} {k.shape[0]:>2}x{k.shape[1]:<2} {t_rgb:7.3f} {t_gray:7.3f} {t_plain:11.3f}"
        line += f" {t_plain / t_rgb:8.1f}x"
        if ndi is not None:
            t_sp = median_seconds(
                lambda k=k: [ndi.correlate(rgb[..., c], k, mode="constant") for c in range(3)], 1
            )
            line += f" {t_sp:10.3f} {t_sp / t_rgb:8.1f}x"
        print(line)
    t_mag = median_seconds(lambda: gradient_magnitude(rgb), args.repeats)
    print(f"{'magnitude':<11} {'3x3':>5} {t_mag:7.3f}")


if __name__ == "__main__":
    main()
