"""The examples in the layer, spec and model docstrings are true (run as doctests)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "convolab.layers.activations",
    "convolab.layers.conv",
    "convolab.layers.conv_transpose",
    "convolab.layers.dense",
    "convolab.layers.pooling",
    "convolab.layers.upsampling",
    "convolab.model.sequential",
    "convolab.model.spec",
    "convolab.model.walk",
    "convolab.analysis.summary",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
