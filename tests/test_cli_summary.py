"""`convolab summary` and `convolab layers` through convolab.cli.main: output, JSON, exit codes."""

from __future__ import annotations

import json

import pytest

from convolab.analysis.summary import analyze
from convolab.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_table_for_the_lecture_model(capsys):
    code, out, err = run(capsys, "summary", "seed-upsampling")
    assert code == 0 and err == ""
    assert "Total params: 3,369 (13.16 KB)" in out
    for name, params in [
        ("enc_conv1", "160"),
        ("enc_conv2", "1,160"),
        ("dec_conv3", "1,168"),
        ("dec_out", "145"),
    ]:
        row = next(r for r in out.splitlines() if f"{name} (Conv2D)" in r)
        assert f" {params} " in row


def test_summary_json_matches_the_api(capsys):
    code, out, _ = run(capsys, "summary", "seed-transpose", "--json", "--batch", "8")
    assert code == 0
    data = json.loads(out)
    assert data == analyze("seed-transpose", batch=8).to_dict()
    assert data["total_params"] == data["trainable_params"] == 3369
    assert [layer["params"] for layer in data["layers"] if layer["params"]] == [
        160,
        1160,
        292,
        148,
        296,
        1168,
        145,
    ]


def test_summary_input_override_and_channels_last(capsys):
    code, out, _ = run(capsys, "summary", "chollet", "--input", "1,56,56", "--channels-last")
    assert code == 0
    assert "(56, 56, 16)" in out and "(52, 52, 1)" in out


def test_summary_of_a_spec_file(capsys, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("input_shape: [3, 32, 32]\nlayers:\n  - {type: Conv2D, filters: 8, kernel_size: 3}\n")
    code, out, _ = run(capsys, "summary", str(path), "--json")
    assert code == 0
    layer = json.loads(out)["layers"][0]
    assert layer["output_shape"] == [8, 30, 30] and layer["params"] == 8 * 27 + 8


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["summary", "seed-upsampler"], "unknown model 'seed-upsampler'; did you mean seed-upsampling"),
        (["summary", "seed-upsampling", "--input", "1,x,28"], "--input must be positive integers"),
        (["summary", "seed-upsampling", "--input", "1,0,28"], "--input must be positive integers"),
        (["summary", "BAD"], None),
        (["summary", "dense", "--batch", "0"], "--batch must be a positive integer, got '0'"),
        (["summary", "dense", "--batch", "many"], "--batch must be a positive integer"),
        (["summary", "missing.yaml"], "missing.yaml"),
        (["layers", "Conv3D"], "unknown layer type 'Conv3D'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    if message:
        assert message in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input_shape: [1, 28, 28]\nlayers: [ {type: Conv2D\n", "<"),  # malformed YAML
        ('{"input_shape": [1, 2, 2], "layers": [{"type": "Conv2D", "filters": 1, "kernel_size": 3}]}',
         "layer 0 ('conv2d_1', Conv2D)"),  # kernel larger than its 'valid' input
        ('{"input_shape": [1, 4, 4], "layers": [{"type": "Conv2DTranspose", "filters": 1, "kernel_size": 3,'
         ' "strides": 2, "output_padding": 2}]}', "output_padding"),
        ('{"input_shape": [1, 4, 4], "layers": [{"type": "Conv2d", "filters": 1}]}', "unknown layer type"),
        ('{"input_shape": [1, 4, 4], "layers": [{"type": "Conv2D", "filters": 1', "json"),
    ],
)  # fmt: skip
def test_bad_spec_files(capsys, tmp_path, text, message):
    path = tmp_path / ("m.json" if text.startswith("{") else "m.yaml")
    path.write_text(text)
    code, out, err = run(capsys, "summary", str(path))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message.lower() in err.lower()
    with pytest.raises(ValueError) as exc:  # the API says the same thing
        analyze(str(path))
    assert f"error: {exc.value}\n" == err


def test_layers_lists_every_type_with_defaults(capsys):
    code, out, _ = run(capsys, "layers")
    assert code == 0
    for name in (
        "Conv2D",
        "Conv2DTranspose",
        "MaxPool2D",
        "MaxPooling2D",
        "UpSampling2D",
        "BedOfNails2D",
        "MaxUnpool2D",
        "Dense",
        "Flatten",
        "Reshape",
        "Activation",
        "AvgPool2D",
    ):
        assert name in out
    assert "padding='valid'" in out and "interpolation='nearest'" in out


def test_layers_detail(capsys):
    code, out, _ = run(capsys, "layers", "MaxPooling2D")
    assert code == 0
    assert out.startswith("MaxPool2D(pool_size=2, strides=None, padding='valid'")
    assert "Keras" in out


@pytest.mark.parametrize("command", ["summary", "layers"])
def test_help_teaches_with_examples(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "Examples:" in out and f"convolab {command}" in out


def test_summary_help_lists_the_zoo(capsys):
    from convolab.model.zoo import list_models

    _, out, _ = run(capsys, "summary", "--help")
    flat = " ".join(out.split())
    assert all(name in flat for name in list_models())
