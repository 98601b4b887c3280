"""convolab.fit / load_run / resume: the Python API trains through the CLI's code path.

Every model form (a built Sequential, a spec dict, YAML text, a spec file, a zoo name) and every data form
(a dataset name, folder:, a folder Path, arrays (N,H,W) / (N,H,W,C) / (N,C,H,W), uint8 / float, NumPy /
torch) on a tiny model; fit against ``convolab train`` bit for bit; ``Run.evaluate`` against
``convolab evaluate --json``; a notebook interrupt and ``convolab.resume``; one clear error per bad input.
"""

from __future__ import annotations

import copy
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

import convolab
from convolab.cli import main
from convolab.train.config import ConfigError
from convolab.train.runfolder import read_log
from train_support import TINY_SPEC, write_dataset, write_spec

FAST = dict(
    epochs=2,
    batch_size=16,
    lr=1e-2,
    device="cpu",
    checkpoint_seconds=0.0,
    checkpoint_every=0,
    log_every=2,
    quiet=True,
    figures=False,
)
CLI_FAST = [
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--lr",
    "0.01",
    "--device",
    "cpu",
    "--checkpoint-seconds",
    "0",
    "--checkpoint-every",
    "0",
    "--log-every",
    "2",
    "-q",
    "--no-figures",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A folder: dataset, the tiny spec file, and one run of it trained by ``convolab train``."""
    root = tmp_path_factory.mktemp("fit")
    dataset = write_dataset(root / "data", n_train=96, n_test=24)
    spec = write_spec(root)
    cli_run = root / "cli"
    assert main(["train", "--model", str(spec), "--dataset", dataset, "--out", str(cli_run), *CLI_FAST]) == 0
    return root, dataset, spec, cli_run


def images(n=80, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, size=(n, 8, 8), dtype=np.uint8)
    for i, (r, c) in enumerate(rng.integers(0, 5, size=(n, 2))):
        x[i, r : r + 3, c : c + 3] = 220
    return x


def weights(run, which="last"):
    return load_file(str(run / which / "model.safetensors"))


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def epoch_lines(run):
    drop = ("time", "seconds", "images_per_second")
    return [
        {k: v for k, v in r.items() if k not in drop}
        for r in read_log(run / "log.jsonl")
        if r["kind"] == "epoch"
    ]


# -- the same code path as the CLI ------------------------------------------------------------------------


def test_fit_equals_convolab_train_bit_for_bit(data, tmp_path):
    root, dataset, spec, cli_run = data
    run = convolab.fit(str(spec), dataset, out=str(tmp_path / "py"), **FAST)
    assert isinstance(run, convolab.Run) and run.path == tmp_path / "py"
    assert same_weights(run.path, cli_run) and same_weights_best(run.path, cli_run)
    assert epoch_lines(run.path) == epoch_lines(cli_run)
    py, cli = (json.loads((p / "summary.json").read_text()) for p in (run.path, cli_run))
    assert py["metrics"] == cli["metrics"] and py["baseline"] == cli["baseline"]
    assert json.loads((run.path / "config.json").read_text()) | {"out": None} == json.loads(
        (cli_run / "config.json").read_text()
    ) | {"out": None}


def same_weights_best(a, b):
    wa, wb = weights(a, "best"), weights(b, "best")
    return all(torch.equal(wa[k], wb[k]) for k in wa)


def test_run_evaluate_equals_convolab_evaluate(data, capsys):
    _, _, _, cli_run = data
    run = convolab.load_run(cli_run, device="cpu")
    capsys.readouterr()
    assert main(["evaluate", str(cli_run), "--json", "--device", "cpu"]) == 0
    assert run.evaluate() == json.loads(capsys.readouterr().out)


def test_history_is_the_runs_epochs_keras_style(data):
    run = convolab.load_run(data[3])
    h = run.history
    records = [r for r in read_log(data[3] / "log.jsonl") if r["kind"] == "epoch"]
    assert list(h) == [
        "epoch",
        "loss",
        "val_loss",
        "val_bce",
        "val_mse",
        "val_psnr",
        "val_ssim",
        "seconds",
        "images_per_second",
    ]
    assert h["epoch"] == h.epoch == [1, 2]
    assert h["loss"] == [r["train_loss"] for r in records]
    assert h["val_loss"] == h["val_bce"] == [r["val"]["bce"] for r in records]  # the run's loss is bce
    assert h.history["val_psnr"] == [r["val"]["psnr"] for r in records]
    assert "2 epochs" in repr(h) and "val_loss" in repr(h)
    with pytest.raises(KeyError, match="history keys: epoch, loss"):
        h["acc"]


def test_module_is_a_plain_module_matching_the_checkpoint(data):
    run = convolab.load_run(data[3], device="cpu")
    assert run.module is run.model and isinstance(run.module, torch.nn.Module) and not run.module.training
    best = weights(data[3], "best")
    assert all(torch.equal(v, best[k]) for k, v in run.module.state_dict().items())
    fresh = convolab.Sequential.from_spec(TINY_SPEC)
    fresh.load_state_dict(best)
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():  # channels_last on the CPU: the same function, summed in another order
        torch.testing.assert_close(run.module(x), fresh(x), rtol=0, atol=1e-6)
    # the attributes load_run always had
    assert run.checkpoint == data[3] / "best" and run.config.dataset == data[1] and run.state["epoch"] >= 1


def test_repr_and_html(data):
    run = convolab.load_run(data[3])
    assert repr(run).startswith(f"Run('{data[3]}': tiny (77 params) on folder:")
    assert "2/2 epochs" in repr(run) and "best val_bce" in repr(run)
    html = run._repr_html_()
    assert html.count("<tr>") == 3 and "val_loss" in html


# -- model forms ------------------------------------------------------------------------------------------


def test_every_model_form_trains_the_same(data, tmp_path):
    _, dataset, spec, cli_run = data
    torch.manual_seed(0)  # the seed the run initialises with: the same starting weights
    built = convolab.Sequential.from_spec(TINY_SPEC)
    forms = {"built": built, "dict": TINY_SPEC, "yaml": yaml.safe_dump(TINY_SPEC), "path": spec}
    for name, model in forms.items():
        run = convolab.fit(model, dataset, out=str(tmp_path / name), **FAST)
        assert same_weights(run.path, cli_run), name
        if name in ("built", "dict", "yaml"):  # given in Python: its spec is in the run folder
            cfg = json.loads((run.path / "config.json").read_text())
            assert cfg["model"] == str(run.path / "model.json")
            assert convolab.load_spec(run.path / "model.json") == convolab.load_spec(TINY_SPEC)
    # the run folder of a model given in Python is a config the CLI can train again
    again = tmp_path / "again"
    assert (
        main(
            [
                "train",
                "--config",
                str(tmp_path / "dict" / "config.json"),
                "--out",
                str(again),
                "-q",
                "--no-figures",
            ]
        )
        == 0
    )
    assert same_weights(again, cli_run)


def test_a_built_model_trains_from_its_own_weights(data, tmp_path):
    _, dataset, _, cli_run = data
    torch.manual_seed(123)
    model = convolab.Sequential.from_spec(TINY_SPEC)
    a = convolab.fit(copy.deepcopy(model), dataset, out=str(tmp_path / "a"), **FAST)
    b = convolab.fit(copy.deepcopy(model), dataset, out=str(tmp_path / "b"), **FAST)
    assert same_weights(a.path, b.path) and not same_weights(a.path, cli_run)


@pytest.mark.parametrize("best", [False, True])
def test_fit_trains_the_given_model_in_place_keras_style(tmp_path, best):
    """As Keras's ``model.fit``: the object passed ends with the last epoch's weights (the best's with
    ``restore_best_weights``), in its own memory format; ``model(x)`` gives the trained outputs."""
    torch.manual_seed(5)
    model, x = convolab.Sequential.from_spec(TINY_SPEC), images()
    start = copy.deepcopy(model)
    run = convolab.fit(model, x, out=str(tmp_path / "run"), restore_best_weights=best, **FAST)
    xt = torch.from_numpy(x[:8]).float().div(255).unsqueeze(1)
    with torch.no_grad():
        assert not torch.allclose(model(xt), start(xt), atol=1e-4)  # trained: not the starting outputs
        saved = convolab.load_run(run.path, which="best" if best else "last", device="cpu").model
        torch.testing.assert_close(model(xt), saved(xt), rtol=0, atol=1e-6)
    want = weights(run.path, "best" if best else "last")
    assert all(torch.equal(v, want[k]) for k, v in model.state_dict().items())
    assert all(p.is_contiguous() and p.device.type == "cpu" for p in model.parameters())  # NCHW, as given
    assert model.training  # its mode is left as it was
    assert run.model is not model  # run.model: the best checkpoint, loaded from the folder


def test_a_zoo_name_trains(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, size=(24, 28, 28), dtype=np.uint8)
    run = convolab.fit("seed-upsampling", x, out=str(tmp_path / "zoo"), **{**FAST, "epochs": 1})
    assert json.loads((run.path / "config.json").read_text())["model"] == "seed-upsampling"
    assert run.summary["params"] == 3369 and run.summary["eval_set"] == "validation"


# -- data forms -------------------------------------------------------------------------------------------


def test_every_array_form_trains_the_same(tmp_path):
    x = images()
    forms = {
        "nhw-uint8": x,
        "nhwc-uint8": x[..., None],
        "nchw-float": x[:, None].astype(np.float32) / 255,
        "torch-nhw": torch.from_numpy(x),
        "float64": x.astype(np.float64) / 255,
    }
    runs = {k: convolab.fit(TINY_SPEC, v, out=str(tmp_path / k), **FAST) for k, v in forms.items()}
    first = runs["nhw-uint8"].path
    for name, run in runs.items():
        assert same_weights(run.path, first), name
    assert run.summary["eval_set"] == "validation" and run.summary["n_eval"] == 8  # 10% of 80 held out


def test_validation_data_keras_style_and_limit(tmp_path):
    x, x_val = images(64), images(20, seed=1)
    a = convolab.fit(TINY_SPEC, x, validation_data=(x_val, x_val), out=str(tmp_path / "a"), **FAST)
    b = convolab.fit(TINY_SPEC, x, validation_data=x_val, out=str(tmp_path / "b"), **FAST)
    assert same_weights(a.path, b.path) and a.summary["n_eval"] == 20
    c = convolab.fit(TINY_SPEC, x, validation_data=x_val, limit=10, out=str(tmp_path / "c"), **FAST)
    assert c.summary["n_eval"] == 10
    assert a.evaluate()["metrics"] == a.summary["metrics"]  # evaluate reads the images kept in the run


def test_folder_path_and_the_in_memory_run_folder_work_from_the_cli(data, tmp_path, capsys):
    root, dataset, _, cli_run = data
    run = convolab.fit(TINY_SPEC, root / "data", out=str(tmp_path / "folder"), **FAST)  # a Path: folder:
    assert same_weights(run.path, cli_run)
    mem = convolab.fit(TINY_SPEC, images(), out=str(tmp_path / "mem"), **FAST)
    capsys.readouterr()
    assert main(["evaluate", str(mem.path), "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == mem.summary["metrics"]
    assert main(["train", "--resume", str(mem.path), "--epochs", "3", "-q", "--no-figures"]) == 0
    assert convolab.load_run(mem.path).history["epoch"] == [1, 2, 3]


def test_default_out_is_the_clis(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = convolab.fit(TINY_SPEC, images(40), **FAST)
    assert run.path.parent == Path("runs") and (tmp_path / run.path / "config.json").is_file()
    assert run.path.name.startswith("tiny-memory-")


# -- figures and reconstructions --------------------------------------------------------------------------


def test_reconstruct_and_figures(tmp_path):
    run = convolab.fit(TINY_SPEC, images(), out=str(tmp_path / "r"), **FAST)
    rec = run.reconstruct(n=3)
    assert rec.originals.shape == rec.reconstructions.shape == (3, 1, 8, 8)
    assert rec.path == run.path / "reconstruct.png" and rec._repr_png_().startswith(b"\x89PNG")
    x = torch.from_numpy(rec.originals)
    with torch.no_grad():  # predict runs the fused plan: the same function to float rounding
        torch.testing.assert_close(run.model(x), torch.from_numpy(rec.reconstructions), rtol=0, atol=1e-6)
    figs = run.figures()
    assert {"reconstructions", "curves", "kernels", "latent_pca"} <= set(figs)
    assert all(p.is_file() and p.parent == run.path for p in figs.values())


# -- interrupt and resume ---------------------------------------------------------------------------------


def _interrupt_at(monkeypatch, k):
    """A real SIGINT (what a notebook's interrupt sends) during training step ``k``."""
    from convolab.train.context import LocalContext

    make = LocalContext.train_step

    def train_step(self, *args, **kw):
        inner, calls = make(self, *args, **kw), [0]

        def step(x, target, **kw):
            calls[0] += 1
            if calls[0] == k:
                os.kill(os.getpid(), signal.SIGINT)
            return inner(x, target, **kw)

        return step

    monkeypatch.setattr(LocalContext, "train_step", train_step)


@pytest.mark.parametrize("k", [1, 7])  # during the first step (nothing trained yet) and mid-epoch 2
def test_interrupt_keeps_the_run_and_resume_is_exact(tmp_path, monkeypatch, k):
    torch.manual_seed(7)
    model, x = convolab.Sequential.from_spec(TINY_SPEC), images()
    ref = convolab.fit(copy.deepcopy(model), x, out=str(tmp_path / "ref"), **FAST)
    _interrupt_at(monkeypatch, k)
    with pytest.raises(convolab.TrainingInterrupted, match=r"convolab.resume\(") as info:
        convolab.fit(model, x, out=str(tmp_path / "cut"), **FAST)
    monkeypatch.undo()
    last = weights(tmp_path / "cut")  # the interrupted model holds what was saved, as Keras keeps it
    assert all(torch.equal(v, last[k]) for k, v in model.state_dict().items())
    assert "\n" not in str(info.value)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    stopped = convolab.load_run(tmp_path / "cut")  # an unfinished run loads too (from last)
    assert stopped.summary == {} and len(stopped.history.records) == (k - 1) // 5
    done = convolab.resume(tmp_path / "cut", quiet=True, figures=False)
    assert same_weights(done.path, ref.path) and epoch_lines(done.path) == epoch_lines(ref.path)
    assert done.summary["metrics"] == ref.summary["metrics"]


def test_a_crash_before_the_first_save_resumes_from_the_given_weights(tmp_path, monkeypatch):
    """A process that dies in its first step (no signal, nothing saved by the loop) leaves the starting
    weights of a built model on disk: the folder alone resumes it to the uninterrupted result."""
    from convolab.train.context import LocalContext

    torch.manual_seed(7)
    model, x = convolab.Sequential.from_spec(TINY_SPEC), images()
    ref = convolab.fit(copy.deepcopy(model), x, out=str(tmp_path / "ref"), **FAST)

    def crash(self, *args, **kw):
        def step(x, target, **kw):
            raise MemoryError("killed")

        return step

    monkeypatch.setattr(LocalContext, "train_step", crash)
    with pytest.raises(MemoryError):
        convolab.fit(model, x, out=str(tmp_path / "cut"), **FAST)
    monkeypatch.undo()
    done = convolab.resume(tmp_path / "cut", quiet=True, figures=False)
    assert same_weights(done.path, ref.path)


def test_resume_trains_on_to_more_epochs(tmp_path):
    x = images()
    ref = convolab.fit(TINY_SPEC, x, out=str(tmp_path / "ref"), **{**FAST, "epochs": 3})
    two = convolab.fit(TINY_SPEC, x, out=str(tmp_path / "two"), **FAST)
    more = convolab.resume(two, epochs=3, quiet=True, figures=False)
    assert same_weights(more.path, ref.path) and more.history["epoch"] == [1, 2, 3]
    with pytest.raises(ValueError, match="already finished 3 epochs"):
        convolab.resume(more.path, quiet=True)


# -- bad input: one clear error, nothing written ----------------------------------------------------------

BAD = [
    ({"epoch": 3}, "unknown option 'epoch'.*did you mean 'epochs'"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ({"lr": float("nan")}, "lr must be a positive number"),
    ({"loss": "l1"}, "loss must be one of bce, mse"),
    ({"threads": 0}, "threads must be an integer from 1"),
    ({"config": 3}, "config must be a file, a dict or a TrainConfig"),
    ({"config": {"epochz": 1}}, "unknown train config field"),
    ({"x": images()[:, :7]}, r"shape \(80, 7, 8\); the model takes images \(N, 1, 8, 8\)"),
    ({"x": images().astype(np.float32)}, r"must lie in \[0, 1\] \(found 0\.\.220\)"),
    ({"x": np.full((10, 8, 8), np.nan, np.float32)}, "NaN or infinite"),
    ({"x": images().astype(np.int64)}, "must be uint8 .* or float in"),
    ({"x": np.array(["a"] * 4)}, "numeric array of images"),
    ({"x": images()[:0]}, "holds no images"),
    ({"x": images(), "validation_data": (images(), images(seed=2))}, "target is its input"),
    ({"x": "folder:/no/such/folder", "validation_data": images()}, "validation_data goes with images"),
    ({"x": "memory"}, "means images given as arrays"),
    ({"model": torch.nn.Conv2d(1, 1, 3)}, "fit trains convolab.Sequential models, got a Conv2d"),
    ({"model": 42}, "model must be a convolab.Sequential, a spec"),
    ({"model": "no-such-model"}, "no-such-model"),
    ({"model": {"input_shape": [1, 8, 8], "layers": [{"type": "Conv9D"}]}}, "Conv9D"),
]


@pytest.mark.parametrize("case, message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_input_is_one_clear_error(tmp_path, case, message):
    case = dict(case)
    model, x = case.pop("model", TINY_SPEC), case.pop("x", images())
    options = {**FAST, **case, "out": str(tmp_path / "run")}
    with pytest.raises(ValueError, match=message) as info:
        convolab.fit(model, x, **options)
    assert "\n" not in str(info.value) and not (tmp_path / "run").exists()
    if "batch_size" in case:
        assert isinstance(info.value, ConfigError) and info.value.field == "batch_size"


def test_a_used_out_is_refused_and_overwrite_replaces(tmp_path):
    out = str(tmp_path / "run")
    convolab.fit(TINY_SPEC, images(), out=out, **FAST)
    with pytest.raises(ValueError, match="already exists"):
        convolab.fit(TINY_SPEC, images(), out=out, **FAST)
    run = convolab.fit(TINY_SPEC, write_dataset(tmp_path / "d", 32, 8), out=out, overwrite=True, **FAST)
    assert not (run.path / "data.safetensors").exists() and run.config.dataset.startswith("folder:")
