"""The train / evaluate / reconstruct / compare / figures commands, through convolab.cli.main."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from convolab.cli import main
from machine_paths import leaks
from train_support import write_dataset, write_spec


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two tiny runs trained once through the CLI (no figures: the figures command draws them)."""
    root = tmp_path_factory.mktemp("cli")
    dataset = write_dataset(root / "data", n_train=120, n_test=24)
    spec = write_spec(root)
    runs = []
    for seed in (0, 1):
        out = root / f"run{seed}"
        args = [
            "train",
            "--model",
            str(spec),
            "--dataset",
            dataset,
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--seed",
            str(seed),
            "-q",
            "--no-figures",
        ]
        assert main(args) == 0
        runs.append(out)
    return root, spec, dataset, runs


def _one_error_line(capsys, code, expected_code=2):
    err = capsys.readouterr().err
    assert code == expected_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_train_prints_metrics_table(tmp_path, trained, capsys):
    _, spec, dataset, _ = trained
    code = main(
        [
            "train",
            "--model",
            str(spec),
            "--dataset",
            dataset,
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "r"),
            "--no-figures",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "run folder:" in out and "epoch 1:" in out and "mean image" in out and "saved" in out
    assert "figures:" not in out  # --no-figures draws none, so it names none


def test_train_help_is_built_from_the_config_and_names_no_private_path(capsys):
    from convolab.train.config import TrainConfig

    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert leaks(out, code=True) == []
    for field in ("batch-size", "checkpoint-seconds", "memory-budget", "config", "threads"):
        assert f"--{field}" in out
    assert "256" in out and TrainConfig().model in out  # defaults shown, from the dataclass


def test_train_from_a_config_file_with_flags_overriding(tmp_path, trained, capsys):
    _, spec, dataset, runs = trained
    stored = json.loads((runs[0] / "config.json").read_text())
    out = tmp_path / "again"
    code = main(
        [
            "train",
            "--config",
            str(runs[0] / "config.json"),
            "--out",
            str(out),
            "--seed",
            "1",
            "-q",
            "--no-figures",
        ]
    )
    assert code == 0, capsys.readouterr().err
    got = json.loads((out / "config.json").read_text())
    assert {k: v for k, v in got.items() if k not in ("out", "seed")} == {
        k: v for k, v in stored.items() if k not in ("out", "seed")
    }
    assert got["seed"] == 1 and got["out"] == str(out)
    weights = [load_file(str(r / "last" / "model.safetensors")) for r in (out, runs[1])]  # run1: seed 1
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: &a 1\nepochs: *a\n")
    assert "aliases" in _one_error_line(capsys, main(["train", "--config", str(bad)]))
    bad.write_text("batch_sise: 3\n")
    assert "unknown train config field(s): batch_sise" in _one_error_line(
        capsys, main(["train", "--config", str(bad)])
    )


def test_reconstruct_takes_several_image_files(tmp_path, trained, capsys):
    _, _, _, runs = trained
    paths = []
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(np.full((8, 8), 40 * (i + 1), dtype=np.uint8), mode="L").save(p)
        paths.append(str(p))
    out = tmp_path / "mine.png"
    code = main(["reconstruct", str(runs[0]), "--images", *paths, "-o", str(out), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    assert out.is_file()
    assert "--images" in _one_error_line(
        capsys, main(["reconstruct", str(runs[0]), paths[0], "-o", str(out)])
    )


def test_evaluate_table_and_json(trained, capsys):
    _, _, _, runs = trained
    assert main(["evaluate", str(runs[0]), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "mean image" in out and "PSNR" in out
    assert main(["evaluate", str(runs[0]), "--json", "--checkpoint", "last", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["eval_set"] == "test" and report["n"] == 24
    assert set(report["metrics"]) == set(report["baseline"]) == {"bce", "mse", "psnr", "ssim"}
    assert report["checkpoint"].endswith("last")


def test_reconstruct_from_dataset_and_files(tmp_path, trained, capsys):
    _, _, _, runs = trained
    fig = tmp_path / "recon.png"
    assert main(["reconstruct", str(runs[0]), "--n", "4", "-o", str(fig), "--device", "cpu"]) == 0
    assert fig.exists() and "wrote" in capsys.readouterr().out
    img = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(0).random((16, 12, 3)) * 255).astype(np.uint8)).save(img)
    fig2 = tmp_path / "mine.png"
    assert main(["reconstruct", str(runs[0]), "--images", str(img), "-o", str(fig2), "--device", "cpu"]) == 0
    assert fig2.exists()
    code = main(["reconstruct", str(runs[0]), "--n", "0", "-o", str(fig2), "--device", "cpu"])
    assert "--n" in _one_error_line(capsys, code)


def test_compare_table_json_and_figure(tmp_path, trained, capsys):
    _, _, _, runs = trained
    fig = tmp_path / "cmp.png"
    assert main(["compare", *map(str, runs), "-o", str(fig), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert fig.exists() and "tiny" in out and "baseline" in out and "77" in out
    assert main(["compare", *map(str, runs), "--json", "--device", "cpu"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == ["tiny", "tiny", "baseline"]
    assert rows[0]["params"] == 77 and rows[0]["macs"] > 0 and rows[0]["epochs"] == 1


def test_figures_command(trained, capsys):
    _, _, _, runs = trained
    assert main(["figures", str(runs[1])]) == 0
    out = capsys.readouterr().out
    for name in ("reconstructions", "curves", "feature_maps", "kernels", "latent_pca"):
        assert f"{name}:" in out
        assert (runs[1] / f"{name}.png").exists()


def test_bad_inputs_one_line_exit_2(tmp_path, trained, capsys, monkeypatch):
    _, spec, dataset, runs = trained
    monkeypatch.chdir(tmp_path)
    base = ["train", "--model", str(spec), "--dataset", dataset, "--device", "cpu", "--quiet"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        (["train", "--model", "no-such-model", "--dataset", dataset], "no-such-model"),
        (["train", "--model", str(spec), "--dataset", "no-such-data"], "no-such-data"),
        ([*base, "--device", "tpu"], "unknown device"),
        ([*base, "--epochs", "-1"], "--epochs must be an integer >= 1"),
        ([*base, "--batch-size", "0"], "--batch-size must be an integer >= 1"),
        ([*base, "--lr", "1e38"], "--lr must be a positive number <= 10"),
        ([*base, "--noise", "inf"], "--noise must be a number in [0, 100]"),
        ([*base, "--out", str(afile)], "is a file"),
        ([*base, "--out", str(runs[0])], "already exists"),
        (["train", "--resume", str(tmp_path / "missing")], "no such run"),
        (["train", "--resume", str(runs[0]), "--lr", "0.1"], "--lr"),
        (["train", "--resume", str(runs[0]), "--no-figures"], "already finished"),
        (["evaluate", str(afile)], "checkpoint"),
    ]
    if not torch.cuda.is_available():
        cases.append(([*base, "--device", "cuda"], "CUDA is not available"))
    for args, needle in cases:
        line = _one_error_line(capsys, main(args))
        assert needle in line, (args, line)
    assert not (tmp_path / "runs").exists(), "a refused run leaves no folder behind"


def test_missing_mnist_names_offline_choices(tmp_path, monkeypatch, capsys):
    from convolab.data import DownloadError, loading

    def no_network(*a, **k):
        raise DownloadError("train-images-idx3-ubyte.gz", [("https://example.invalid", "offline (test)")])

    monkeypatch.setattr(loading, "fetch", no_network)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CONVOLAB_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    line = _one_error_line(capsys, main(["train"]))
    assert "'mnist'" in line and "offline choices" in line and "--data-dir" in line
    from convolab.data import resolve

    if resolve("fashion-mnist") is not None:
        assert "--dataset fashion-mnist" in line
    assert not (tmp_path / "runs").exists()


def test_help_teaches(capsys):
    for cmd in ("train", "evaluate", "reconstruct", "compare", "figures"):
        assert main([cmd, "--help"]) == 0
        assert "Example" in capsys.readouterr().out


def test_nproc_with_a_bad_model_is_one_error_line_before_torchrun(tmp_path, capsys, monkeypatch):
    from convolab.train import distributed

    monkeypatch.setattr(distributed, "launch", lambda *a, **k: pytest.fail("torchrun must not start"))
    line = _one_error_line(
        capsys, main(["train", "--nproc", "2", "--model", "no-such-model", "--out", str(tmp_path / "r")])
    )
    assert "no-such-model" in line
    line = _one_error_line(capsys, main(["train", "--nproc", "2", "--batch-size", "255"]))
    assert "--batch-size 255" in line and "2 processes" in line
    assert not (tmp_path / "r").exists()


def test_nproc_passes_threads_to_each_rank_and_leaves_the_split_alone(tmp_path, monkeypatch):
    """`--threads N` reaches every rank; without it the parent sets no thread count (launch splits cores)."""
    import os

    from convolab.train import distributed

    calls = []
    monkeypatch.setattr(distributed, "launch", lambda nproc, args, **kw: calls.append(args) or 0)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    out = str(tmp_path / "r")
    assert main(["train", "--nproc", "2", "--threads", "1", "--out", out]) == 0
    assert calls[-1][calls[-1].index("--threads") + 1] == "1"
    assert main(["train", "--nproc", "2", "--out", out]) == 0
    assert "--threads" not in calls[-1] and "OMP_NUM_THREADS" not in os.environ
