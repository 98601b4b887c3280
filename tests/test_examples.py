"""The lecture's snippets (examples/): every printed number is asserted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(capsys, name):
    result = load(name).main()
    return result, capsys.readouterr().out


def test_a_two_dense_layers_squeeze_the_boxes(capsys):
    r, out = run(capsys, "lecture_a_dense_squeeze")
    assert r == {
        "dense1_output": (64, 4, 1),
        "squeezed1": (64, 4),
        "dense1_weight": (2, 1),
        "dense2_output": (64, 1),
        "squeezed2": (64,),
        "dense2_weight": (4, 1),
    }
    assert "input (64, 4, 2) -> Dense(1) (64, 4, 1) -> squeeze (64, 4)" in out
    assert "(64, 4) -> Dense(1) (64, 1) -> squeeze (64,)" in out
    assert "weight (Keras, in x out) (2, 1); PyTorch stores (1, 2)" in out
    assert "weight (Keras, in x out) (4, 1); PyTorch stores (1, 4)" in out


def test_b_dense_stack_has_13_parameters(capsys):
    r, out = run(capsys, "lecture_b_dense_stack")
    assert r == {"weights": [(2, 3), (3, 1), (4, 1)], "params": [6, 3, 4], "total": 13, "output": (64, 1)}
    assert "Dense(3): kernel (Keras, in x out) (2, 3) = 6 parameters, output (64, 4, 3)" in out
    assert "Dense(1): kernel (Keras, in x out) (3, 1) = 3 parameters, output (64, 4, 1)" in out
    assert "Dense(1): kernel (Keras, in x out) (4, 1) = 4 parameters, output (64, 1)" in out
    assert "Total parameters: 13" in out and "forward: (64, 4, 2) -> (64, 1)" in out


def test_c_full_hd_convolution_from_the_analysis(capsys):
    r, out = run(capsys, "lecture_c_conv_full_hd")
    assert r["input"] == (64, 1920, 1080, 3)
    assert r["input_bytes"] == 64 * 1920 * 1080 * 3 * 4 == 1_592_524_800
    assert r["shapes"] == [(64, 384, 216, 16), (64, 1327104), (64, 1)]
    assert r["params"] == [1200, 0, 1327104]
    assert "1,592,524,800 bytes of float32 (1.5 GiB), never allocated" in out
    assert "Conv2D   -> (64, 384, 216, 16)  1,200 parameters" in out
    assert "Flatten  -> (64, 1327104)  0 parameters" in out
    assert "Dense    -> (64, 1)  1,327,104 parameters" in out
    assert "1,106 times" in out


def test_d_lecture_autoencoders(capsys):
    r, out = run(capsys, "lecture_d_autoencoders")
    per_layer = [160, 1160, 292, 148, 296, 1168, 145]
    assert r["seed-upsampling"] == {
        "per_layer": per_layer,
        "total": 3369,
        "sizes": [28, 14, 14, 7, 7, 4, 4, 8, 8, 16, 14, 28, 28],
    }
    assert r["seed-transpose"] == {
        "per_layer": per_layer,
        "total": 3369,
        "sizes": [26, 13, 11, 5, 3, 3, 6, 6, 12, 14, 28, 28],
    }
    assert out.count("Total params: 3,369 (13.16 KB)") == 2
    for name in ("seed-upsampling", "seed-transpose"):
        assert f"{name}: parameters per layer {per_layer}, total 3,369" in out


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("lecture_*.py")), ids=lambda p: p.name)
def test_every_example_has_cells_and_main(path):
    text = path.read_text()
    assert "# %%" in text and "def main()" in text and 'if __name__ == "__main__":' in text
