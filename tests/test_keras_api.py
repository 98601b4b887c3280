"""The Python API as a Keras user writes it (issue 24 item 1): ``model.fit / predict / evaluate`` on
NumPy uint8 batches, ``model(x)`` on what is not a float tensor, ``torch.jit.trace`` without warnings of
ours, ``run.evaluate(x_test)`` on an array.

Oracles: the model's own forward pass on the images scaled by hand (``x / 255`` in float32, NCHW),
``run.evaluate()`` (``convolab evaluate --json``'s function) on the run's evaluation set, the
checkpoint files on disk, and the eager model for the traced one.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import convolab
from train_support import TINY_SPEC

FAST = dict(
    epochs=2,
    batch_size=16,
    lr=1e-2,
    device="cpu",
    checkpoint_seconds=0.0,
    checkpoint_every=0,
    log_every=2,
    figures=False,
)


def images(n=80, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, size=(n, 8, 8), dtype=np.uint8)
    for i, (r, c) in enumerate(rng.integers(0, 5, size=(n, 2))):
        x[i, r : r + 3, c : c + 3] = 220
    return x


def by_hand(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 (N, 1, H, W) / 255: the scaling the docs promise, done here."""
    return torch.from_numpy(x.astype(np.float32) / np.float32(255.0)).unsqueeze(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained Keras style (``model.fit(x, x, ...)``) on uint8 arrays, with its held-out part."""
    torch.manual_seed(3)
    model = convolab.Sequential.from_spec(TINY_SPEC)
    start = copy.deepcopy(model)
    x, x_test = images(), images(24, seed=1)
    out = tmp_path_factory.mktemp("keras") / "run"
    run = model.fit(x, x, validation_data=(x_test, x_test), shuffle=True, verbose=0, out=str(out), **FAST)
    return model, start, run, x, x_test


def test_model_fit_trains_the_model_in_place_and_returns_the_run(trained):
    model, start, run, x, _ = trained
    assert isinstance(run, convolab.Run) and len(run.history["loss"]) == 2  # Keras: h.history["loss"]
    last = load_file(str(run.path / "last" / "model.safetensors"))
    assert all(torch.equal(v, last[k]) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert not torch.allclose(model(by_hand(x[:8])), start(by_hand(x[:8])), atol=1e-4)


def test_predict_on_uint8_is_the_forward_pass_on_the_scaled_input(trained):
    model, _, _, x, _ = trained
    with torch.no_grad():
        want = model(by_hand(x)).numpy()
    for form in (x, x[..., None], x[:, None], torch.from_numpy(x)):  # (N,H,W), NHWC, NCHW, a tensor
        got = model.predict(form)
        assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == (80, 1, 8, 8)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=7), want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(convolab.predict(model, by_hand(x).numpy()), want, rtol=0, atol=1e-6)
    frozen = by_hand(x).numpy()
    frozen.setflags(write=False)  # a read-only float32 array (torch would warn on sharing it)
    np.testing.assert_allclose(model.predict(frozen), want, rtol=0, atol=1e-6)
    assert model.training  # predict leaves the mode as it was


def test_evaluate_on_uint8_equals_the_runs_own_evaluate(trained):
    model, _, run, _, x_test = trained
    # the run's best checkpoint, on the run's evaluation set (x_test, given as validation_data)
    best = run.model
    report = run.evaluate()
    assert report["n"] == 24
    loss = best.evaluate(x_test)
    assert isinstance(loss, float) and loss == pytest.approx(report["metrics"]["bce"], rel=1e-6)
    full = best.evaluate(x_test, x_test, return_dict=True)
    assert full.keys() == {"loss", "bce", "mse", "psnr", "ssim"}
    for k in ("bce", "mse", "psnr", "ssim"):
        assert full[k] == pytest.approx(report["metrics"][k], rel=1e-6), k
    assert best.evaluate(x_test, loss="mse") == pytest.approx(report["metrics"]["mse"], rel=1e-6)
    # the same numbers through run.evaluate on the array itself (Keras's evaluate(x_test))
    on_array = run.evaluate(x_test)
    assert on_array["n"] == 24 and on_array["eval_set"] == "images given in Python"
    assert on_array["metrics"] == pytest.approx(report["metrics"], rel=1e-6)
    assert on_array["baseline"] == pytest.approx(report["baseline"], rel=1e-6)
    # an independent number: BCE of the model's forward pass, by hand
    with torch.no_grad():
        p = model(by_hand(x_test)).double().clamp(1e-7, 1 - 1e-7)
    t = by_hand(x_test).double()
    by_formula = float(-(t * p.log() + (1 - t) * (1 - p).log()).mean())
    assert model.evaluate(x_test) == pytest.approx(by_formula, rel=1e-4)


def test_fit_refuses_what_keras_would_mean_differently(trained, tmp_path):
    model, _, _, x, _ = trained
    with pytest.raises(ValueError, match="target is its input"):
        model.fit(x, images(seed=9), out=str(tmp_path / "a"), **FAST)
    with pytest.raises(ValueError, match="shuffle must be True"):
        model.fit(x, shuffle=False, out=str(tmp_path / "b"), **FAST)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        model.predict(x, batch_size=0)
    with pytest.raises(ValueError, match="loss must be one of bce, mse"):
        model.evaluate(x, loss="l1")
    with pytest.raises(ValueError, match=r"y has 3 images of \(1, 8, 8\); the model gives 80 of \(1, 8, 8\)"):
        model.evaluate(x, images(3))
    two = convolab.Sequential([convolab.Conv2D(2, 3, padding="same")], (1, 8, 8))
    with pytest.raises(ValueError, match=r"x \(the target when y is None\) has 80 images of \(1, 8, 8\); "):
        two.evaluate(x)
    with pytest.raises(ValueError, match="model must be a convolab.Sequential, got Conv2d"):
        convolab.predict(torch.nn.Conv2d(1, 1, 3), x)
    assert not any(tmp_path.iterdir())


def test_calling_the_model_on_what_is_not_a_float_tensor_says_what_to_do():
    model = convolab.Sequential.from_spec(TINY_SPEC)
    x = images(4)
    with pytest.raises(TypeError, match=r"takes a torch.Tensor, got numpy.ndarray: use model.predict\(x\)"):
        model(x)
    with pytest.raises(ValueError, match=r"computes in floats, got a uint8 tensor: use model.predict\(x\)"):
        model(torch.from_numpy(x).unsqueeze(1))
    with pytest.raises(ValueError, match="computes in floats, got a int64 tensor"):
        model.encode(torch.zeros(2, 1, 8, 8, dtype=torch.int64))


@pytest.mark.parametrize("name", ["seed-upsampling", "unpool", "strided-transpose", "dense"])
def test_jit_trace_gives_no_warnings_of_ours_and_holds_for_any_batch(name):
    torch.manual_seed(0)
    model = convolab.Sequential.from_spec(name).eval()
    x = torch.rand(2, *model.input_shape)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = torch.jit.trace(model, x)
    package = str(Path(convolab.__file__).resolve().parent)  # not "convolab" in any path: a checkout
    ours = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught if w.filename.startswith(package)]
    assert ours == []
    # the values those warnings were about depend on (C, H, W) only: another batch size traces right
    x5 = torch.rand(5, *model.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(traced(x5), model(x5), rtol=0, atol=1e-6)
