"""Sequential: built from specs, spec -> model -> spec identity, pool/unpool pairing, logits, encode,
feature maps, Keras's parameter counts for the lecture's autoencoders, refusals."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from convolab.layers import Conv2D, Dense, Flatten, MaxPool2D, MaxUnpool2D
from convolab.model.sequential import Sequential, build_model
from convolab.model.spec import dumps_spec, load_spec

UNPOOL_AE = {
    "name": "unpool-ae",
    "input_shape": [1, 9, 9],
    "latent": "p2",
    "layers": [
        {
            "type": "Conv2D",
            "name": "c1",
            "filters": 3,
            "kernel_size": 3,
            "padding": "same",
            "activation": "relu",
        },
        {"type": "MaxPool2D", "name": "p1", "pool_size": 2, "padding": "same"},  # 9 -> 5
        {"type": "MaxPool2D", "name": "p2", "pool_size": 3, "strides": 2, "padding": "same"},  # 5 -> 3
        {"type": "MaxUnpool2D", "name": "u2", "pool": "p2"},  # 3 -> 5
        {"type": "MaxUnpool2D", "name": "u1", "pool": "p1"},  # 5 -> 9
        {
            "type": "Conv2D",
            "name": "out",
            "filters": 1,
            "kernel_size": 3,
            "padding": "same",
            "activation": "sigmoid",
        },
    ],
}


def test_spec_model_spec_identity() -> None:
    spec = load_spec(UNPOOL_AE)
    model = Sequential.from_spec(spec)
    assert model.to_spec() == spec
    assert Sequential.from_spec(model.to_spec()).to_spec() == spec
    assert load_spec(dumps_spec(model.to_spec())) == spec


def test_forward_shapes_and_feature_maps() -> None:
    torch.manual_seed(0)
    model = build_model(UNPOOL_AE)
    x = torch.rand(2, 1, 9, 9)
    assert model(x).shape == (2, 1, 9, 9)
    maps = model.feature_maps(x)
    assert [name for name, _ in maps] == ["c1", "p1", "p2", "u2", "u1", "out"]
    assert [tuple(t.shape[1:]) for _, t in maps] == [out for _, _, out in model.shapes]
    assert [out for _, _, out in model.shapes] == [
        (3, 9, 9),
        (3, 5, 5),
        (3, 3, 3),
        (3, 5, 5),
        (3, 9, 9),
        (1, 9, 9),
    ]
    assert model.encode(x).shape == (2, 3, 3, 3)
    torch.testing.assert_close(model.encode(x), maps[2][1])


def test_unpool_receives_its_own_pools_switches() -> None:
    torch.manual_seed(0)
    model = build_model(UNPOOL_AE)
    x = torch.rand(2, 1, 9, 9)
    maps = dict(model.feature_maps(x))
    c1 = maps["c1"]
    # every non-zero after u1 sits where p1 found its maximum, and equals the value the path put there
    _, s1 = MaxPool2D(2, padding="same").forward_with_switches(c1)
    positions = torch.zeros_like(c1).flatten(2).scatter(2, s1.flatten(2), 1.0).view_as(c1)
    assert torch.all((maps["u1"] != 0) <= (positions != 0))
    # no state is kept between calls: a second, different batch gives its own answer
    y2 = model(torch.rand(3, 1, 9, 9))
    assert y2.shape == (3, 1, 9, 9)


def test_logits_skip_only_the_last_activation() -> None:
    torch.manual_seed(0)
    model = build_model(UNPOOL_AE)
    x = torch.rand(4, 1, 9, 9)
    logits = model(x, logits=True)
    torch.testing.assert_close(torch.sigmoid(logits), model(x))
    target = torch.rand(4, 1, 9, 9)
    torch.testing.assert_close(
        F.binary_cross_entropy_with_logits(logits, target), F.binary_cross_entropy(model(x), target)
    )


def test_trailing_activation_layer_is_skipped_for_logits() -> None:
    spec = {
        "input_shape": [3],
        "layers": [{"type": "Dense", "units": 2}, {"type": "Activation", "activation": "sigmoid"}],
    }
    model = build_model(spec)
    x = torch.randn(5, 3)
    torch.testing.assert_close(model(x, logits=True), model.layers[0](x))


@pytest.mark.parametrize("name", ["seed-upsampling", "seed-transpose"])
def test_lecture_autoencoders_match_keras_summary(name: str) -> None:
    pytest.importorskip("convolab.model.zoo")
    torch.manual_seed(0)
    model = build_model(name)
    per_layer = [sum(p.numel() for p in layer.parameters()) for layer in model.layers]
    assert [n for n in per_layer if n] == [160, 1160, 292, 148, 296, 1168, 145]
    assert sum(p.numel() for p in model.parameters()) == 3369
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 1, 28, 28)
    assert model.to_spec() == load_spec(name)


def test_parameters_exist_at_construction_and_init_is_reproducible() -> None:
    torch.manual_seed(123)
    a = build_model(UNPOOL_AE)
    torch.optim.Adam(a.parameters(), eps=1e-7)  # an optimizer can be made right away
    torch.manual_seed(123)
    b = build_model(UNPOOL_AE)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert list(a.state_dict()) == ["layers.0.weight", "layers.0.bias", "layers.5.weight", "layers.5.bias"]
    assert torch.count_nonzero(a.layers[0].bias) == 0  # Keras: zero bias


def test_dense_after_spatial_is_refused_with_advice() -> None:
    spec = {
        "input_shape": [1, 8, 8],
        "layers": [
            {"type": "Conv2D", "filters": 2, "kernel_size": 3},
            {"type": "Dense", "units": 4, "name": "head"},
        ],
    }
    message = r"^layer 1 \('head', Dense\): input \(2, 6, 6\) is an image .*Flatten.*Conv2D\(4, 1\)"
    with pytest.raises(ValueError, match=message):
        build_model(spec)
    spec["layers"].insert(1, {"type": "Flatten"})
    assert build_model(spec).output_shape == (4,)


def test_impossible_shape_names_the_layer() -> None:
    spec = {
        "input_shape": [1, 3, 3],
        "layers": [{"type": "Conv2D", "name": "c1", "filters": 2, "kernel_size": 5}],
    }
    message = (
        r"^layer 0 \('c1', Conv2D\): kernel 5 \(effective 5\) is larger than the 'valid' input 3 on axis H$"
    )
    with pytest.raises(ValueError, match=message):
        build_model(spec)


def test_wrong_input_shape_and_no_latent() -> None:
    model = build_model({"input_shape": [4], "layers": [{"type": "Dense", "units": 2}]})
    with pytest.raises(ValueError, match=r"expected input \(N, 4\), got \(2, 5\)"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="has no latent layer"):
        model.encode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="no layer named 'x'"):
        model.get_layer("x")


def test_sequential_from_layer_objects() -> None:
    layers = [
        Conv2D(2, 3, padding="same"),
        MaxPool2D(2, name="pool"),
        MaxUnpool2D("pool"),
        Flatten(),
        Dense(3),
    ]
    model = Sequential(layers, (1, 6, 6), name="direct")
    assert model.layer_names == ["conv2d_1", "pool", "max_unpool2d_1", "flatten_1", "dense_1"]
    assert model.get_layer("pool") is layers[1] and len(model) == 5 and list(model) == layers
    assert model(torch.rand(2, 1, 6, 6)).shape == (2, 3)
    assert model.to_spec().layers[4] == {
        "type": "Dense",
        "name": "dense_1",
        "units": 3,
        "activation": None,
        "use_bias": True,
    }


def test_channels_last_and_gradients_through_the_model() -> None:
    torch.manual_seed(0)
    model = build_model(UNPOOL_AE)
    x = torch.rand(2, 1, 9, 9)
    y1 = model(x)
    y2 = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(y1, y2)
    model(x, logits=True).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    model = build_model(UNPOOL_AE)
    x = torch.rand(2, 1, 9, 9)
    want = model(x)
    got = model.to("cuda")(x.to("cuda")).cpu()
    torch.testing.assert_close(got, want, rtol=2e-3, atol=2e-3)  # cuDNN may use TF32 for convolutions


# ---- the one walk (convolab.model.walk) ------------------------------------------------------------------


def test_walk_pairs_unpools_with_their_pools_explicitly() -> None:
    model = build_model(UNPOOL_AE)
    steps = {step.name: step for step in model.walk.steps}
    assert steps["u2"].pool_index == 2 and steps["u1"].pool_index == 1
    assert steps["u2"].link is not None and steps["u2"].link.input_shape == (3, 5, 5)
    assert [s.name for s in model.walk.steps if s.keeps_switches] == ["p1", "p2"]
    assert model.walk.uses_switches and [s.name for s in model.walk.steps if s.logits] == ["out"]
    # the layers keep no pairing state: the same unpool layer answers for any pairing it is given
    unpool = model.get_layer("u1")
    assert not any(k.startswith("_pool") for k in vars(unpool))


def test_dense_on_image_and_bad_pairing_refused_with_one_message_everywhere() -> None:
    from convolab.analysis.summary import analyze

    spec = {"input_shape": [1, 4, 4], "layers": [{"type": "Dense", "units": 3, "name": "d"}]}
    messages = set()
    for make in (build_model, analyze):
        with pytest.raises(ValueError, match=r"layer 0 \('d', Dense\): input \(1, 4, 4\) is an image") as e:
            make(spec)
        messages.add(str(e.value))
    assert len(messages) == 1
    bad = {
        "input_shape": [1, 4, 4],
        "layers": [{"type": "MaxUnpool2D", "pool": "p", "name": "u"}, {"type": "MaxPool2D", "name": "p"}],
    }
    for make in (build_model, analyze, load_spec):
        with pytest.raises(ValueError, match=r"pool 'p' is layer 1, after this unpooling layer"):
            make(bad)


def test_from_spec_builds_each_layer_once(monkeypatch) -> None:
    # canonicalising spec <-> layers again and again was the cost of building a model (issue 13)
    import convolab.layers.conv as conv

    calls = []
    init = conv.Conv2D.__init__

    @functools.wraps(init)  # keeps the signature the spec reads the fields from
    def counting(self, *args, **kwargs):
        calls.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(conv.Conv2D, "__init__", counting)
    model = build_model("seed-upsampling")
    assert len(calls) == sum(isinstance(layer, Conv2D) for layer in model) == 7


def test_double_before_build_is_kept() -> None:
    layer = Conv2D(3, 3).double()
    y = layer(torch.rand(2, 1, 5, 5, dtype=torch.float64))
    assert y.dtype == torch.float64 and layer.weight is not None and layer.weight.dtype == torch.float64
    assert layer.bias is not None and layer.bias.dtype == torch.float64
    # the values are Keras's float32 initialisation, cast: the same seed gives the same weights
    torch.manual_seed(0)
    a = Conv2D(3, 3).double()
    a.build((1, 5, 5))
    torch.manual_seed(0)
    b = Conv2D(3, 3)
    b.build((1, 5, 5))
    assert a.weight is not None and b.weight is not None
    torch.testing.assert_close(a.weight, b.weight.double())
    dense = Dense(4).to(torch.float64)
    assert dense(torch.rand(3, 2, dtype=torch.float64)).dtype == torch.float64
    assert dense.weight is not None and dense.weight.requires_grad  # still a trainable Parameter


def test_summary_returns_the_cli_table_as_data(capsys) -> None:
    from convolab.analysis.summary import Analysis, analyze

    model = build_model("seed-upsampling")
    result = model.summary()
    assert isinstance(result, Analysis) and result == analyze("seed-upsampling")
    printed = capsys.readouterr().out
    assert "enc_conv1 (Conv2D)" in printed and "Total params: 3,369 (13.16 KB)" in printed
    assert model.summary(show=False).total_params == 3369 and capsys.readouterr().out == ""
    html = result._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 1 + 1 + 13  # head, input, 13 layers
    assert "<td>enc_conv1 (Conv2D)</td>" in html and "Total params: 3,369" in html
    assert repr(result) == "Analysis('seed-upsampling', input (1, 28, 28), batch 1, 13 layers, 3,369 params)"
