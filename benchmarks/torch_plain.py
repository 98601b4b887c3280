"""The plain-PyTorch contender of train_speed.py, in its own process (as Keras and `convolab train` are).

The straightforward translation of the lecture's code (NCHW ``nn.Sequential``, sigmoid +
``F.binary_cross_entropy``, ``torch.optim.Adam`` defaults), trained on the same images; writes one JSON
object like keras_lecture.py: per-epoch training and validation times, test BCE/MSE after every epoch.

    python benchmarks/torch_plain.py --train-npy train.npy --test-npy test.npy --epochs 3 --out t.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _torch_runs as R  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train-npy", required=True)
    ap.add_argument("--test-npy", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    x_train = R.to_tensor(np.load(args.train_npy)).to(args.device)
    x_test = R.to_tensor(np.load(args.test_npy)).to(args.device)
    run = R.train(R.plain_variant(device=args.device), x_train, x_test, args.epochs)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), **run.__dict__}
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
