"""What runs for each layer: ``engine.explain`` and ``convolab plan``.

The golden table below is the plan of every zoo model (and the benchmark matrix's two spec models),
layer by layer: which layers each plan entry computes and with which rewrite. It is written out by
hand from the rewrites' rules in docs/speed.md, so a layer that has a rewrite and runs unfused fails
here. Kernels are checked separately: whether C kernels run depends on a compiler being present.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from convolab.cli import cli
from convolab.engine import native
from convolab.engine.device import prepare
from convolab.engine.explain import PlanRow, explain
from convolab.engine.native import trace
from convolab.model.sequential import Sequential
from convolab.model.zoo import list_models

SPECS = Path(__file__).resolve().parents[1] / "benchmarks" / "specs"
ENCODER = [
    (("enc_conv1", "enc_pool1"), "pool-first"),
    (("enc_conv2", "enc_pool2"), "pool-first"),
    (("enc_conv3", "enc_pool3"), "pool-first"),
]
UPSAMPLING_DECODER = [
    (("dec_conv1",), ""),
    (("dec_up1", "dec_conv2"), "sub-pixel"),
    (("dec_up2", "dec_conv3"), "sub-pixel"),
    (("dec_up3", "dec_out"), "sub-pixel"),
]
# model -> [(layers of one plan entry, rewrite)]; "" = the layer runs as itself (no rewrite applies)
GOLDEN: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "seed-upsampling": ENCODER + UPSAMPLING_DECODER,
    "chollet": ENCODER + UPSAMPLING_DECODER,
    "wide": ENCODER + UPSAMPLING_DECODER,
    "rgb64": ENCODER + UPSAMPLING_DECODER,
    "bed-of-nails": ENCODER + UPSAMPLING_DECODER,
    "seed-transpose": [
        (("enc_conv1", "enc_pool1"), "pool-first"),
        (("enc_conv2", "enc_pool2"), "pool-first"),
        (("enc_conv3",), ""),  # a 'valid' conv with no pool after it: nothing to fuse
        (("dec_deconv1",), "flipped conv"),
        (("dec_up1", "dec_deconv2"), "sub-pixel"),
        (("dec_up2", "dec_deconv3"), "sub-pixel"),
        (("dec_up3", "dec_out"), "sub-pixel"),
    ],
    # a lone strided Conv2DTranspose runs as itself without the C kernels (its rewrite through oneDNN
    # measured slower: plan.STRIDED_TRANSPOSE); with them, see the test after the lecture model's
    "strided-transpose": ENCODER + [(("dec_deconv1",), ""), (("dec_deconv2",), ""), (("dec_out",), "")],
    "unpool": [
        (("enc_conv1", "enc_pool1"), "pool-first (switches)"),
        (("enc_conv2", "enc_pool2"), "pool-first (switches)"),
        (("enc_conv3", "enc_pool3"), "pool-first (switches)"),
        (("dec_conv1", "dec_unpool1"), "conv + unpool scatter"),
        (("dec_conv2", "dec_unpool2"), "conv + unpool scatter"),
        (("dec_conv3", "dec_unpool3"), "conv + unpool scatter"),
        (("dec_out",), ""),
    ],
    "dense": [(("enc_flatten",), ""), (("enc_dense",), ""), (("dec_dense",), ""), (("dec_reshape",), "")],
}


def _model(name: str) -> Sequential:
    torch.manual_seed(0)
    source = str(SPECS / f"{name}.yaml") if name in ("wide", "rgb64") else name
    return prepare(Sequential.from_spec(source), "cpu")


def test_golden_covers_every_zoo_model():
    assert set(list_models()) <= set(GOLDEN), sorted(set(list_models()) - set(GOLDEN))


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_layer_runs_as_the_golden_table_says(name):
    model = _model(name)
    rows = explain(model, native=False)
    assert rows is not None, f"{name}: no plan (the model would run layer by layer)"
    got = [(r.layers, r.rewrite) for r in rows]
    assert got == GOLDEN[name]
    assert all(r.kernels == () for r in rows)  # native=False: PyTorch's ops only
    flat = [layer for r in rows for layer in r.layers]
    assert flat == [layer.name for layer in model.layers]  # every layer once, in order


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_native_kernels_named_are_real_and_only_where_a_rewrite_is(name):
    rows = explain(_model(name))
    assert rows is not None
    for row in rows:
        assert set(row.kernels) <= set(native.NAMES)
        if not row.rewrite:
            assert row.kernels == (), row


@pytest.mark.skipif(not native.available(), reason=f"C kernels not built here: {native.status()}")
def test_the_lecture_model_runs_every_kernel():
    rows = explain(_model("seed-upsampling"))
    assert rows is not None
    assert [r.kernels for r in rows] == [
        ("conv_pool",), ("pool",), ("pool",), (), ("shuffle",), ("shuffle",), ("subpixel",)
    ]  # fmt: skip


@pytest.mark.skipif(not native.available(), reason=f"C kernels not built here: {native.status()}")
def test_a_strided_transpose_is_rewritten_where_the_subpixel_kernel_computes_it():
    rows = explain(_model("strided-transpose"))
    assert rows is not None
    assert [(r.layers, r.rewrite, r.kernels) for r in rows[3:]] == [
        (("dec_deconv1",), "", ()),  # 4 -> 8 channels: not the kernel's (a multiple of 16 in)
        (("dec_deconv2",), "", ()),
        (("dec_out",), "sub-pixel (strided transpose)", ("subpixel",)),  # 16 -> 1
    ]


def test_switching_a_rewrite_off_shows_in_the_rows():
    model = _model("seed-upsampling")
    rows = explain(model, native=False, subpixel=False)
    assert rows is not None
    assert ("dec_up1",) in [r.layers for r in rows]
    assert all(r.rewrite != "sub-pixel" for r in rows)


def test_row_text():
    row = PlanRow(("a", "b"), "pool-first", ("pool",))
    assert str(row) == "a + b: pool-first (native: pool)"
    assert str(PlanRow(("c",), "", ())) == "c: as itself (PyTorch)"


def test_trace_records_only_inside_recording():
    trace.record("pool")  # nobody records: nothing happens, nothing kept
    with trace.recording() as outer:
        trace.mark(0)
        trace.record("pool")
        with trace.recording() as inner:
            trace.record("shuffle")
        trace.record("subpixel")
    assert outer == [0, "pool", "subpixel"]
    assert inner == ["shuffle"]


def test_plan_command_json_and_table():
    runner = CliRunner()
    out = runner.invoke(cli, ["plan", "chollet", "--no-native", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [(tuple(d["layers"]), d["rewrite"]) for d in data] == GOLDEN["chollet"]
    table = runner.invoke(cli, ["plan", "seed-upsampling"])
    assert table.exit_code == 0, table.output
    assert "pool-first" in table.output and "sub-pixel" in table.output and "C kernels:" in table.output


def test_plan_command_refuses_bad_input_in_one_line(tmp_path):
    from convolab.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("layers: [{type: Conv2D, filters: 4, kernel_size: 3}]\n")
    assert main(["plan", str(bad)]) == 2
    assert main(["plan", "no-such-model"]) == 2


SUBSETS = [True, False, *[tuple(n for n in native.NAMES if n != off) for off in native.NAMES]]


@pytest.mark.parametrize("name", sorted(GOLDEN))
@pytest.mark.parametrize("use", SUBSETS, ids=["all", "none", *[f"no-{n}" for n in native.NAMES]])
def test_a_kernel_switched_off_never_runs_and_the_result_stays(name, use):
    """Found by benchmarks/rewrites.py: with the pool kernel off but conv_pool on, the unpool model's
    first pool kept conv_pool's winners without a pool geometry and raised."""
    from convolab.engine.plan import build_plan, run_plan

    model = _model(name)
    rows = explain(model, native=use)
    assert rows is not None
    allowed = set(native.NAMES) if use is True else set() if use is False else set(use)
    assert {k for r in rows for k in r.kernels} <= allowed
    torch.manual_seed(1)
    x = torch.rand(3, *model.input_shape).contiguous(memory_format=torch.channels_last)
    plan = build_plan(model, native=use)
    assert plan is not None
    torch.testing.assert_close(run_plan(plan, x), model(x), rtol=1e-5, atol=1e-5)
