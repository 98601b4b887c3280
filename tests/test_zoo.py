"""The model zoo: Keras's printed numbers for the lecture's models, shapes, names, latent layers."""

from __future__ import annotations

import pytest

from convolab.analysis.summary import analyze
from convolab.model.zoo import ZOO, get_spec, list_models

# Keras model.summary() of the lecture's two models: output shapes (channels-first here) and params.
SEED_UPSAMPLING = [
    ("enc_conv1", (16, 28, 28), 160), ("enc_pool1", (16, 14, 14), 0),
    ("enc_conv2", (8, 14, 14), 1160), ("enc_pool2", (8, 7, 7), 0),
    ("enc_conv3", (4, 7, 7), 292), ("enc_pool3", (4, 4, 4), 0),
    ("dec_conv1", (4, 4, 4), 148), ("dec_up1", (4, 8, 8), 0),
    ("dec_conv2", (8, 8, 8), 296), ("dec_up2", (8, 16, 16), 0),
    ("dec_conv3", (16, 14, 14), 1168), ("dec_up3", (16, 28, 28), 0),
    ("dec_out", (1, 28, 28), 145),
]  # fmt: skip
SEED_TRANSPOSE = [
    ("enc_conv1", (16, 26, 26), 160), ("enc_pool1", (16, 13, 13), 0),
    ("enc_conv2", (8, 11, 11), 1160), ("enc_pool2", (8, 5, 5), 0),
    ("enc_conv3", (4, 3, 3), 292),
    ("dec_deconv1", (4, 3, 3), 148), ("dec_up1", (4, 6, 6), 0),
    ("dec_deconv2", (8, 6, 6), 296), ("dec_up2", (8, 12, 12), 0),
    ("dec_deconv3", (16, 14, 14), 1168), ("dec_up3", (16, 28, 28), 0),
    ("dec_out", (1, 28, 28), 145),
]  # fmt: skip
TOTALS = {
    "seed-upsampling": 3369,
    "seed-transpose": 3369,
    "chollet": 4385,  # the Keras blog's printed total
    "unpool": 3369,
    "bed-of-nails": 3369,
    "strided-transpose": 160 + 1160 + 292 + (4 * 8 * 9 + 8) + (8 * 16 * 9 + 16) + (16 * 1 * 9 + 1),
    "dense": (784 * 32 + 32) + (32 * 784 + 784),
}


@pytest.mark.parametrize(
    ("name", "table"), [("seed-upsampling", SEED_UPSAMPLING), ("seed-transpose", SEED_TRANSPOSE)]
)
def test_lecture_models_match_keras_summary(name, table):
    a = analyze(name)
    assert [(li.name, li.output_shape, li.params) for li in a.layers] == table
    assert a.total_params == a.trainable_params == 3369


def test_lecture_per_layer_counts():
    for name in ("seed-upsampling", "seed-transpose"):
        assert [li.params for li in analyze(name).layers if li.params] == [
            160,
            1160,
            292,
            148,
            296,
            1168,
            145,
        ]


def test_chollet_latent_is_8x4x4():
    a = analyze("chollet")
    assert a.layer("enc_pool3").output_shape == (8, 4, 4)
    assert a.total_params == 4385


@pytest.mark.parametrize("name", list(ZOO))
def test_every_model_reconstructs_28x28_with_named_layers_and_latent(name):
    spec = get_spec(name)
    assert spec["name"] == name and spec["input_shape"] == [1, 28, 28]
    names = [layer["name"] for layer in spec["layers"]]
    assert len(set(names)) == len(names)
    assert all(n.startswith(("enc_", "dec_")) for n in names)
    assert spec["latent"] in names and spec["latent"].startswith("enc_")
    a = analyze(name)
    assert a.layers[-1].output_shape == (1, 28, 28)
    assert a.total_params == TOTALS[name]


def test_list_models_and_copies():
    assert list_models() == [
        "seed-upsampling",
        "seed-transpose",
        "chollet",
        "unpool",
        "bed-of-nails",
        "strided-transpose",
        "dense",
    ]
    spec = get_spec("chollet")
    spec["layers"].clear()
    assert get_spec("chollet")["layers"]


@pytest.mark.parametrize(
    ("bad", "hint"), [("seed-upsample", "did you mean seed-upsampling"), ("zzz", "known: ")]
)
def test_unknown_name_suggests(bad, hint):
    with pytest.raises(ValueError, match=f"unknown model '{bad}'; {hint}"):
        get_spec(bad)
