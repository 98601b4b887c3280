"""Images given in Python (NumPy arrays or torch tensors) as a run's data, kept in the run folder.

``convolab.fit(model, x_train, validation_data=x_val)`` trains on arrays the way ``convolab train``
trains on a named dataset: :func:`as_images` turns each array into float32 ``(N, C, H, W)`` in [0, 1]
(the layout read from the model's input shape), :func:`split_memory` carves the validation part
exactly as ``convolab.data.train_val_split`` does, and :func:`write_arrays` stores the splits in
``data.safetensors`` in the run folder. The run's config names the dataset ``memory``, and
``convolab.train.run_data.load_run_data`` reads that file back: so resume (``--resume`` too), ``evaluate``
and the figures of such a run work from its folder alone, through the same code as any other run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

DATA_FILE = "data.safetensors"
SPLITS = ("train", "val", "eval")


def _source(x: Any, what: str) -> Any:
    """``x`` as a torch tensor or a NumPy array, its data not copied yet (a NumPy view of a list is made)."""
    if isinstance(x, torch.Tensor):
        if x.is_meta:
            raise ValueError(f"{what}: a 'meta' tensor holds no data, only a shape; pass real images")
        if x.layout != torch.strided:
            raise ValueError(f"{what}: a {x.layout} tensor; pass a dense one (x.to_dense())")
        return x.detach()
    import numpy as np

    if isinstance(x, np.ma.MaskedArray):
        raise ValueError(
            f"{what}: a masked array (convolab would ignore its mask); pass x.filled(value) to fill "
            "the masked pixels, or x.data to use the values as they are"
        )
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be an array of images, got {type(x).__name__}: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be a numeric array of images, got dtype {arr.dtype}")
    return arr


def _layout(dims: tuple[int, ...], shape: tuple[int, ...], what: str) -> tuple[int, ...] | None:
    """The permutation taking an array of shape ``dims`` to ``(N, *shape)`` (None: none needed; a
    ``(N, H, W)`` batch gets its channel axis after). Images come as (N, C, H, W), (N, H, W, C)
    (Keras) or (N, H, W) (one channel); other inputs as ``(N, *shape)``."""
    if len(dims) == len(shape) + 1 and tuple(dims[1:]) == tuple(shape):
        return None
    if len(shape) != 3:
        raise ValueError(f"{what} has shape {dims}; the model takes inputs (N, {', '.join(map(str, shape))})")
    c, h, w = shape
    if len(dims) == 4 and tuple(dims[1:]) == (h, w, c):
        return (0, 3, 1, 2)
    if len(dims) == 3 and c == 1 and tuple(dims[1:]) == (h, w):
        return None
    forms = f"(N, {c}, {h}, {w}) or (N, {h}, {w}, {c})" + (f" or (N, {h}, {w})" if c == 1 else "")
    raise ValueError(f"{what} has shape {dims}; the model takes images {forms}")


def _dtype_name(x: Any) -> str:
    return str(x.dtype).replace("torch.", "")


def _is_uint8(x: Any) -> bool:
    return x.dtype == torch.uint8 if isinstance(x, torch.Tensor) else x.dtype.kind == "u" and x.itemsize == 1


def _is_float(x: Any) -> bool:
    return x.is_floating_point() if isinstance(x, torch.Tensor) else x.dtype.kind == "f"


def _copy(x: Any, perm: tuple[int, ...] | None, shape: tuple[int, ...]) -> torch.Tensor:
    """One float32 copy of ``x`` in ``(N, *shape)`` order, on the CPU (uint8 still 0..255)."""
    if isinstance(x, torch.Tensor):
        t = x.permute(*perm) if perm else x
        t = t.to("cpu", torch.float32, memory_format=torch.contiguous_format)
    else:
        import numpy as np

        a = np.ascontiguousarray(x.transpose(perm) if perm else x, dtype=np.float32)
        t = torch.from_numpy(a if a.flags.writeable else a.copy())  # (a read-only float32 array is shared)
    return t.reshape(t.shape[0], *shape)


def as_images(x: Any, shape: tuple[int, ...], what: str = "images") -> torch.Tensor:
    """Images for a model of input ``shape`` ``(C, H, W)``: float32 ``(N, C, H, W)`` in [0, 1].

    uint8 is divided by 255 (as every named dataset is); floats must already lie in [0, 1]. Checked
    before anything is copied: the kind of array (no meta, sparse or masked one), the shape, the dtype
    and the size of the float32 copy (``limits.MAX_ARRAY_BYTES``).
    Example: ``as_images(np.zeros((10, 28, 28), np.uint8), (1, 28, 28)).shape == (10, 1, 28, 28)``.
    """
    from convolab.limits import MAX_ARRAY_BYTES, check_bytes

    src = _source(x, what)
    dims = tuple(int(d) for d in src.shape)
    perm = _layout(dims, tuple(shape), what)
    if dims[0] < 1:
        raise ValueError(f"{what} holds no images")
    if not (_is_uint8(src) or _is_float(src)):
        raise ValueError(f"{what} must be uint8 (0..255) or float in [0, 1], got {_dtype_name(src)}")
    check_bytes(
        f"{what} {dims} as float32",
        4 * math.prod(dims),
        MAX_ARRAY_BYTES,
        "train a larger set from a folder: dataset (streamed), or predict in parts",
    )
    uint8 = _is_uint8(src)
    t = _copy(src, perm, tuple(shape))
    if uint8:
        return t.div_(255.0)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} holds NaN or infinite values")
    lo, hi = float(t.min()), float(t.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{what} must lie in [0, 1] (found {lo:g}..{hi:g}); scale them first (uint8 images: pass them "
            "as uint8, they are divided by 255)"
        )
    return t


def split_memory(x: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, val)`` carved from ``x`` by ``convolab.data.train_val_split`` (the same indices)."""
    from convolab.data import split_indices

    train, val = split_indices(int(x.shape[0]), val_fraction, seed=seed)  # the indices train_val_split takes
    return x[train], x[val]


def write_arrays(
    run_dir: Path, train: torch.Tensor, val: torch.Tensor, eval_images: torch.Tensor, eval_name: str
) -> Path:
    """Store the splits in ``run_dir/data.safetensors`` (atomically; float32, bit for bit)."""
    from safetensors.torch import save_file

    path = Path(run_dir) / DATA_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tensors = {"train": train, "val": val}
    if eval_images is not val:
        tensors["eval"] = eval_images
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"eval_name": eval_name})
    tmp.replace(path)
    return path


def read_arrays(run_dir: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """``(train, val, eval_images, eval_name)`` from ``run_dir/data.safetensors``."""
    from safetensors import safe_open

    path = Path(run_dir) / DATA_FILE
    if not path.is_file():
        raise ValueError(
            f"run {run_dir} was trained on images given in Python (dataset 'memory'), but {path} is "
            "missing; evaluate it on a named dataset instead (--dataset NAME)"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
            got = {k: f.get_tensor(k) for k in SPLITS if k in names}
            eval_name = (f.metadata() or {}).get("eval_name", "validation")
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"cannot read {path}: {exc}") from None
    bad = [k for k, v in got.items() if v.dtype != torch.float32 or v.dim() != 4]
    if {"train", "val"} - names or bad:
        raise ValueError(f"{path} is not a convolab data file (needs float32 (N, C, H, W) train and val)")
    return got["train"], got["val"], got.get("eval", got["val"]), eval_name
