"""convolab computes what Keras computes: random layer configurations and the lecture's trained models.

Needs TensorFlow (the optional extra ``keras``); skipped cleanly without it. The oracle is TensorFlow
itself: each Keras layer runs on the same input as its imported convolab twin.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from convolab.keras_io import import_keras  # noqa: E402
from keras_conformance.cases import GENERATORS, describe, draw_cases, run_case  # noqa: E402
from keras_conformance.lecture import KERAS_ZOO, fashion_subset, train_and_save  # noqa: E402

TOL = 1e-5
CASES_PER_KIND = 12


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_random_configurations_match_keras(kind: str) -> None:
    worst, failures = 0.0, []
    for i, case in enumerate(draw_cases(kind, CASES_PER_KIND, seed=sum(map(ord, kind)))):
        diff = run_case(case, seed=i)
        worst = max(worst, diff)
        if not diff <= TOL:
            failures.append(f"{diff:.2e} {describe(case)}")
    assert not failures, "\n".join(failures)
    assert worst <= TOL


def test_keras_refused_transpose_is_refused_by_convolab_too() -> None:
    """Keras fails on 'same' + output_padding=0 with an even kernel (DESIGN.md); convolab refuses it."""
    from convolab.keras_io.mapping import Mapper
    from convolab.keras_io.reader import KerasFileError
    from convolab.keras_io.structure import KerasLayer

    layer = keras.layers.Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=0)
    leaf = KerasLayer("Conv2DTranspose", "t", layer.get_config(), [])
    with pytest.raises(KerasFileError, match="Conv2DTranspose 't'"):
        Mapper((5, 5, 1)).run([leaf])


@pytest.fixture(scope="module")
def fashion_data(fashion_dir) -> tuple[np.ndarray, np.ndarray]:
    return fashion_subset(fashion_dir, n_train=1024, n_test=256)


@pytest.mark.slow
@pytest.mark.parametrize("name", KERAS_ZOO)
def test_trained_keras_autoencoder_imports_exactly(name: str, fashion_data, tmp_path) -> None:
    """Train in Keras one epoch on Fashion-MNIST, save .keras/.h5/.weights.h5, import, compare."""
    x_train, x_test = fashion_data
    model, paths = train_and_save(name, x_train, tmp_path)
    want = np.asarray(model(x_test, training=False))  # (N, 28, 28, 1)
    imported = {
        "keras": import_keras(paths["keras"]),
        "h5": import_keras(paths["h5"]),
        "weights": import_keras(paths["weights"], spec=name),
    }
    x = torch.from_numpy(x_test).permute(0, 3, 1, 2)  # (N, 1, 28, 28)
    for kind, imp in imported.items():
        with torch.no_grad():
            got = imp.model(x).permute(0, 2, 3, 1).numpy()  # (N, 28, 28, 1)
        diff = float(np.abs(got - want).max())
        assert diff <= TOL, f"{name} from {kind}: max abs diff {diff:.3g}"
    # the import keeps Keras's layer names, so the zoo spec and the imported one line up
    assert [e["name"] for e in imported["keras"].spec["layers"]] == [
        e["name"] for e in imported["weights"].spec["layers"]
    ]


def _save(model, path):
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)  # inside Keras
        model.save(path)
    return path


def test_functional_and_nested_keras_models_import_exactly(tmp_path) -> None:
    """Files written by Keras itself: a functional chain, and Sequential([encoder, decoder])."""
    layers = keras.layers
    inp = keras.Input((9, 8, 2))
    x = layers.Conv2D(3, 3, strides=2, padding="same", activation="relu", name="c")(inp)
    x = layers.Flatten(name="f")(x)
    out = layers.Dense(4, activation="tanh", name="d")(x)
    functional = keras.Model(inp, out, name="chain")
    enc = keras.Sequential(
        [keras.Input((8, 8, 1)), layers.Conv2D(2, 3, name="e1"), layers.MaxPooling2D(name="e2")]
    )
    dec = keras.Sequential([keras.Input((3, 3, 2)), layers.Conv2DTranspose(1, 4, strides=2, name="d1")])
    nested = keras.Sequential([enc, dec], name="ae")
    rng = np.random.default_rng(3)
    for model in (functional, nested):
        for lay in model.layers:
            for sub in getattr(lay, "layers", [lay]):
                sub.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in sub.get_weights()])
        imported = import_keras(_save(model, tmp_path / f"{model.name}.keras"))
        x = rng.random((2, *model.input_shape[1:]), dtype=np.float32)
        want = np.asarray(model(x, training=False))
        with torch.no_grad():
            got = imported.model(torch.from_numpy(x).permute(0, 3, 1, 2))  # (N, C, H, W)
        got = got.permute(0, 2, 3, 1) if got.dim() == 4 else got
        assert np.abs(got.numpy() - want).max() <= TOL, model.name
    assert imported.spec["latent"] == "e2"
