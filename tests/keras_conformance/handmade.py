"""Keras files written by hand (h5py + zipfile, no TensorFlow) and a NumPy oracle of Keras's forward pass.

The layouts copy what Keras 3.15 writes (see ``convolab.keras_io.reader``): a ``.keras`` zip with
``config.json`` and ``model.weights.h5`` (``layers/<snake class name>/vars/<i>``), and a legacy ``.h5``
with a ``model_config`` attribute and ``model_weights/<layer>/<model>/<layer>/<var>`` arrays. The oracle
computes channels-last, the Keras way, with loops and explicit TF padding: it shares no code with
convolab.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------------
# configs


def layer(class_name: str, name: str, **config: Any) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": class_name, "config": {"name": name, **config}}


def sequential(name: str, input_shape: tuple[int, ...], layers: list[dict[str, Any]]) -> dict[str, Any]:
    inp = layer("InputLayer", f"{name}_input", batch_shape=[None, *input_shape], dtype="float32")
    return {"module": "keras", "class_name": "Sequential", "config": {"name": name, "layers": [inp, *layers]}}


# ---------------------------------------------------------------------------------------------------
# writers


def weights_h5_bytes(arrays: dict[str, np.ndarray], links: dict[str, Any] | None = None) -> bytes:
    """An HDF5 file (bytes) with ``arrays`` at their paths; ``links`` adds raw h5py link objects."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for path, value in arrays.items():
            f.create_dataset(path, data=value)
        for path, link in (links or {}).items():
            f[path] = link
    return buf.getvalue()


def store_arrays(weights: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Keras 3 store layout: ``{"dense": [k, b]}`` -> ``{"layers/dense/vars/0": k, ...}``."""
    return {f"layers/{key}/vars/{i}": w for key, ws in weights.items() for i, w in enumerate(ws)}


def write_keras(
    path: Path, config: dict[str, Any], weights_h5: bytes, extra: dict[str, bytes] | None = None
) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", weights_h5)
        for name, blob in (extra or {}).items():
            zf.writestr(name, blob)
    return path


def write_legacy_h5(
    path: Path,
    config: dict[str, Any] | None,
    layers: dict[str, list[tuple[str, np.ndarray]]],
    *,
    keras2: bool = False,
) -> Path:
    """Legacy ``.h5``: ``layers`` maps layer name -> [(var name, array)] in order (Keras 2 adds ':0')."""
    import h5py

    with h5py.File(path, "w") as f:
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)
            f.attrs["keras_version"] = "2.15.0" if keras2 else "3.15.1"
        group = f.create_group("model_weights") if config is not None else f
        group.attrs["layer_names"] = np.array([n.encode() for n in layers])
        model = (config or {}).get("config", {}).get("name", "model")
        for lname, variables in layers.items():
            sub = group.create_group(lname)
            names = [f"{lname}/{v}:0" if keras2 else f"{model}/{lname}/{v}" for v, _ in variables]
            sub.attrs["weight_names"] = np.array([n.encode() for n in names])
            for wname, (_, value) in zip(names, variables, strict=True):
                sub.create_dataset(wname, data=value)
    return path


# ---------------------------------------------------------------------------------------------------
# NumPy oracle, channels-last (N, H, W, C)

ACT = {
    None: lambda x: x,
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


def tf_same_pad(i: int, k: int, s: int) -> tuple[int, int]:
    """TF 'same': total = max((ceil(i/s) - 1) s + k - i, 0), the odd pixel after."""
    total = max((math.ceil(i / s) - 1) * s + k - i, 0)
    return total // 2, total - total // 2


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, s: int, padding: str) -> np.ndarray:
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    (t, b), (le, r) = (
        (tf_same_pad(h, kh, s), tf_same_pad(w, kw, s)) if padding == "same" else ((0, 0), (0, 0))
    )
    xp = np.pad(x, ((0, 0), (t, b), (le, r), (0, 0)))
    oh, ow = (xp.shape[1] - kh) // s + 1, (xp.shape[2] - kw) // s + 1
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * s : i * s + kh, j * s : j * s + kw, :]  # (N, kh, kw, C)
            out[:, i, j, :] = np.tensordot(win, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out + (0 if bias is None else bias)


def conv2d_transpose_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, s: int) -> np.ndarray:
    """Stride ``s``, 'valid': every input pixel scatters ``kernel`` (kh, kw, filters, C) into the output."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    out = np.zeros((n, (h - 1) * s + max(kh, s), (w - 1) * s + max(kw, s), f))
    for i in range(h):
        for j in range(w):
            out[:, i * s : i * s + kh, j * s : j * s + kw, :] += np.einsum(
                "nc,hwfc->nhwf", x[:, i, j, :], kernel
            )
    return out + bias


def max_pool_same(x: np.ndarray, p: int) -> np.ndarray:
    n, h, w, c = x.shape
    (t, b), (le, r) = tf_same_pad(h, p, p), tf_same_pad(w, p, p)
    xp = np.pad(x, ((0, 0), (t, b), (le, r), (0, 0)), constant_values=-np.inf)
    oh, ow = xp.shape[1] // p, xp.shape[2] // p
    return xp[:, : oh * p, : ow * p].reshape(n, oh, p, ow, p, c).max(axis=(2, 4))


def upsample_nearest(x: np.ndarray, f: int) -> np.ndarray:
    return x.repeat(f, axis=1).repeat(f, axis=2)
