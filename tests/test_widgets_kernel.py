"""convolab.widgets in a real Jupyter kernel (nbclient + ipykernel): each widget is a cell's display,
a widget view whose model state (what JupyterLab, VS Code or Colab would draw; nbclient stores it in the
notebook's metadata as Jupyter does when it saves widget state) holds the lab's front end and numbers
equal to the same model computed in this process."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

pytest.importorskip("anywidget")
pytest.importorskip("starlette")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import convolab  # noqa: E402
from convolab.widgets import bundle  # noqa: E402

CELLS = [
    "import numpy as np, torch, convolab, convolab.widgets as cw\n"
    "torch.manual_seed(0)\nmodel = convolab.build_model('seed-upsampling').eval()",
    "cw.Explorer(model)",
    "cw.Activations(model, np.full((28, 28), 0.25, np.float32))",
    "cw.ConvArithmetic('Conv2D', [[1, 2], [3, 4]], [[1, -1], [2, 0]], kernel_size=2)",
]
VIEW = "application/vnd.jupyter.widget-view+json"


def test_the_widgets_display_in_a_real_kernel_with_the_librarys_numbers():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True).execute()
    states = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    views = {}
    for cell in nb.cells[1:]:
        (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        state = states[out.data[VIEW]["model_id"]]["state"]
        assert state["_esm"] == bundle.esm() and state["_css"] == bundle.css()
        views[state["_view"]] = state
    assert sorted(views) == ["activations", "arith", "explorer"]
    torch.manual_seed(0)
    model = convolab.build_model("seed-upsampling").eval()
    x = np.full((1, 1, 28, 28), 0.25, np.float32)
    with torch.no_grad():
        maps = [o[0].numpy() for _, o in model.feature_maps(torch.as_tensor(x))]
    for layer, want in zip(views["activations"]["data"]["layers"], maps, strict=True):
        got = np.frombuffer(base64.b64decode(layer["data"]), dtype="<f4")
        np.testing.assert_array_equal(got, want.ravel(), err_msg=layer["name"])
    explorer = views["explorer"]
    assert explorer["layer"] == "enc_conv1" and explorer["data"]["total_params"] == 3369
    assert views["arith"]["data"]["output"] == [[1 - 2 + 6 + 0]]  # 1·1 + 2·(−1) + 3·2 + 4·0
    assert views["arith"]["step"] == 0
