"""The lecture's first autoencoder, trained with the lecture's Keras code; run by train_speed.py.

Runs in its own process (and usually its own virtualenv with tensorflow-cpu) so TensorFlow and PyTorch
don't compete for threads. Writes one JSON object: per-epoch training and validation times, test
BCE/MSE after every epoch (from ``predict``, outside the timed part), predict throughput.

    python benchmarks/keras_lecture.py --epochs 10 --out keras.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FASHION_DIR, bce_mse, load_images  # noqa: E402


def build_model(keras):
    """Layer for layer the lecture's code (3,369 parameters)."""
    from keras import layers

    inp = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(inp)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(4, (3, 3), activation="relu", padding="same")(x)
    encoded = layers.MaxPooling2D((2, 2), padding="same")(x)  # (4, 4, 4)
    x = layers.Conv2D(4, (3, 3), activation="relu", padding="same")(encoded)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(16, (3, 3), activation="relu")(x)
    x = layers.UpSampling2D((2, 2))(x)
    decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    model = keras.Model(inp, decoded)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--train-size", type=int, default=60000)
    ap.add_argument("--test-size", type=int, default=10000)
    ap.add_argument("--data-dir", default=str(FASHION_DIR), help="'synthetic' for random blobs")
    ap.add_argument("--threads", type=int, default=0, help="intra/inter-op threads (0: TF default)")
    ap.add_argument(
        "--train-npy",
        default=None,
        help="training images (N, 28, 28) float32 .npy (the "
        "exact split `convolab train` trains on); default: the first --train-size of the IDX",
    )
    ap.add_argument("--test-npy", default=None, help="test images (N, 28, 28) float32 .npy")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    data_dir = None if args.data_dir == "synthetic" else Path(args.data_dir)
    x_train, x_test = load_images(data_dir, args.train_size, args.test_size)
    if args.train_npy:
        import numpy as np

        x_train = np.load(args.train_npy)
        x_test = np.load(args.test_npy) if args.test_npy else x_test
    x_train, x_test = x_train[..., None], x_test[..., None]  # (N, 28, 28, 1): Keras is channels-last
    keras.utils.set_random_seed(0)
    model = build_model(keras)
    times = {"train": [], "val": [], "bce": [], "mse": []}

    class Timer(keras.callbacks.Callback):
        """Epoch wall time split into training and the validation pass that fit runs after it."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_test_begin(self, logs=None):
            self.t_val = time.perf_counter()
            times["train"].append(self.t_val - self.t0)

        def on_epoch_end(self, epoch, logs=None):
            times["val"].append(time.perf_counter() - self.t_val)
            pred = self.model.predict(x_test, batch_size=1024, verbose=0)  # untimed: quality per epoch
            bce, mse = bce_mse(pred, x_test)
            times["bce"].append(bce)
            times["mse"].append(mse)

    # The lecture's call, plus the timing callback.
    model.fit(
        x_train,
        x_train,
        epochs=args.epochs,
        batch_size=256,
        shuffle=True,
        validation_data=(x_test, x_test),
        callbacks=[Timer()],
        verbose=0,
    )
    infer = {}
    for bs in (32, 1024):  # 32: predict's default, as the lecture calls it
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            model.predict(x_test, batch_size=bs, verbose=0)
            runs.append(time.perf_counter() - t0)
        infer[str(bs)] = len(x_test) / sorted(runs)[1]
    result = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "params": int(model.count_params()),
        "epoch_train_s": times["train"],
        "epoch_val_s": times["val"],
        "test_bce": times["bce"],
        "test_mse": times["mse"],
        "keras_val_loss": [float(v) for v in model.history.history["val_loss"]],
        "predict_images_per_s": infer,
    }
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
