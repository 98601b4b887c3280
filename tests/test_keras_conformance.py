"""convolab computes what Keras computes: random layer configurations and the lecture's trained models.

Two oracles. The recorded one (``tests/data/keras_conformance.npz``, made by
``tests/keras_conformance/record.py``: Keras configs, weights, inputs and TensorFlow's outputs) needs no
TensorFlow and always runs, on every CPU. The live one runs TensorFlow itself (the optional extra
``keras``; skipped cleanly without it): each Keras layer on the same input as its imported convolab twin,
and checks that TensorFlow still computes what was recorded. Where TensorFlow's CPU kernel refuses a case
on this machine (dilated Conv2DTranspose with oneDNN off: AMD EPYC/AVX2, ``TF_ENABLE_ONEDNN_OPTS=0``),
that live case is skipped with the reason; its recorded twin still runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_conformance.cases import (  # noqa: E402
    GENERATORS,
    TFRefused,
    convolab_output,
    describe,
    draw_cases,
    is_dilated_transpose,
    keras_run,
)
from keras_conformance.lecture import KERAS_ZOO  # noqa: E402
from keras_conformance.record import RECORDING, case_json, kind_seed, load  # noqa: E402

TOL = 1e-5
LIVE_CASES_PER_KIND = 12  # the first 12 of each kind's recorded cases (the same draws)


@pytest.fixture(scope="module")
def recorded():
    meta, cases = load(RECORDING)
    return meta, cases


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("h5py")
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def test_recording_holds_every_kind_and_the_cases_drawn_today(recorded) -> None:
    """The recording is the cases ``draw_cases`` draws now (a changed generator must be re-recorded)."""
    meta, cases = recorded
    n = meta["cases_per_kind"]
    assert n >= LIVE_CASES_PER_KIND
    assert [r.kind for r in cases] == [k for k in GENERATORS for _ in range(n)]
    for kind in GENERATORS:
        drawn = [case_json(c) for c in draw_cases(kind, n, seed=kind_seed(kind))]
        stored = [case_json(r.case) for r in cases if r.kind == kind]
        assert stored == drawn, f"{kind}: re-record with python tests/keras_conformance/record.py"
    assert any(is_dilated_transpose(r.case) for r in cases)  # the cases some CPUs' TF refuses


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_recorded_configurations_match_keras(kind: str, recorded) -> None:
    """convolab's output on every recorded case equals TensorFlow's recorded output (no TF needed)."""
    _, cases = recorded
    failures, worst = [], 0.0
    mine = [r for r in cases if r.kind == kind]
    assert mine
    for r in mine:
        got = convolab_output(r.run)
        assert got.shape == r.run.y.shape, describe(r.case)
        diff = float(np.abs(got - r.run.y).max())
        worst = max(worst, diff)
        if not diff <= TOL:
            failures.append(f"{diff:.2e} {describe(r.case)}")
    assert not failures, "\n".join(failures)
    assert worst <= TOL


def test_recorded_comparison_needs_no_tensorflow() -> None:
    """In a process where ``import tensorflow`` / ``import keras`` fail, every recorded case still runs."""
    code = """if True:
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "h5py"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, sys.argv[1])
        import numpy as np
        from keras_conformance.cases import convolab_output
        from keras_conformance.record import load
        _, cases = load()
        worst = max(float(np.abs(convolab_output(r.run) - r.run.y).max()) for r in cases)
        assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
        print(len(cases), worst)
    """
    tests = str(Path(__file__).resolve().parent)
    out = subprocess.run(
        [sys.executable, "-c", code, tests], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    n, worst = out.stdout.split()
    assert int(n) > 0 and float(worst) <= TOL


LIVE = [(kind, i) for kind in GENERATORS for i in range(LIVE_CASES_PER_KIND)]


@pytest.mark.parametrize(("kind", "index"), LIVE, ids=[f"{k}-{i}" for k, i in LIVE])
def test_random_configurations_match_keras(kind: str, index: int, keras, recorded) -> None:
    """Live TensorFlow on this CPU: convolab matches it, and it still computes what was recorded."""
    _, cases = recorded
    rec = next(r for r in cases if r.kind == kind and r.index == index)
    case = draw_cases(kind, index + 1, seed=kind_seed(kind))[index]
    assert case_json(case) == case_json(rec.case)
    try:
        run = keras_run(case, seed=index)
    except TFRefused as exc:
        assert is_dilated_transpose(case), f"unexpected refusal: {describe(case)}"
        pytest.skip(f"TensorFlow's CPU kernel here refuses it ({exc}; oneDNN off); recorded twin checked")
    assert np.array_equal(run.x, rec.run.x)
    assert float(np.abs(run.y - rec.run.y).max()) <= TOL, f"TF differs from its recording: {describe(case)}"
    diff = float(np.abs(convolab_output(run) - run.y).max())
    assert diff <= TOL, f"{diff:.2e} {describe(case)}"


def _odd_bilinear(r) -> tuple[int, int] | None:
    """The factors of a recorded bilinear UpSampling2D case whose factors are both odd, else None."""
    if r.kind != "UpSampling2D":
        return None
    kw = r.case.layers[0][1]
    sh, sw = kw["size"]
    return (sh, sw) if kw["interpolation"] == "bilinear" and sh % 2 and sw % 2 else None


def test_recorded_bilinear_odd_factors_take_the_sample_a_source_sits_on(recorded) -> None:
    """Issue 26: with an odd factor, every ``s``-th output's source sits exactly on an input sample.
    TensorFlow's recorded output there is the sample, bit for bit; convolab's too (PyTorch's float32
    kernel weighted the neighbour 1.5e-8)."""
    _, cases = recorded
    checked = 0
    for r in cases:
        if (size := _odd_bilinear(r)) is None:
            continue
        on = (slice(None), slice(size[0] // 2, None, size[0]), slice(size[1] // 2, None, size[1]))
        np.testing.assert_array_equal(r.run.y[on], r.run.x, err_msg=describe(r.case))  # TensorFlow
        np.testing.assert_array_equal(convolab_output(r.run)[on], r.run.x, err_msg=describe(r.case))
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("size", [(3, 3), (5, 5), (3, 2), (1, 5)])
def test_bilinear_gradient_reaches_the_inputs_tensorflows_reaches(size, keras) -> None:
    """Live TensorFlow: for every output pixel, the inputs with a non-zero gradient are TensorFlow's
    (a zero weight is 0, not 1.5e-8), and the gradients agree."""
    import tensorflow as tf

    from convolab.layers import UpSampling2D

    x = np.random.default_rng(0).standard_normal((1, 4, 5, 1)).astype(np.float32)
    theirs, ours = keras.layers.UpSampling2D(size, interpolation="bilinear"), UpSampling2D(size, "bilinear")
    tx = tf.Variable(x)
    with tf.GradientTape() as tape:
        ty = theirs(tx)
    jacobian = tape.jacobian(ty, tx).numpy()[0, :, :, 0, 0, :, :, 0]  # (output u, v, input i, j)
    xt = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(True)
    y = ours(xt)
    for u in range(4 * size[0]):
        for v in range(5 * size[1]):
            (g,) = torch.autograd.grad(y[0, 0, u, v], xt, retain_graph=True)
            g, g_tf = g[0, 0].numpy(), jacobian[u, v]
            assert np.array_equal(g != 0, g_tf != 0), (size, u, v, g, g_tf)
            np.testing.assert_allclose(g, g_tf, rtol=0, atol=1e-6)


def test_keras_refused_transpose_is_refused_by_convolab_too(keras) -> None:
    """Keras fails on 'same' + output_padding=0 with an even kernel (architecture.md); convolab refuses it."""
    from convolab.keras_io.mapping import Mapper
    from convolab.keras_io.reader import KerasFileError
    from convolab.keras_io.structure import KerasLayer

    layer = keras.layers.Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=0)
    leaf = KerasLayer("Conv2DTranspose", "t", layer.get_config(), [])
    with pytest.raises(KerasFileError, match="Conv2DTranspose 't'"):
        Mapper((5, 5, 1)).run([leaf])


@pytest.fixture(scope="module")
def fashion_data(fashion_dir) -> tuple[np.ndarray, np.ndarray]:
    from keras_conformance.lecture import fashion_subset

    return fashion_subset(fashion_dir, n_train=1024, n_test=256)


@pytest.mark.slow
@pytest.mark.parametrize("name", KERAS_ZOO)
def test_trained_keras_autoencoder_imports_exactly(name: str, fashion_data, tmp_path, keras) -> None:
    """Train in Keras one epoch on Fashion-MNIST, save .keras/.h5/.weights.h5, import, compare."""
    from convolab.keras_io import import_keras
    from keras_conformance.lecture import train_and_save

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


def test_functional_and_nested_keras_models_import_exactly(tmp_path, keras) -> None:
    """Files written by Keras itself: a functional chain, and Sequential([encoder, decoder])."""
    from convolab.keras_io import import_keras

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
