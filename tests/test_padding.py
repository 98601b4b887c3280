"""Padding arithmetic against hand-computed literals and the formulas in docs/architecture.md."""

import pytest

from convolab.layers import padding as P


@pytest.mark.parametrize(
    "i,k,s,expected",
    [
        (28, 3, 1, (1, 1)),
        (28, 2, 2, (0, 0)),
        (7, 2, 2, (0, 1)),
        (5, 3, 2, (1, 1)),
        (6, 3, 2, (0, 1)),
        (4, 4, 1, (1, 2)),
        (1, 5, 3, (2, 2)),
    ],
)
def test_same_padding_split(i, k, s, expected):
    assert P.same_padding(i, k, s) == expected


def test_output_lengths():
    assert P.conv_output_length(28, 3, 1, "valid") == 26
    assert P.conv_output_length(7, 2, 2, "same") == 4
    assert P.conv_output_length(11, 2, 2, "valid") == 5
    assert P.conv_output_length(1920, 5, 5, "valid") == 384
    assert P.conv_output_length(10, 3, 1, "valid", d=2) == 6
    assert P.deconv_output_length(3, 3, 1, "same") == 3
    assert P.deconv_output_length(12, 3, 1, "valid") == 14
    assert P.deconv_output_length(3, 3, 2, "same") == 6
    assert P.deconv_output_length(3, 3, 2, "valid") == 7
    assert P.deconv_output_length(3, 1, 2, "valid") == 6  # k < s: max(ke, s)
    assert P.deconv_output_length(3, 3, 2, "same", output_padding=1) == 6
    assert P.deconv_output_length(3, 3, 2, "valid", output_padding=1) == 8


def test_transpose_crop_k3_s2_same_is_asymmetric():
    # full length (3-1)*2+3 = 7, Keras keeps 6: crop nothing before, one after (no torch padding does this)
    assert P.transpose_crop(3, 3, 2, "same") == (0, 6)
    assert P.transpose_crop(4, 4, 2, "same") == (1, 8)


def test_keras_refuses_even_kernel_same_with_output_padding():
    assert P.keras_refuses_transpose(3, 2, 2, "same", 0)
    assert not P.keras_refuses_transpose(3, 3, 2, "same", 1)
    assert not P.keras_refuses_transpose(3, 2, 2, "same", None)


def test_bad_padding_name():
    with pytest.raises(ValueError, match="padding"):
        P.conv_output_length(5, 3, 1, "full")
