"""``convolab data list|fetch|verify|show`` through convolab.cli.main."""

from __future__ import annotations

import dataclasses
import gzip
import shutil

import pytest
from PIL import Image

from convolab.cli import main
from convolab.data import registry


@pytest.mark.parametrize("cmd", [[], ["list"], ["fetch"], ["verify"], ["show"]])
def test_help_teaches_with_an_example(capsys, cmd):
    assert main(["data", *cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and "convolab data" in out


def test_list_shows_found_and_missing(isolated, capsys, fashion_t10k_dir):
    assert main(["data", "list", "--data-dir", str(fashion_t10k_dir)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    row = rows["fashion-mnist"]
    size = sum(p.stat().st_size for p in fashion_t10k_dir.iterdir()) / 1e6  # decimal megabytes
    assert "verified (partial)" in row and "test" in row and f"{size:.1f} MB" in row
    assert "missing" in rows["kmnist"] and "convolab data fetch kmnist" in rows["kmnist"]
    assert "missing" in rows["mnist"]  # the t10k files are not MNIST's


def test_list_system_fashion(monkeypatch, tmp_path, capsys, fashion_dir):
    monkeypatch.delenv("CONVOLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["data", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "fashion-mnist" in line)
    assert "verified" in row and "(system)" in row and "train+test" in row


def test_verify_ok_and_mismatch(isolated, capsys, fashion_t10k_dir):
    assert main(["data", "verify", "fashion-mnist", "--data-dir", str(fashion_t10k_dir)]) == 0
    assert "fashion-mnist: verified (test)" in capsys.readouterr().out
    bad = isolated / "bad"
    shutil.copytree(fashion_t10k_dir, bad)
    images = bytearray(gzip.decompress((bad / "t10k-images-idx3-ubyte.gz").read_bytes()))
    images[5000] ^= 1
    (bad / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(images), compresslevel=1))
    assert main(["data", "verify", "fashion-mnist", "--data-dir", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "mismatch" in captured.out and captured.err.startswith("error: fashion-mnist: some files")


def test_bad_names_and_missing_data_are_one_line_exit_2(isolated, capsys):
    assert main(["data", "verify", "fashon-mnist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean fashion-mnist" in err
    assert main(["data", "verify", "kmnist"]) == 2
    assert "kmnist not found" in capsys.readouterr().err
    assert main(["data", "show", "kmnist", "--no-download", "-o", str(isolated / "g.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: dataset 'kmnist' (split 'train') not found")
    assert not (isolated / "g.png").exists()


def test_fetch_failure_names_urls(isolated, capsys, monkeypatch):
    # Port 9 (discard) on 127.0.0.1: connection refused at once, no network involved.
    spec = dataclasses.replace(registry.DATASETS["kmnist"], mirrors=("http://127.0.0.1:9/a/",))
    monkeypatch.setitem(registry.DATASETS, "kmnist", spec)
    assert main(["data", "fetch", "kmnist", "--timeout", "2", "--retries", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not download train-images-idx3-ubyte.gz")
    assert "http://127.0.0.1:9/a/train-images-idx3-ubyte.gz" in err and err.count("\n") == 1
    assert "--data-dir" in err and "CONVOLAB_DATA" in err
    assert not (isolated / "xdg" / "convolab" / "kmnist").exists()  # no trace of the failed fetch


def test_show_writes_a_grid(isolated, capsys, fashion_t10k_dir):
    out = isolated / "grid.png"
    argv = [
        "data",
        "show",
        "fashion-mnist",
        "--split",
        "test",
        "--n",
        "12",
        "--data-dir",
        str(fashion_t10k_dir),
    ]
    assert main([*argv, "--no-download", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.size[0] > 500 and img.size[1] > 200


def test_show_folder(isolated, capsys):
    for cls in ("a", "b"):
        (isolated / "imgs" / cls).mkdir(parents=True)
        Image.new("RGB", (10, 12), (200, 20, 20)).save(isolated / "imgs" / cls / "x.png")
    out = isolated / "f.png"
    assert main(["data", "show", f"folder:{isolated / 'imgs'}", "--image-size", "16", "-o", str(out)]) == 0
    assert out.exists() and "2 samples of 2" in capsys.readouterr().out


def test_show_offline_hint_names_only_what_data_show_takes(isolated, capsys, fashion_t10k_dir):
    """`data show` takes NAME and --split, not --dataset/--train-split (issue 16: the hint was train's)."""
    out = str(isolated / "g.png")
    argv = ["data", "show", "fashion-mnist", "--no-download", "--data-dir", str(fashion_t10k_dir), "-o", out]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: dataset 'fashion-mnist' (split 'train') not found")
    assert "--split test (only fashion-mnist's test split is here)" in err
    assert "--dataset" not in err and "--train-split" not in err and "data_dir=" not in err
    assert "fashion-mnist's IDX files train-images-idx3-ubyte.gz" in err


def test_offline_hint_follows_the_dataset_format():
    """CIFAR-10 has no IDX files; a command without a split option is not told to use one."""
    from convolab.cli.common import offline_hint
    from convolab.data import DatasetNotFoundError

    exc = DatasetNotFoundError("cifar10", "test", [("system /x/cifar10", "no such folder")], [])
    hint = offline_hint(exc)
    assert "IDX" not in hint and "--train-split" not in hint
    assert "--data-dir DIR (a folder with cifar-10-binary.tar.gz or the files extracted from it)" in hint
    assert "tried system /x/cifar10 (no such folder)" in hint


def test_show_n_is_bounded_before_loading(isolated, capsys):
    """Issue 12 item 4: `data show --n 1e8` hung (one matplotlib axes per sample)."""
    out = isolated / "g.png"
    assert main(["data", "show", "kmnist", "--no-download", "--n", "100000000", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == "error: --n (samples in the grid) is 1e+08, over the limit of 1000\n"
    assert main(["data", "show", "kmnist", "--n", "1e8", "-o", str(out)]) == 2  # not an integer: one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Invalid value for '--n'")
    assert not out.exists()


def test_show_folder_with_a_decompression_bomb_is_one_line(isolated, capsys, monkeypatch):
    """Issue 12 item 7: PIL's DecompressionBombError (not an OSError) escaped as a traceback."""
    (isolated / "imgs" / "a").mkdir(parents=True)
    Image.new("L", (64, 64)).save(isolated / "imgs" / "a" / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 pixels > 2 x 1000: Pillow raises
    assert main(["data", "show", f"folder:{isolated / 'imgs'}", "-o", str(isolated / "g.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "over Pillow's decompression-bomb limit of 1,000 pixels" in err
    from convolab.data.folder import _open

    with pytest.raises(ValueError, match="decompression-bomb"):  # the streamed reader uses the same _open
        _open(isolated / "imgs" / "a" / "big.png", "L")
