"""Read Keras model files safely, without TensorFlow: ``.keras`` (zip), ``.h5`` and ``.weights.h5``.

Nothing from the file is ever executed: configs are parsed with ``json.loads`` only (no pickle, no
marshal, no eval), zip members are read into memory by exact name (never extracted to disk) with size
limits, and HDF5 files are opened from an in-memory copy with every link and dataset checked before a
byte of it is read (no soft or external links, no external or virtual storage, numeric data only).

File layouts (checked against files written by Keras 3.15 / TensorFlow 2.21):

- ``.keras``: a zip with ``metadata.json``, ``config.json`` (``{"class_name": "Sequential", "config":
  {"layers": [...]}}``) and ``model.weights.h5``; weights live at ``layers/<store name>/vars/<i>``, where
  the store name is the snake-cased class name made unique per container (``conv2d``, ``conv2d_1``, ...;
  nested models nest: ``layers/sequential/layers/conv2d``), not the layer's own name.
- ``.weights.h5`` (``model.save_weights``): the same ``layers/...`` tree, no config.
- legacy ``.h5`` (``model.save("x.h5")``): root attribute ``model_config`` (JSON) and a group
  ``model_weights`` whose attribute ``layer_names`` lists the top-level layers; each of those lists its
  arrays in ``weight_names`` (``"sequential/conv2d/kernel"`` in Keras 3, ``"conv2d/kernel:0"`` in Keras 2).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

#: largest model file read (bytes); a bigger file is refused before it is read
MAX_FILE_BYTES = 1 << 30
#: largest config.json / metadata.json / model_config attribute (bytes)
MAX_JSON_BYTES = 16 << 20
#: largest single weight array (elements) and all weights together (bytes)
MAX_ARRAY_ELEMENTS = 1 << 28
MAX_TOTAL_WEIGHT_BYTES = 1 << 30
#: most entries in a zip or an HDF5 tree
MAX_ENTRIES = 100_000
MAX_H5_DEPTH = 64  # nested HDF5 groups (Keras files use fewer than 10)

ZIP_CONFIG = "config.json"
ZIP_METADATA = "metadata.json"
ZIP_WEIGHTS = "model.weights.h5"


class KerasFileError(ValueError):
    """A Keras file that convolab cannot or will not read (corrupt, hostile, unsupported)."""


@dataclass
class KerasFile:
    """What a Keras file holds, as plain data.

    Attributes:
        path: the file read.
        kind: ``"keras"`` (zip), ``"h5"`` (legacy full model) or ``"weights"`` (weights only).
        config: the model config (``{"class_name", "config"}``), or None for a weights-only file.
        arrays: every weight array by its path in the HDF5 tree (``layers/conv2d/vars/0``).
        legacy_weight_names: legacy ``.h5`` only: top-level layer name -> its ``weight_names`` in order.
        keras_version: as recorded in the file, when it is.
    """

    path: Path
    kind: str
    config: dict[str, Any] | None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    legacy_weight_names: dict[str, list[str]] | None = None
    keras_version: str | None = None


def read_keras_file(path: str | Path) -> KerasFile:
    """Read a ``.keras``, ``.h5`` or ``.weights.h5`` file into a :class:`KerasFile`.

    Raises:
        KerasFileError: the file is missing, too large, truncated, not a Keras file, or hostile.
    """
    path = Path(path)
    data = _read_bytes(path)
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return _read_zip(path, data)
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return _read_h5_model(path, data)
    raise KerasFileError(
        f"{path}: not a Keras model file (expected a .keras zip or an HDF5 .h5 file; "
        f"the file starts with {data[:8]!r})"
    )


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise KerasFileError(f"no such Keras file: {path}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise KerasFileError(f"{path}: {size} bytes is larger than the {MAX_FILE_BYTES} byte limit")
    if size == 0:
        raise KerasFileError(f"{path}: the file is empty")
    return path.read_bytes()


# --------------------------------------------------------------------------------------------------
# .keras: a zip read in memory, member by exact name.


def _read_zip(path: Path, data: bytes) -> KerasFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise KerasFileError(f"{path}: corrupt or truncated .keras zip ({exc})") from None
    if len(infos) > MAX_ENTRIES:
        raise KerasFileError(f"{path}: {len(infos)} zip members is more than the {MAX_ENTRIES} limit")
    bad = [info.filename for info in infos if not _safe_member_name(info.filename)]
    if bad:
        raise KerasFileError(
            f"{path}: refusing a zip with unsafe member names (absolute or '..' paths): "
            + ", ".join(repr(b) for b in bad[:5])
        )
    names = [info.filename for info in infos]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise KerasFileError(f"{path}: refusing a zip with duplicate members: {', '.join(dupes)}")
    if ZIP_CONFIG not in names:
        raise KerasFileError(f"{path}: not a Keras 3 .keras file (no {ZIP_CONFIG} in the zip)")
    if ZIP_WEIGHTS not in names:
        others = [n for n in names if "weights" in n]
        raise KerasFileError(
            f"{path}: no {ZIP_WEIGHTS} in the zip"
            + (f" (found {', '.join(others)}: only the default HDF5 weights are supported)" if others else "")
        )
    config = _parse_json(path, ZIP_CONFIG, _read_member(path, zf, ZIP_CONFIG, MAX_JSON_BYTES))
    meta: Any = {}
    if ZIP_METADATA in names:
        meta = _parse_json(path, ZIP_METADATA, _read_member(path, zf, ZIP_METADATA, MAX_JSON_BYTES))
    weights = _read_member(path, zf, ZIP_WEIGHTS, MAX_TOTAL_WEIGHT_BYTES + (1 << 20))
    arrays, _ = _read_h5_tree(path, weights)
    version = meta.get("keras_version") if isinstance(meta, dict) else None
    return KerasFile(path, "keras", _check_model_config(path, config), arrays, None, _str_or_none(version))


def _safe_member_name(name: str) -> bool:
    """A zip member name that could never escape a folder (we never extract, but refuse such files)."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name.split("/")[0]:
        return False
    return ".." not in PurePosixPath(name).parts


def _read_member(path: Path, zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise KerasFileError(f"{path}: zip member {name} declares {info.file_size} bytes (limit {limit})")
    try:
        with zf.open(info) as fh:
            blob = fh.read(limit + 1)  # never trust the declared size: read at most limit + 1
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise KerasFileError(f"{path}: cannot read zip member {name} ({exc})") from None
    if len(blob) > limit:
        raise KerasFileError(f"{path}: zip member {name} is larger than {limit} bytes")
    return blob


def _parse_json(path: Path, what: str, blob: bytes | str) -> Any:
    if len(blob) > MAX_JSON_BYTES:
        raise KerasFileError(f"{path}: {what} is larger than {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(blob)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise KerasFileError(f"{path}: {what} is not valid JSON ({type(exc).__name__}: {exc})") from None


def _check_model_config(path: Path, config: Any) -> dict[str, Any]:
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise KerasFileError(f"{path}: the model config has no 'class_name' (not a Keras model config)")
    if not isinstance(config.get("config"), dict):
        raise KerasFileError(f"{path}: the model config of {config['class_name']!r} has no 'config' object")
    return config


def _str_or_none(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------------------------------
# HDF5: opened from memory, every object checked before reading.


def _open_h5(path: Path, data: bytes):
    try:
        import h5py
    except ImportError:
        raise KerasFileError(
            f"{path}: reading Keras weights needs h5py (pip install 'convolab[keras]' or pip install h5py)"
        ) from None
    try:
        return h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError) as exc:
        raise KerasFileError(f"{path}: corrupt or truncated HDF5 file ({exc})") from None


def _read_h5_model(path: Path, data: bytes) -> KerasFile:
    arrays, attrs = _read_h5_tree(path, data)
    version = _str_or_none(attrs.get("keras_version"))
    if "model_config" in attrs:  # legacy full model
        config = _check_model_config(path, _parse_json(path, "model_config", attrs["model_config"]))
        return KerasFile(path, "h5", config, arrays, attrs["legacy"], version)
    if attrs["legacy"] is not None:  # Keras 2 save_weights(.h5): layer_names at the root
        return KerasFile(path, "weights", None, arrays, attrs["legacy"], version)
    if any(k.startswith("layers/") for k in arrays) or not arrays:
        return KerasFile(path, "weights", None, arrays, None, None)
    raise KerasFileError(f"{path}: an HDF5 file, but not one Keras wrote (no model_config, no layers/ group)")


def _read_h5_tree(path: Path, data: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every numeric dataset of the file by path, plus the root attributes convolab uses."""
    arrays: dict[str, np.ndarray] = {}
    with _open_h5(path, data) as f:
        try:
            _walk(path, f, "", arrays, [0, 0], frozenset({f["/"].id}))
            attrs: dict[str, Any] = {}
            for key in ("model_config", "keras_version"):
                if key in f.attrs:
                    attrs[key] = _attr_text(path, f.attrs[key], key)
            group = f["model_weights"] if "model_config" in attrs and "model_weights" in f else f
            attrs["legacy"] = _legacy_names(path, group) if "layer_names" in group.attrs else None
        except (OSError, KeyError, RuntimeError) as exc:  # h5py reports damaged objects as these
            raise KerasFileError(f"{path}: corrupt or truncated HDF5 file ({exc})") from None
    return arrays, attrs


def _walk(
    path: Path,
    group: Any,
    prefix: str,
    out: dict[str, np.ndarray],
    count: list[int],
    seen: frozenset = frozenset(),
) -> None:
    """Collect the datasets under ``group``; ``count`` is [objects seen, bytes read] (limits).

    ``seen``: the groups above (a hard link to one of them would loop forever).
    """
    import h5py

    for name in group:
        count[0] += 1
        if count[0] > MAX_ENTRIES:
            raise KerasFileError(f"{path}: more than {MAX_ENTRIES} objects in the HDF5 tree")
        full = f"{prefix}{name}"
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise KerasFileError(
                f"{path}: refusing HDF5 {type(link).__name__} {full!r} (soft and external links can point "
                "outside the file)"
            )
        obj = group[name]
        if isinstance(obj, h5py.Group):
            if obj.id in seen or full.count("/") >= MAX_H5_DEPTH:
                raise KerasFileError(
                    f"{path}: HDF5 group {full!r} links back to a group above it (a hard-link loop) "
                    f"or nests deeper than {MAX_H5_DEPTH}"
                )
            _walk(path, obj, full + "/", out, count, seen | {obj.id})
        elif isinstance(obj, h5py.Dataset):
            out[full] = _read_dataset(path, full, obj, count)


def _read_dataset(path: Path, name: str, dset: Any, count: list[int]) -> np.ndarray:
    if dset.external:
        raise KerasFileError(f"{path}: refusing dataset {name!r} stored in external files {dset.external}")
    if dset.is_virtual:
        raise KerasFileError(f"{path}: refusing virtual dataset {name!r} (it maps other files)")
    if dset.dtype.kind not in "fiub":
        raise KerasFileError(f"{path}: dataset {name!r} has non-numeric dtype {dset.dtype}")
    if dset.size > MAX_ARRAY_ELEMENTS:
        raise KerasFileError(
            f"{path}: dataset {name!r} has {dset.size} elements (limit {MAX_ARRAY_ELEMENTS})"
        )
    count[1] += int(dset.size) * dset.dtype.itemsize
    if count[1] > MAX_TOTAL_WEIGHT_BYTES:
        raise KerasFileError(f"{path}: weights larger than {MAX_TOTAL_WEIGHT_BYTES} bytes in total")
    array = np.asarray(dset[()])
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise KerasFileError(
            f"{path}: dataset {name!r} holds {bad} NaN or infinite values; weights must be finite"
        )
    return array


def _attr_text(path: Path, value: Any, key: str) -> str:
    text = _str_or_none(value.item() if isinstance(value, np.ndarray) and value.shape == () else value)
    if text is None:
        raise KerasFileError(f"{path}: HDF5 attribute {key!r} is not text")
    return text


def _legacy_names(path: Path, group: Any) -> dict[str, list[str]]:
    """Legacy layout: layer name -> its weight paths (relative to ``group``), in the saved order."""
    out: dict[str, list[str]] = {}
    for raw in np.asarray(group.attrs["layer_names"]).ravel():
        layer = _str_or_none(raw)
        if layer is None or layer not in group:
            raise KerasFileError(f"{path}: layer_names lists {raw!r}, which the file does not hold")
        sub = group[layer]
        names = np.asarray(sub.attrs.get("weight_names", [])).ravel()
        prefix = "" if group.name == "/" else group.name.strip("/") + "/"
        out[layer] = [f"{prefix}{layer}/{_str_or_none(n)}" for n in names]
    return out
