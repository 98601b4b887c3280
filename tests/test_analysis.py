"""Static analysis: agrees with a real forward pass, with Keras's numbers and hand counts; never
allocates activations; errors name the layer."""

from __future__ import annotations

import io
import json
import time
import tracemalloc

import pytest
import torch
from rich.console import Console

from convolab.analysis.summary import analyze, format_bytes, render_table
from convolab.layers import Conv2D, Dense, Flatten, MaxPool2D, MaxUnpool2D
from convolab.model.sequential import Sequential
from convolab.model.spec import load_spec
from convolab.model.zoo import ZOO

LAYER_KEYS = {"name", "type", "output_shape", "params", "macs", "activation_bytes", "receptive_field"}


@pytest.mark.parametrize("name", list(ZOO))
def test_analysis_equals_a_real_forward_pass(name):
    model = Sequential.from_spec(name)
    a = analyze(name)
    maps = model.feature_maps(torch.rand(2, *model.input_shape))
    assert [(li.name, li.output_shape) for li in a.layers] == [(n, tuple(t.shape[1:])) for n, t in maps]
    assert a.total_params == sum(p.numel() for p in model.parameters())
    assert a.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert analyze(model).to_dict() == a.to_dict()  # a built model and its spec agree


def test_to_dict_schema_and_totals():
    d = analyze("seed-upsampling", batch=64).to_dict()
    assert all(set(layer) == LAYER_KEYS for layer in d["layers"])
    assert {"total_params", "trainable_params", "total_macs"} <= set(d)
    assert d["layers"][0]["output_shape"] == [16, 28, 28]
    assert d["layers"][0]["activation_bytes"] == 16 * 28 * 28 * 4 * 64
    assert d["layers"][0]["receptive_field"] == {
        "h": {"max": 3, "center": 3, "jump": 1.0, "offset": 0.5},
        "w": {"max": 3, "center": 3, "jump": 1.0, "offset": 0.5},
    }
    assert d["total_params"] == d["trainable_params"] == 3369 and d["non_trainable_params"] == 0
    assert d["param_bytes"] == 3369 * 4
    assert d["input_bytes"] == 28 * 28 * 4 * 64


def test_macs_by_hand():
    # conv MACs = H_out * W_out * C_out * C_in * kh * kw
    a = analyze("seed-upsampling")
    by_hand = {
        "enc_conv1": 28 * 28 * 16 * 1 * 9,
        "enc_conv2": 14 * 14 * 8 * 16 * 9,
        "enc_conv3": 7 * 7 * 4 * 8 * 9,
        "dec_conv1": 4 * 4 * 4 * 4 * 9,
        "dec_conv2": 8 * 8 * 8 * 4 * 9,
        "dec_conv3": 14 * 14 * 16 * 8 * 9,
        "dec_out": 28 * 28 * 1 * 16 * 9,
    }
    assert {li.name: li.macs for li in a.layers if li.macs} == by_hand
    assert a.total_macs == sum(by_hand.values()) == 712224


def test_full_hd_batch_is_answered_without_allocating_it():
    # lecture: Conv2D(16, 5x5, stride 5, no bias) on (64, 1920, 1080, 3); Flatten; Dense(1, no bias)
    layers = [Conv2D(16, 5, strides=5, use_bias=False), Flatten(), Dense(1, use_bias=False)]
    tracemalloc.start()
    t0 = time.perf_counter()
    a = analyze(layers, (3, 1920, 1080), batch=64)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [li.output_shape for li in a.layers] == [(16, 384, 216), (1327104,), (1,)]
    assert [li.params for li in a.layers] == [1200, 0, 1327104]
    assert a.layers[0].activation_bytes == 64 * 16 * 384 * 216 * 4  # 340 MB, never allocated
    assert peak < 2_000_000 and elapsed < 1.0  # the input batch alone would be 1.6 GB
    rf = a.layers[0].receptive_field
    assert rf["h"] == {"max": 5, "center": 5, "jump": 5.0, "offset": 2.0} == rf["w"]


def test_fixed_kernels_are_non_trainable():
    sobel = [[[[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]]]
    layers = [Conv2D.from_kernel(sobel, name="sobel"), Conv2D(4, 3, name="learned")]
    a = analyze(layers, (1, 10, 10))
    assert (a.total_params, a.trainable_params, a.non_trainable_params) == (
        9 + 40,
        40,
        9,
    )  # from_kernel: no bias by default
    text = _render(a)
    assert "Non-trainable params: 9 (36 B)" in text


def test_input_override_and_sources_agree(tmp_path):
    spec = load_spec("seed-upsampling")
    path = tmp_path / "m.json"
    path.write_text(json.dumps(spec.to_dict()))
    for source in ("seed-upsampling", spec, spec.to_dict(), str(path)):
        assert analyze(source).total_params == 3369
    big = analyze("chollet", (1, 56, 56))
    # 56 -> 28 -> 14 -> 7 down, 7 -> 14 -> 28 -> 26 ('valid') -> 52 up
    assert big.input_shape == (1, 56, 56) and big.layers[-1].output_shape == (1, 52, 52)


@pytest.mark.parametrize(
    ("source", "shape", "match"),
    [
        ("no-such-model", None, "unknown model 'no-such-model'"),
        ({"input_shape": [1, 2, 2], "layers": [{"type": "Conv2D", "filters": 1, "kernel_size": 3}]}, None,
         r"layer 0 \('conv2d_1', Conv2D\)"),
        ({"input_shape": [1, 4, 4], "layers": [{"type": "Conv2DTranspose", "filters": 1, "kernel_size": 3,
                                                "strides": 2, "output_padding": 2}]}, None,
         "output_padding"),
        ({"input_shape": [1, 4, 4], "layers": [{"type": "Dense", "units": 3}]}, None, "add a Flatten"),
        ({"input_shape": [1, 4, 4], "layers": [{"type": "Nope"}]}, None, "unknown layer type 'Nope'"),
        ("seed-upsampling", (1, 0, 28), "input shape"),
        ("seed-upsampling", (28, 28), r"layer 0 \('enc_conv1', Conv2D\)"),
    ],
)  # fmt: skip
def test_bad_input_raises_value_error_naming_the_problem(source, shape, match):
    with pytest.raises(ValueError, match=match):
        analyze(source, shape)


def test_bad_batch():
    with pytest.raises(ValueError, match="batch must be a positive int, got 0"):
        analyze("dense", batch=0)


def test_unpool_is_paired_with_its_pool():
    a = analyze("unpool")
    assert [li.output_shape[1] for li in a.layers if li.type == "MaxUnpool2D"] == [7, 14, 28]
    with pytest.raises(ValueError, match="pool 'p' is not an earlier layer"):
        analyze([MaxPool2D(name="q"), MaxUnpool2D("p")], (1, 4, 4))


def _render(analysis, **kw):
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(render_table(analysis, **kw))
    return console.export_text()


def test_table_looks_like_keras_summary():
    text = _render(analyze("seed-transpose"))
    for line in (
        "Total params: 3,369 (13.16 KB)",
        "Trainable params: 3,369 (13.16 KB)",
        "Non-trainable params: 0 (0 B)",
        "MACs per sample: 529,776",
    ):
        assert line in text
    row = next(r for r in text.splitlines() if "enc_conv3 (Conv2D)" in r)
    assert "(4, 3, 3)" in row and "292" in row and "18 / 18 / 4" in row
    row = next(r for r in text.splitlines() if "dec_up3 (UpSampling2D)" in r)
    assert "26 / 26 / 0.5" in row  # the whole model never sees more than 26 of 28 rows
    cl = _render(analyze("seed-transpose"), channels_last=True)
    assert "(3, 3, 4)" in cl and "(28, 28, 1)" in cl


def test_table_shows_unequal_axes_as_pairs():
    text = _render(analyze([Conv2D(1, (3, 5), strides=(1, 2))], (1, 9, 9)))
    assert "3x5 / 3x5 / 1x2" in text


def test_format_bytes():
    assert [format_bytes(n) for n in (0, 1023, 13476, 5 * 2**20, 3 * 2**30)] == [
        "0 B",
        "1023 B",
        "13.16 KB",
        "5.00 MB",
        "3.00 GB",
    ]


# ---- bounded work (issue 12 item 4): memory estimated before anything is allocated -----------------


def test_check_memory_by_hand():
    from convolab.analysis.summary import check_memory

    est = check_memory("seed-upsampling", batch=32)
    a = analyze("seed-upsampling", batch=32)
    assert est.param_bytes == 3369 * 4 * 4  # weights, gradients, Adam's two moments, float32
    assert (
        est.activation_bytes
        == a.activation_bytes
        == 32 * 4 * sum(li.output_shape[0] * li.output_shape[1] * li.output_shape[2] for li in a.layers)
    )
    assert est.input_bytes == 32 * 28 * 28 * 4
    assert est.largest_activation.startswith("layer 0 ('enc_conv1', Conv2D): ")
    assert check_memory("seed-upsampling", training=False).param_bytes == 3369 * 4


HUGE_DENSE = {
    "input_shape": [64, 1024, 1024],
    "layers": [{"type": "Flatten", "name": "flat"}, {"type": "Dense", "name": "wide", "units": 65536}],
}


def test_huge_models_are_refused_before_allocating():
    from convolab import limits
    from convolab.analysis.summary import check_memory

    tracemalloc.start()
    try:
        params = r"for training \(largest layer 1 \('wide', Dense\): 64.0 TiB\) needs 64.0 TiB, over"
        with pytest.raises(limits.LimitError, match=params + " the limit of 4.0 GiB"):
            check_memory(HUGE_DENSE)
        with pytest.raises(
            limits.LimitError,
            match=r"largest, layer 1 \('wide', Dense\), has "
            r"4,398,046,576,640\) needs 16.0 TiB, over the limit of 4.0 GiB",
        ):
            Sequential.from_spec(HUGE_DENSE)  # the model itself refuses before building its layers
        acts = r"activations of a batch of 65536 \(largest layer 0 \('enc_conv1', Conv2D\): 3.1 GiB\)"
        with pytest.raises(limits.LimitError, match=acts + " needs 9.3 GiB, over the limit of 8.0 GiB"):
            check_memory("seed-upsampling", (1, 28, 28), batch=65536)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20  # nothing close to the sizes refused was allocated


def test_a_forward_on_a_huge_batch_is_refused_before_running():
    from convolab import limits

    model = Sequential.from_spec("seed-upsampling")
    x = torch.zeros(1, 1, 28, 28).expand(70_000, 1, 28, 28)  # no memory behind it
    with pytest.raises(
        limits.LimitError,
        match=r"a forward pass of a batch of 70000 through model "
        r"'seed-upsampling' .* needs [\d.]+ GiB, over the limit of 8.0 GiB",
    ):
        model(x)


def test_the_largest_allowed_input_is_analysed_within_the_analysis_budget():
    from convolab import limits

    side = limits.MAX_SIDE
    tracemalloc.start()
    try:
        a = analyze("seed-upsampling", (1, side, side))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limits.MAX_ANALYSIS_BYTES
    # oracle: away from the borders the fields are translation equivariant (period 8: three pools of 2),
    # so the big model's middle pixel sees the small model's middle field, shifted
    small = analyze("seed-upsampling", (1, 1024, 1024))
    u, v = side // 2 + 3, side // 3 - (side // 3) % 8 + 5
    (r0, r1), (c0, c1) = small.layers[-1].pixel_field(512 + 3, 512 + 5)
    assert a.layers[-1].pixel_field(u, v) == ((r0 + u - 515, r1 + u - 515), (c0 + v - 517, c1 + v - 517))
    assert a.layers[-1].receptive_field["h"]["max"] == small.layers[-1].receptive_field["h"]["max"]


def test_fields_on_demand_equal_stored_fields(monkeypatch):
    # with a tiny budget nothing is stored: every layer's fields are recomputed on demand, the same
    from convolab.analysis.receptive_field import FieldWalk

    stored = analyze("unpool", (1, 40, 36))
    total = sum(16 * (li.output_shape[1] + li.output_shape[2]) for li in stored.layers)
    monkeypatch.setattr(FieldWalk, "store_budget", total // 2)  # room for about half of the layers
    lazy = analyze("unpool", (1, 40, 36))
    kept = lazy.layers[0]._source._stored  # noqa: SLF001 - which layers the budget kept
    assert 0 < len(kept) < len(lazy.layers)
    assert [li.receptive_field for li in lazy.layers] == [li.receptive_field for li in stored.layers]
    for li_lazy, li_stored in zip(lazy.layers, stored.layers, strict=True):
        h, w = li_lazy.output_shape[1:]
        assert [li_lazy.pixel_field(u, (u * 7) % w) for u in range(h)] == [
            li_stored.pixel_field(u, (u * 7) % w) for u in range(h)
        ]
