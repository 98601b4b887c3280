"""The plain PyTorch loop for any spec, in its own process; run by benchmarks/matrix.py.

The model is convolab's layer-by-layer ``Sequential`` (``convolab.build_model(spec)``: the spec's
layers one after the other, NCHW, each its own PyTorch ops, the sigmoid on the output) without anything
of the fast path ``convolab train`` runs (no fused plan, no channels_last, no native kernels, no fused
Adam), trained the straightforward way: ``torch.optim.Adam`` defaults, ``F.binary_cross_entropy`` on the
sigmoid output, batches of 256 in a fresh random order every epoch. It is the generalisation of
benchmarks/torch_plain.py (a hand-written ``nn.Sequential`` of the lecture's first model) to every
spec, MaxUnpool2D and bed of nails included. Writes one JSON object like keras_spec.py.

    python benchmarks/torch_spec.py --spec spec.json --train-npy train.npy --test-npy test.npy --out t.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _common import bce_mse  # noqa: E402


def train(model: torch.nn.Module, x: torch.Tensor, epochs: int, batch: int = 256) -> list[float]:
    """The plain loop; returns the seconds of each epoch."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            xb = x[idx]
            opt.zero_grad()
            loss = F.binary_cross_entropy(model(xb), xb)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", required=True, help="the spec as JSON")
    ap.add_argument("--train-npy", required=True, help="training images (N, C, H, W) float32")
    ap.add_argument("--test-npy", required=True, help="test images (N, C, H, W) float32")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from convolab import build_model

    torch.manual_seed(0)
    model = build_model(json.loads(Path(args.spec).read_text()))
    x_train = torch.from_numpy(np.load(args.train_npy))
    x_test = torch.from_numpy(np.load(args.test_npy))
    times = train(model.train(), x_train, args.epochs)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(b) for b in x_test.split(256)]).numpy()
    bce, mse = bce_mse(pred, x_test.numpy())
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in model.parameters()),
        "epoch_train_s": times,
        "test_bce": [bce],
        "test_mse": [mse],
    }
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
