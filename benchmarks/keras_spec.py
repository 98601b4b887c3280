"""Any convolab spec as a Keras model, trained as the lecture trains; run by benchmarks/matrix.py.

Runs in its own process (and maybe its own virtualenv with TensorFlow: no torch, no convolab needed).
The model is built layer for layer from the spec's layer entries (convolab's layer types and arguments
are Keras's; ``MaxPool2D`` is ``MaxPooling2D``; a 3-d ``Reshape`` target is turned channels-last), then
``compile(optimizer="adam", loss="binary_crossentropy")`` and ``fit(x, x, batch_size=256, shuffle=True)``.
Writes one JSON object: per-epoch training times (``on_epoch_begin`` to ``on_epoch_end``, no validation),
the test BCE after the last epoch (from ``predict``, untimed), the parameter count.

    python benchmarks/keras_spec.py --spec spec.json --train-npy train.npy --test-npy test.npy \
        --epochs 3 --out keras.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bce_mse  # noqa: E402

KERAS_CLASS = {"MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D"}
#: convolab layer types with no Keras layer: a model holding one has no Keras twin
NOT_IN_KERAS = ("MaxUnpool2D", "BedOfNails2D")


def missing_layers(spec: dict) -> list[str]:
    """The layer types of ``spec`` that Keras does not have (empty: Keras can build it)."""
    return sorted({e["type"] for e in spec["layers"] if e["type"] in NOT_IN_KERAS})


def build_model(keras, spec: dict):
    """A Keras ``Sequential`` with the layers of a convolab spec dict, compiled as the lecture does."""
    c, h, w = spec["input_shape"]
    layers = []
    for entry in spec["layers"]:
        kw = {k: v for k, v in entry.items() if k != "type"}
        if entry["type"] == "Reshape" and len(kw["target_shape"]) == 3:
            tc, th, tw = kw["target_shape"]
            kw["target_shape"] = (th, tw, tc)
        layers.append(getattr(keras.layers, KERAS_CLASS.get(entry["type"], entry["type"]))(**kw))
    name = str(spec.get("name") or "model").replace("-", "_")
    model = keras.Sequential([keras.Input((h, w, c)), *layers], name=name)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", required=True, help="the spec as JSON (input_shape (C, H, W), layers)")
    ap.add_argument("--train-npy", required=True, help="training images (N, C, H, W) float32")
    ap.add_argument("--test-npy", required=True, help="test images (N, C, H, W) float32")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="intra/inter-op threads (0: TF's default)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    spec = json.loads(Path(args.spec).read_text())
    x_train = np.ascontiguousarray(np.load(args.train_npy).transpose(0, 2, 3, 1))  # Keras: channels-last
    x_test = np.ascontiguousarray(np.load(args.test_npy).transpose(0, 2, 3, 1))
    keras.utils.set_random_seed(0)
    model = build_model(keras, spec)
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    model.fit(
        x_train, x_train, epochs=args.epochs, batch_size=256, shuffle=True, callbacks=[Timer()], verbose=0
    )
    pred = model.predict(x_test, batch_size=1024, verbose=0)
    bce, mse = bce_mse(pred, x_test)
    result = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "threads": args.threads or "TF default",
        "params": int(model.count_params()),
        "epoch_train_s": times,
        "test_bce": [bce],
        "test_mse": [mse],
    }
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
