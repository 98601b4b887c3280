"""Model specs: dict/YAML/JSON round trips, canonical names, and errors that name layer, field and value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from convolab.model.sequential import Sequential
from convolab.model.spec import ModelSpec, dump_spec, dumps_spec, load_spec, snake_case
from convolab.model.zoo import list_models

SMALL = {
    "name": "tiny",
    "input_shape": [1, 8, 8],
    "latent": "p",
    "layers": [
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "MaxPooling2D", "name": "p", "pool_size": 2},
        {"type": "MaxUnpool2D", "pool": "p"},
        {"type": "Conv2D", "filters": 1, "kernel_size": 3, "padding": "same", "activation": "sigmoid"},
    ],
}


def test_canonical_form() -> None:
    spec = load_spec(SMALL)
    assert spec.name == "tiny" and spec.input_shape == (1, 8, 8) and spec.latent == "p"
    assert spec.layer_names == ["conv2d_1", "p", "max_unpool2d_1", "conv2d_2"]
    assert spec.layers[0] == {
        "type": "Conv2D",
        "name": "conv2d_1",
        "filters": 4,
        "kernel_size": [3, 3],
        "strides": [1, 1],
        "padding": "same",
        "dilation_rate": [1, 1],
        "use_bias": True,
        "activation": "relu",
    }
    assert spec.layers[1]["type"] == "MaxPool2D"  # aliases resolve to the class name
    assert load_spec(spec) == spec and load_spec(spec.to_dict()) == spec


def test_auto_names_skip_explicit_ones() -> None:
    spec = load_spec(
        {
            "input_shape": [4],
            "layers": [
                {"type": "Dense", "units": 2},
                {"type": "Dense", "units": 2, "name": "dense_2"},
                {"type": "Dense", "units": 2},
            ],
        }
    )
    assert spec.layer_names == ["dense_1", "dense_2", "dense_3"]


def test_snake_case_like_keras() -> None:
    names = ("Conv2D", "Conv2DTranspose", "MaxPool2D", "UpSampling2D", "BedOfNails2D")
    want = ["conv2d", "conv2d_transpose", "max_pool2d", "up_sampling2d", "bed_of_nails2d"]
    assert [snake_case(n) for n in names] == want


def test_yaml_and_json_round_trips(tmp_path) -> None:
    spec = load_spec(SMALL)
    for suffix in (".yaml", ".yml", ".json"):
        path = dump_spec(spec, tmp_path / f"m{suffix}")
        assert load_spec(path) == spec and load_spec(str(path)) == spec
    text = dumps_spec(spec, "yaml")
    assert "kernel_size: [3, 3]" in text and load_spec(text) == spec
    assert load_spec(dumps_spec(spec, "json")) == spec
    assert json.loads((tmp_path / "m.json").read_text())["layers"][1]["name"] == "p"
    assert yaml.safe_load((tmp_path / "m.yaml").read_text())["input_shape"] == [1, 8, 8]


def test_filter_bank_in_a_spec_round_trips() -> None:
    bank = [[[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], [[1 / 9] * 3] * 3]
    spec = load_spec(
        {
            "input_shape": [1, 5, 5],
            "layers": [
                {
                    "type": "Conv2D",
                    "name": "bank",
                    "filters": 2,
                    "kernel_size": 3,
                    "padding": "same",
                    "use_bias": False,
                    "kernel": bank,
                    "trainable": False,
                }
            ],
        }
    )
    assert spec.layers[0]["kernel"] == bank
    assert load_spec(dumps_spec(spec, "yaml")) == spec and load_spec(dumps_spec(spec, "json")) == spec


def test_zoo_names_resolve() -> None:
    zoo = pytest.importorskip("convolab.model.zoo")
    spec = load_spec("seed-upsampling")
    assert spec.name == "seed-upsampling" and spec.input_shape == (1, 28, 28)
    assert spec == load_spec(zoo.get_spec("seed-upsampling"))
    with pytest.raises(ValueError, match="unknown model 'seed-upsamplin'; did you mean seed-upsampling"):
        load_spec("seed-upsamplin")


def _layers(*layers: dict) -> dict:
    return {"input_shape": [1, 28, 28], "layers": list(layers)}


CONV = {"type": "Conv2D", "filters": 4, "kernel_size": 3}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_layers(CONV, CONV, CONV, {**CONV, "name": "dec_conv1", "kernel_size": 0}),
         r"^layer 3 \('dec_conv1', Conv2D\): kernel_size must be >= 1, got 0$"),
        (_layers({**CONV, "padding": "full"}),
         r"^layer 0 \('conv2d_1', Conv2D\): padding must be 'same' or 'valid', got 'full'$"),
        (_layers({**CONV, "kernal_size": 3}),
         r"^layer 0 \('conv2d_1', Conv2D\): unknown field 'kernal_size'; did you mean 'kernel_size'"),
        (_layers({"type": "Conv2D", "filters": 4}),
         r"layer 0 \('conv2d_1', Conv2D\): missing required field 'kernel_size'"),
        (_layers({"type": "Conv2d", "name": "c", "filters": 4, "kernel_size": 3}),
         r"^layer 0 \('c'\): unknown layer type 'Conv2d'; did you mean Conv2D\?$"),
        (_layers({"filters": 4}), r"^layer 0: missing field 'type'$"),
        (_layers(CONV, "Conv2D"), r"layer 1: must be a mapping with a 'type', got 'Conv2D'"),
        (_layers({**CONV, "name": "a"}, {**CONV, "name": "a"}),
         r"^layer 1 \('a', Conv2D\): name 'a' is already used by layer 0$"),
        (_layers({**CONV, "name": "a.b"}), r"layer 0 \('a.b', Conv2D\): name must start with a letter"),
        (_layers({"type": "MaxUnpool2D", "name": "u", "pool": "p"}, {"type": "MaxPool2D", "name": "p"}),
         r"^layer 0 \('u', MaxUnpool2D\): pool 'p' is layer 1, after this unpooling layer"),
        (_layers({"type": "MaxPool2D", "name": "p"}, {"type": "MaxUnpool2D", "pool": "q"}),
         r"^layer 1 \('max_unpool2d_1', MaxUnpool2D\): pool 'q' is not an earlier layer of this model"),
        (_layers({**CONV, "name": "c"}, {"type": "MaxUnpool2D", "pool": "c"}),
         r"pool 'c' \(layer 0\) is a Conv2D, not a MaxPool2D"),
        ({**_layers(CONV), "latent": "nope"}, r"latent 'nope' is not a layer name"),
        ({**_layers(CONV), "input_shape": [1, 0, 28]},
         r"input_shape must be a non-empty list of positive ints"),
        ({**_layers(CONV), "inputs": [1]}, r"unknown spec field 'inputs'"),
        ({"input_shape": [1, 2, 2], "layers": []}, r"'layers' must be a non-empty list"),
        ("[1, 2]", r"a spec must be a mapping with 'input_shape' and 'layers', got list"),
    ],
)  # fmt: skip
def test_errors_name_layer_field_and_value(data, message) -> None:
    with pytest.raises(ValueError, match=message):
        load_spec(data)


def test_malformed_yaml_and_json_report_the_line(tmp_path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("input_shape: [1, 28, 28]\nlayers:\n  - type: Conv2D\n    filters: [4\n")
    with pytest.raises(ValueError, match=r"malformed YAML in .*bad\.yaml at line 5, column 1"):
        load_spec(bad_yaml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"input_shape": [1, 28, 28],\n "layers": [\n  {"type": "Conv2D",}\n ]}')
    with pytest.raises(
        ValueError, match=r"malformed JSON in .*bad\.json at line 3, column 21: Expecting property name"
    ):
        load_spec(str(bad_json))
    with pytest.raises(ValueError, match=r"malformed YAML in <string> at line 2"):
        load_spec("input_shape: [1, 2\nlayers: [\n")
    with pytest.raises(ValueError, match=r"spec file 'missing\.yaml' does not exist"):
        load_spec("missing.yaml")
    with pytest.raises(TypeError, match="a spec must be"):
        load_spec(42)


def test_dump_spec_refuses_unknown_suffix(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"must end in .yaml, .yml or .json"):
        dump_spec(load_spec(SMALL), tmp_path / "m.txt")
    assert isinstance(load_spec(SMALL), ModelSpec)


# ---- bounded specs (issue 12 item 3): every refusal one LimitError/ValueError naming what and the limit


def _conv_spec(**args):
    return {
        "input_shape": [1, 28, 28],
        "layers": [{"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": 3, **args}],
    }


BILLION_LAUGHS = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
    + ["input_shape: [1, 28, 28]", "layers: *i"]
)


def test_yaml_alias_bomb_is_refused_before_expanding() -> None:
    assert len(BILLION_LAUGHS) < 600  # 10**9 "x" once expanded
    aliases = r"malformed YAML in <string> at line 2, column \d+: YAML aliases \(\*a\)"
    with pytest.raises(ValueError, match=aliases):
        load_spec(BILLION_LAUGHS)
    # a harmless single alias is refused too: a spec never needs one
    with pytest.raises(ValueError, match=r"YAML aliases \(\*s\) are not allowed"):
        load_spec("input_shape: &s [1, 4, 4]\nlayers: [{type: Flatten}]\nname: *s\n")


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_deep_nesting_is_a_limit_error_never_a_recursion_error(fmt, tmp_path) -> None:
    from convolab import limits

    depth = 200_000
    text = "[" * depth + "]" * depth
    doc = f'{{"input_shape": [1, 4, 4], "layers": {text}}}' if fmt == "json" else f"layers: {text}\n"
    path = tmp_path / f"deep.{fmt}"
    path.write_text(doc)
    with pytest.raises(limits.LimitError, match=rf"nested deeper than {limits.MAX_SPEC_DEPTH} levels"):
        load_spec(path)
    ok = "[" * (limits.MAX_SPEC_DEPTH - 2) + "]" * (limits.MAX_SPEC_DEPTH - 2)  # inside the limit
    with pytest.raises(ValueError, match=r"must be a mapping with a 'type'"):
        load_spec(f'{{"input_shape": [1, 4, 4], "layers": [{ok}]}}')


def test_deep_or_cyclic_python_data_is_refused() -> None:
    from convolab import limits

    deep: list = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    with pytest.raises(limits.LimitError, match="nested deeper than"):
        load_spec({"input_shape": [1, 4, 4], "layers": deep})
    cyclic: dict = {"type": "Flatten"}
    cyclic["self"] = cyclic
    with pytest.raises(limits.LimitError, match="nested deeper than"):
        load_spec({"input_shape": [1, 4, 4], "layers": [cyclic]})


def test_spec_size_and_layer_count_are_bounded(tmp_path) -> None:
    from convolab import limits

    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * limits.MAX_SPEC_BYTES + "\n")
    too_big = r"spec file .*big.yaml' is 1.0 MiB, over the limit of 1.0 MiB"
    with pytest.raises(limits.LimitError, match=too_big):
        load_spec(big)
    with pytest.raises(limits.LimitError, match=r"over the limit of 1.0 MiB \(limits.MAX_SPEC_BYTES\)"):
        load_spec("layers: []\n" + "#" * limits.MAX_SPEC_BYTES)
    many = {"input_shape": [4], "layers": [{"type": "Dense", "units": 4}] * (limits.MAX_LAYERS + 1)}
    with pytest.raises(limits.LimitError, match=r"the number of layers is 1001, over the limit of 1000"):
        load_spec(many)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"type": "UpSampling2D", "size": 1_000_000},
         r"layer 0 \('l', UpSampling2D\): size must be <= 64 \(limits.MAX_FACTOR\), got 1000000"),
        ({"type": "BedOfNails2D", "size": [2, 65]},
         r"size must be <= 64 \(limits.MAX_FACTOR\), got \[2, 65\]"),
        ({"type": "Conv2D", "filters": 1, "kernel_size": 3, "strides": 10**20},
         r"strides must be <= 64 \(limits.MAX_FACTOR\), got 100000000000000000000"),
        ({"type": "Conv2D", "filters": 1, "kernel_size": 3, "dilation_rate": 100},
         r"dilation_rate must be <= 64 \(limits.MAX_FACTOR\)"),
        ({"type": "Conv2DTranspose", "filters": 1, "kernel_size": 3, "strides": 65},
         r"strides must be <= 64 \(limits.MAX_FACTOR\), got 65"),
        ({"type": "Conv2D", "filters": 1, "kernel_size": 100_001},
         r"kernel_size must be <= 1025 \(limits.MAX_KERNEL_SIDE\), got 100001"),
        ({"type": "MaxPool2D", "pool_size": 2000}, r"pool_size must be <= 1025 \(limits.MAX_KERNEL_SIDE\)"),
        ({"type": "AvgPool2D", "strides": 99}, r"strides must be <= 64 \(limits.MAX_FACTOR\), got 99"),
        ({"type": "Conv2D", "filters": 10**6, "kernel_size": 1},
         r"filters must be <= 65536 \(limits.MAX_CHANNELS\), got 1000000"),
        ({"type": "Dense", "units": 70000}, r"units must be <= 65536 \(limits.MAX_CHANNELS\), got 70000"),
        ({"type": "Conv2D", "filters": 1, "kernel_size": 1, "kernel": [[10**400]]},
         r"layer 0 \('l', Conv2D\): kernel must be a numeric array of finite float32 values"),
        ({"type": "Conv2D", "filters": 1, "kernel_size": 3, "strides": 1e20},
         r"strides must be an int or a pair of ints, got 1e\+20"),
    ],
)  # fmt: skip
def test_every_layer_argument_is_bounded(layer, message) -> None:
    from convolab import limits

    spec = {"input_shape": [1, 28, 28], "layers": [{"name": "l", **layer}]}
    with pytest.raises(ValueError, match=message) as err:
        load_spec(spec)
    assert "\n" not in str(err.value)
    if "limits." in message:
        assert isinstance(err.value, limits.LimitError)


def test_json_stride_1e20_is_a_clean_error() -> None:
    text = '{"input_shape": [1, 8, 8], "layers": [{"type": "Conv2D", "filters": 1, "kernel_size": 3, "strides": 100000000000000000000}]}'  # noqa: E501
    with pytest.raises(ValueError, match=r"layer 0 \('conv2d_1', Conv2D\): strides must be <= 64"):
        load_spec(text)


def test_input_and_intermediate_sides_are_bounded() -> None:
    from convolab import limits
    from convolab.analysis.summary import analyze

    with pytest.raises(
        limits.LimitError,
        match=r"input shape \[1, 3000000, 3000000\] has a side of 3000000, "
        r"over the limit of 65536 \(limits.MAX_SIDE\)",
    ):
        analyze("seed-upsampling", (1, 3_000_000, 3_000_000))
    ups = [{"type": "UpSampling2D", "size": 64, "name": f"u{i}"} for i in range(3)]
    side = r"layer 1 \('u1', UpSampling2D\): output \(1, 114688, 114688\) has a side of 114688, over"
    with pytest.raises(limits.LimitError, match=side + r" the limit of 65536"):
        analyze({"input_shape": [1, 28, 28], "layers": ups})


RECORDED = Path(__file__).parent / "data" / "specs"
# Conv2D's keyword-only extras at and off their defaults (zoo models use neither); written by the
# code before get_config held every argument, so the files prove the spec writer drops exactly those
EXTRAS = {
    "name": "extras",
    "input_shape": [1, 8, 8],
    "layers": [
        {
            "type": "Conv2D",
            "name": "sobel",
            "filters": 1,
            "kernel_size": 3,
            "padding": "same",
            "kernel": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
            "trainable": False,
        },
        {"type": "Conv2D", "filters": 2, "kernel_size": 3, "trainable": False},
        {"type": "Conv2D", "filters": 2, "kernel_size": 1, "trainable": True, "kernel": None},
    ],
}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("name", [*list_models(), "extras"])
def test_written_specs_are_byte_identical_to_the_recorded_ones(name: str, fmt: str, tmp_path) -> None:
    recorded = RECORDED / f"{name}.{fmt}"
    source = EXTRAS if name == "extras" else name
    assert dump_spec(load_spec(source), tmp_path / recorded.name).read_bytes() == recorded.read_bytes()
    model = Sequential.from_spec(source)  # a run writes its model's to_spec()
    assert dumps_spec(model.to_spec(), fmt).encode() == recorded.read_bytes()
