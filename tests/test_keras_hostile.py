"""Malformed and hostile Keras files are refused with a clear error, and nothing in them is executed."""

from __future__ import annotations

import base64
import json
import marshal
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from convolab.keras_io import KerasFileError, import_keras, read_keras_file  # noqa: E402
from convolab.keras_io import reader as reader_mod  # noqa: E402
from keras_conformance import handmade as hm  # noqa: E402

DENSE = [hm.layer("Dense", "d", units=2)]
DENSE_W = hm.store_arrays({"dense": [np.ones((3, 2), np.float32), np.zeros(2, np.float32)]})


def good_keras(path, **kw):
    return hm.write_keras(path, hm.sequential("m", (3,), DENSE), hm.weights_h5_bytes(DENSE_W), **kw)


def test_the_good_file_imports(tmp_path) -> None:
    assert import_keras(good_keras(tmp_path / "ok.keras")).spec["layers"][0]["units"] == 2


def test_truncated_h5_is_refused(tmp_path) -> None:
    full = hm.write_legacy_h5(
        tmp_path / "full.h5",
        hm.sequential("m", (3,), DENSE),
        {"d": [("kernel", np.ones((3, 2))), ("bias", np.zeros(2))]},
    )
    cut = tmp_path / "cut.h5"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(KerasFileError, match="corrupt or truncated HDF5"):
        import_keras(cut)


def test_truncated_keras_zip_is_refused(tmp_path) -> None:
    full = good_keras(tmp_path / "full.keras")
    cut = tmp_path / "cut.keras"
    cut.write_bytes(full.read_bytes()[:200])
    with pytest.raises(KerasFileError, match="corrupt or truncated"):
        import_keras(cut)


@pytest.mark.parametrize(
    "evil", ["../../evil.txt", "/tmp/evil.txt", "a/../../evil.txt", "C:/evil.txt", "a\\..\\evil"]
)
def test_zip_with_path_traversal_names_is_refused_and_nothing_is_written(tmp_path, evil: str) -> None:
    path = good_keras(tmp_path / "evil.keras", extra={evil: b"pwned"})
    with pytest.raises(KerasFileError, match="unsafe member names"):
        import_keras(path)
    assert not list(tmp_path.parent.glob("**/evil.txt"))


def test_lambda_layer_with_code_is_refused_and_not_run(tmp_path) -> None:
    sentinel = tmp_path / "executed"
    code = compile(f"open({str(sentinel)!r}, 'w').write('ran')", "<lambda>", "exec")
    payload = base64.b64encode(marshal.dumps(code)).decode()
    lam = hm.layer("Lambda", "lam", function={"class_name": "__lambda__", "config": {"code": payload}})
    path = hm.write_keras(tmp_path / "lam.keras", hm.sequential("m", (3,), [lam]), hm.weights_h5_bytes({}))
    with pytest.raises(KerasFileError, match=r"Lambda 'lam' \(holds Python code; convolab never runs code"):
        import_keras(path)
    assert not sentinel.exists()


def test_unknown_layer_is_refused_by_name(tmp_path) -> None:
    unknown = {"module": "evil_pkg.layers", "class_name": "Backdoor", "config": {"name": "bd"}}
    path = hm.write_keras(tmp_path / "u.keras", hm.sequential("m", (3,), [unknown]), hm.weights_h5_bytes({}))
    with pytest.raises(KerasFileError, match="unsupported Keras layers: Backdoor 'bd'"):
        import_keras(path)


@pytest.mark.parametrize(
    "link",
    [lambda: h5py.ExternalLink("/etc/passwd", "/"), lambda: h5py.SoftLink("/layers/dense/vars/0")],
    ids=["external", "soft"],
)
def test_h5_links_are_refused(tmp_path, link) -> None:
    blob = hm.weights_h5_bytes(DENSE_W, links={"layers/dense_1": link()})
    path = hm.write_keras(tmp_path / "l.keras", hm.sequential("m", (3,), DENSE), blob)
    with pytest.raises(KerasFileError, match="refusing HDF5 (External|Soft)Link"):
        import_keras(path)


def test_h5_dataset_with_external_storage_is_refused(tmp_path) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones(6, np.float32).tobytes())
    path = tmp_path / "ext.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("layers/dense/vars/0", shape=(3, 2), dtype="f4", external=[(str(raw), 0, 24)])
    with pytest.raises(KerasFileError, match="external files"):
        read_keras_file(path)


def test_non_numeric_weights_are_refused(tmp_path) -> None:
    path = tmp_path / "s.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "layers/dense/vars/0", data=np.array([b"import os"], dtype=object), dtype=h5py.string_dtype()
        )
    with pytest.raises(KerasFileError, match="non-numeric dtype"):
        read_keras_file(path)


@pytest.mark.parametrize(
    "config, match",
    [
        (b"{not json", "config.json is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "config.json is not valid JSON"),
        (json.dumps({"layers": []}).encode(), "no 'class_name'"),
        (json.dumps({"class_name": "Sequential", "config": {"name": "x"}}).encode(), "no list of layers"),
    ],
    ids=["syntax", "deep-nesting", "no-class", "no-layers"],
)
def test_bad_configs_are_refused(tmp_path, config: bytes, match: str) -> None:
    path = tmp_path / "c.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", config)
        zf.writestr("model.weights.h5", hm.weights_h5_bytes({}))
    with pytest.raises(KerasFileError, match=match):
        import_keras(path)


def test_oversized_members_are_refused(tmp_path, monkeypatch) -> None:
    path = good_keras(tmp_path / "big.keras", extra={"assets/pad": b"0" * 10})
    monkeypatch.setattr(reader_mod, "MAX_JSON_BYTES", 20)
    with pytest.raises(KerasFileError, match="config.json declares .* bytes"):
        import_keras(path)


def test_oversized_arrays_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(reader_mod, "MAX_ARRAY_ELEMENTS", 5)
    with pytest.raises(KerasFileError, match="6 elements"):
        import_keras(good_keras(tmp_path / "m.keras"))


@pytest.mark.parametrize(
    "content, match",
    [(b"", "empty"), (b"\x00" * 64, "not a Keras model file"), (b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, "HDF5")],
    ids=["empty", "garbage", "fake-hdf5-magic"],
)
def test_not_keras_files_are_refused(tmp_path, content: bytes, match: str) -> None:
    path = tmp_path / "x.h5"
    path.write_bytes(content)
    with pytest.raises(KerasFileError, match=match):
        import_keras(path)


def test_missing_file_and_h5_without_keras_layout(tmp_path) -> None:
    with pytest.raises(KerasFileError, match="no such Keras file"):
        import_keras(tmp_path / "nope.keras")
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.zeros(3))
    with pytest.raises(KerasFileError, match="not one Keras wrote"):
        import_keras(path)


def test_h5_hard_link_loop_is_one_clear_error(tmp_path, capsys) -> None:
    """Issue 12 item 7: a group hard-linked under itself recursed until RecursionError (debris on exit)."""
    from convolab.cli import main

    path = tmp_path / "loop.weights.h5"
    with h5py.File(path, "w") as f:
        inner = f.create_group("layers/dense")
        inner["vars/0"] = np.zeros((3, 2), np.float32)
        inner["again"] = f["layers"]  # a hard link to an ancestor
    with pytest.raises(KerasFileError, match=r"'layers/dense/again' links back to a group above it"):
        read_keras_file(path)
    assert main(["import-keras", str(path), "--spec", "dense", "-o", str(tmp_path / "r")]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "hard-link loop" in captured.err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(tmp_path, bad) -> None:
    """Issue 12 item 7: NaN Keras weights were accepted (the model then outputs NaN everywhere)."""
    kernel = np.zeros((3, 2), np.float32)
    kernel[1, 0] = bad
    path = tmp_path / "n.weights.h5"
    with h5py.File(path, "w") as f:
        f["layers/dense/vars/0"] = kernel
        f["layers/dense/vars/1"] = np.zeros(2, np.float32)
    with pytest.raises(KerasFileError, match=r"'layers/dense/vars/0' holds 1 NaN or infinite values"):
        read_keras_file(path)
