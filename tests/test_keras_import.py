"""Keras import without TensorFlow: hand-written .keras/.h5/.weights.h5 files against a NumPy oracle.

The files copy Keras 3's layouts (tests/keras_conformance/handmade.py); the oracle runs the Keras model
channels-last with loops. test_keras_conformance.py checks the same importer against TensorFlow itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("h5py")

from convolab.cli import main  # noqa: E402
from convolab.keras_io import KerasFileError, import_keras  # noqa: E402
from keras_conformance import handmade as hm  # noqa: E402

RNG = np.random.default_rng(7)
INPUT = (7, 6, 2)  # Keras (H, W, C): odd and even sizes
LAYERS = [
    hm.layer("Conv2D", "c1", filters=3, kernel_size=[3, 3], strides=[2, 2], padding="same",
             activation="relu"),
    hm.layer("MaxPooling2D", "p1", pool_size=[2, 2], strides=[2, 2], padding="same"),
    hm.layer("Flatten", "flat"),
    hm.layer("Dense", "fc1", units=5, activation="tanh"),
    hm.layer("Dense", "fc2", units=8, activation="linear"),
    hm.layer("Reshape", "r", target_shape=[2, 2, 2]),
    hm.layer("UpSampling2D", "up", size=[2, 2], interpolation="nearest"),
    hm.layer("Conv2DTranspose", "t1", filters=1, kernel_size=[3, 3], strides=[1, 1], padding="valid",
             activation="sigmoid"),
]  # fmt: skip
W = {
    "c1": [RNG.normal(size=(3, 3, 2, 3)), RNG.normal(size=3)],
    "fc1": [RNG.normal(size=(12, 5)), RNG.normal(size=5)],
    "fc2": [RNG.normal(size=(5, 8)), RNG.normal(size=8)],
    "t1": [RNG.normal(size=(3, 3, 1, 2)), RNG.normal(size=1)],
}
W = {k: [v.astype(np.float32) for v in vs] for k, vs in W.items()}
STORE = {"conv2d": W["c1"], "dense": W["fc1"], "dense_1": W["fc2"], "conv2d_transpose": W["t1"]}
X = RNG.random((4, *INPUT)).astype(np.float32)


def oracle(x: np.ndarray) -> np.ndarray:
    """The model above, computed the Keras way: channels-last, flatten (H, W, C)."""
    y = hm.ACT["relu"](hm.conv2d(x, *W["c1"], 2, "same"))  # (N, 4, 3, 3)
    y = hm.max_pool_same(y, 2)  # (N, 2, 2, 3)
    y = y.reshape(len(x), -1)  # (N, 12), H-W-C order
    y = np.tanh(y @ W["fc1"][0] + W["fc1"][1])
    y = (y @ W["fc2"][0] + W["fc2"][1]).reshape(len(x), 2, 2, 2)  # (N, H, W, C)
    y = hm.upsample_nearest(y, 2)  # (N, 4, 4, 2)
    return hm.ACT["sigmoid"](hm.conv2d_transpose_valid(y, *W["t1"], 1))  # (N, 6, 6, 1)


def run_nhwc(imported, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = imported.model(torch.from_numpy(x).permute(0, 3, 1, 2))  # (N, C, H, W) in
    return out.permute(0, 2, 3, 1).numpy()  # (N, H, W, C) out


@pytest.fixture
def keras_file(tmp_path):
    config = hm.sequential("handmade", INPUT, LAYERS)
    return hm.write_keras(tmp_path / "m.keras", config, hm.weights_h5_bytes(hm.store_arrays(STORE)))


def test_oracle_is_not_trivial() -> None:
    out = oracle(X)
    assert out.shape == (4, 6, 6, 1) and out.std() > 0.01


def test_keras_zip_matches_numpy_oracle(keras_file) -> None:
    imported = import_keras(keras_file)
    assert imported.kind == "keras" and imported.keras_version == "3.15.1"
    assert imported.spec["input_shape"] == [2, 7, 6]
    assert [e["name"] for e in imported.spec["layers"]] == [lay["config"]["name"] for lay in LAYERS]
    assert np.abs(run_nhwc(imported, X) - oracle(X)).max() <= 1e-5


@pytest.mark.parametrize("keras2", [False, True])
def test_legacy_h5_matches_numpy_oracle(tmp_path, keras2: bool) -> None:
    config = hm.sequential("handmade", INPUT, LAYERS)
    layers = {lay["config"]["name"]: [] for lay in LAYERS}
    for name, (k, b) in W.items():
        layers[name] = [("kernel", k), ("bias", b)]
    path = hm.write_legacy_h5(tmp_path / "m.h5", config, layers, keras2=keras2)
    imported = import_keras(path)
    assert imported.kind == "h5"
    assert np.abs(run_nhwc(imported, X) - oracle(X)).max() <= 1e-5


def test_weights_only_file_needs_and_uses_a_spec(tmp_path, keras_file) -> None:
    path = tmp_path / "m.weights.h5"
    path.write_bytes(hm.weights_h5_bytes(hm.store_arrays(STORE)))
    with pytest.raises(KerasFileError, match="--spec"):
        import_keras(path)
    spec = import_keras(keras_file).spec  # the same architecture, as a convolab spec
    imported = import_keras(path, spec=spec)
    assert imported.kind == "weights"
    assert np.abs(run_nhwc(imported, X) - oracle(X)).max() <= 1e-5


def test_nested_encoder_decoder_sets_latent(tmp_path) -> None:
    enc = hm.sequential("enc", INPUT, LAYERS[:4])
    dec = hm.sequential("dec", (5,), LAYERS[4:])
    top = {"class_name": "Sequential", "config": {"name": "ae", "layers": [enc, dec]}}
    # the store names containers and layers by class, per container: sequential, sequential_1, dense, ...
    groups = {
        "sequential/layers/conv2d": W["c1"],
        "sequential/layers/dense": W["fc1"],
        "sequential_1/layers/dense": W["fc2"],
        "sequential_1/layers/conv2d_transpose": W["t1"],
    }
    arrays = hm.store_arrays(groups)
    imported = import_keras(hm.write_keras(tmp_path / "ae.keras", top, hm.weights_h5_bytes(arrays)))
    assert imported.spec["latent"] == "fc1" and imported.spec["name"] == "ae"
    assert np.abs(run_nhwc(imported, X) - oracle(X)).max() <= 1e-5


def _functional(layers: list[dict], inbound: list[str | None]) -> dict:
    out = [{**hm.layer("InputLayer", "in", batch_shape=[None, 4, 4, 1]), "name": "in", "inbound_nodes": []}]
    for lay, src in zip(layers, inbound, strict=True):
        hist = {"class_name": "__keras_tensor__", "config": {"keras_history": [src, 0, 0]}}
        out.append({**lay, "name": lay["config"]["name"], "inbound_nodes": [{"args": [hist], "kwargs": {}}]})
    return {"class_name": "Functional", "config": {"name": "f", "layers": out}}


def test_functional_chain_imports_and_branches_are_refused(tmp_path) -> None:
    layers = [
        hm.layer("Conv2D", "a", filters=1, kernel_size=[1, 1]),
        hm.layer("Activation", "b", activation="relu"),
    ]
    arrays = hm.store_arrays({"conv2d": [np.full((1, 1, 1, 1), -2.0, np.float32), np.ones(1, np.float32)]})
    chain = hm.write_keras(
        tmp_path / "c.keras", _functional(layers, ["in", "a"]), hm.weights_h5_bytes(arrays)
    )
    imported = import_keras(chain)
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(1, 4, 4, 1)
    assert np.allclose(run_nhwc(imported, x), np.maximum(-2 * x + 1, 0))
    branch = hm.write_keras(
        tmp_path / "b.keras", _functional(layers, ["in", "in"]), hm.weights_h5_bytes(arrays)
    )
    with pytest.raises(KerasFileError, match="not a chain"):
        import_keras(branch)


def test_every_unsupported_layer_in_one_error(tmp_path) -> None:
    layers = [
        hm.layer("Conv2D", "c", filters=1, kernel_size=[3, 3], activation="gelu"),
        hm.layer("BatchNormalization", "bn"),
        hm.layer("Dropout", "drop", rate=0.5),
        {"module": "my_pkg", "class_name": "MyLayer", "config": {"name": "mine"}},
    ]
    path = hm.write_keras(
        tmp_path / "u.keras", hm.sequential("u", (8, 8, 1), layers), hm.weights_h5_bytes({})
    )
    with pytest.raises(KerasFileError) as err:
        import_keras(path)
    msg = str(err.value)
    for part in (
        "Conv2D 'c' (activation 'gelu'",
        "BatchNormalization 'bn'",
        "MyLayer 'mine'",
        "convolab imports",
    ):
        assert part in msg
    assert "Dropout" not in msg.split(". convolab imports")[0]  # Dropout is supported (left out)


def test_dropout_is_left_out_with_a_note(tmp_path) -> None:
    layers = [hm.layer("Flatten", "f"), hm.layer("Dropout", "d", rate=0.5)]
    path = hm.write_keras(
        tmp_path / "d.keras", hm.sequential("d", (2, 2, 1), layers), hm.weights_h5_bytes({})
    )
    imported = import_keras(path)
    assert [e["type"] for e in imported.spec["layers"]] == ["Flatten"]
    assert any("Dropout 'd'" in note for note in imported.notes)


def test_dense_on_an_image_and_wrong_weight_shapes_are_refused(tmp_path) -> None:
    dense = [hm.layer("Dense", "d", units=2)]
    path = hm.write_keras(tmp_path / "a.keras", hm.sequential("a", (3, 3, 2), dense), hm.weights_h5_bytes({}))
    with pytest.raises(KerasFileError, match="add a Flatten"):
        import_keras(path)
    arrays = hm.store_arrays({"dense": [np.zeros((4, 2), np.float32), np.zeros(2, np.float32)]})
    path = hm.write_keras(tmp_path / "b.keras", hm.sequential("b", (3,), dense), hm.weights_h5_bytes(arrays))
    with pytest.raises(KerasFileError, match=r"shapes \[\(4, 2\), \(2,\)\], expected \[\(3, 2\), \(2,\)\]"):
        import_keras(path)


def test_cli_import_then_load_the_run(tmp_path, keras_file, capsys) -> None:
    from convolab.train.run import load_run

    run = tmp_path / "run"
    assert main(["import-keras", str(keras_file), "-o", str(run), "--dataset", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert "imported" in out and "8 layers" in out and "saved" in out
    assert (run / "spec.yaml").is_file() and (run / "best" / "model.safetensors").is_file()
    loaded = load_run(run, device="cpu")
    assert loaded.config.dataset == "fashion-mnist"
    with torch.no_grad():
        got = loaded.model(torch.from_numpy(X).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    assert np.abs(got - oracle(X)).max() <= 1e-5


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a model at all")
    assert main(["import-keras", str(bad), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a Keras model file" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_cli_help_teaches(capsys) -> None:
    assert main(["import-keras", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Examples" in text and "convolab import-keras autoencoder.keras" in text


def _tree(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_cli_import_replaces_only_an_earlier_import(tmp_path, keras_file, capsys) -> None:
    """Issue 12 item 6: import-keras -o replaced a trained run or wrote into any folder, even `.`."""
    run = tmp_path / "run"
    assert main(["import-keras", str(keras_file), "-o", str(run)]) == 0
    assert main(["import-keras", str(keras_file), "-o", str(run)]) == 0  # re-import: allowed
    capsys.readouterr()
    # a trained run: an optimizer state in last/ (and a log)
    (run / "last" / "optimizer.pt").write_bytes(b"optimizer")
    (run / "log.jsonl").write_text("{}\n")
    before = _tree(run)
    assert main(["import-keras", str(keras_file), "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a trained run" in err
    assert _tree(run) == before
    # a user's folder with other files
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.txt").write_text("precious")
    assert main(["import-keras", str(keras_file), "-o", str(mine)]) == 2
    assert "is not empty and is not an earlier import" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["data.txt"]
    # an empty folder is fine
    (tmp_path / "empty").mkdir()
    assert main(["import-keras", str(keras_file), "-o", str(tmp_path / "empty")]) == 0


def test_cli_import_refuses_an_unknown_dataset_before_writing(tmp_path, keras_file, capsys) -> None:
    """Issue 12 item 7: `import-keras --dataset imagenet` was accepted."""
    assert main(["import-keras", str(keras_file), "-o", str(tmp_path / "r"), "--dataset", "imagenet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "imagenet" in err
    assert not (tmp_path / "r").exists()
