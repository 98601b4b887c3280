"""scripts/house_metrics.py and scripts/house_graph.py: their static parts on the real tree and on planted
inputs, and (slow, real data) the run of ``convolab train`` to its first backward pass."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hm = load("house_metrics")
hg = load("house_graph")


def test_loose_modules_are_the_root_py_files(tmp_path):
    for name in ("__init__", "__main__", "a", "b"):
        (tmp_path / f"{name}.py").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "c.py").write_text("")
    assert hm.loose_modules(tmp_path) == ["a", "b"]
    real = hm.loose_modules(SRC / "convolab")
    assert "__init__" not in real and all((SRC / "convolab" / f"{n}.py").is_file() for n in real)


def test_function_lengths_on_a_literal_source():
    source = textwrap.dedent(
        '''
        def one():
            return 1

        class K:
            @property
            def two(self):
                """doc"""

                return 2

        async def three():
            def inner():
                pass
            return inner
        '''
    )
    found = {f["name"]: (f["line"], f["lines"]) for f in hm.functions_in(source, "m")}
    assert found == {"one": (2, 2), "K.two": (7, 4), "three": (12, 4), "three.inner": (13, 2)}


def test_longest_functions_of_the_tree_are_sorted_and_counted():
    result = hm.longest_functions(SRC)
    lengths = [f["lines"] for f in result["top"]]
    assert len(lengths) == hm.TOP_FUNCTIONS and lengths == sorted(lengths, reverse=True)
    assert result["over"] >= sum(n > hm.LONG_FUNCTION for n in lengths)
    assert result["functions"] > 100


def test_scc_and_shortest_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}, "g": {"g"}}
    assert sorted(hg.strongly_connected(graph)) == [["a", "b", "c"], ["d", "e"], ["f"], ["g"]]
    assert hg.shortest_cycle(graph, "a", {"a", "b", "c"}) == ["a", "b", "c", "a"]
    found = hg.cycles(graph)
    assert [c["modules"] for c in found] == [["a", "b", "c"], ["d", "e"]]
    assert found[0]["edges"] == 3


def test_a_deep_chain_needs_no_recursion():
    graph = {str(i): {str(i + 1)} for i in range(5000)}
    graph["5000"] = {"0"}
    assert len(hg.strongly_connected(graph)) == 1


def test_cycle_finder_sees_a_planted_type_only_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "plantedpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from plantedpkg import b\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from plantedpkg import a\n"
    )
    (pkg / "c.py").write_text("import plantedpkg.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with_type_only = hg.cycles(hg.import_graph("plantedpkg", type_only=True))
    assert [c["modules"] for c in with_type_only] == [["plantedpkg.a", "plantedpkg.b"]]
    assert with_type_only[0]["cycle"] == ["plantedpkg.a", "plantedpkg.b", "plantedpkg.a"]
    assert hg.cycles(hg.import_graph("plantedpkg", type_only=False)) == []


def test_ranks_old_and_new_names():
    assert hg.rank("convolab.spec") == hg.rank("convolab.model.spec") == 2
    assert hg.rank("convolab.fastpath") == hg.rank("convolab.engine.native.pool") == 3
    assert hg.rank("convolab.report") == hg.rank("convolab.train.report") == 4
    assert hg.rank("convolab") is None and hg.component("convolab.train.loop") == "convolab.train"


def test_call_path_counts_climbs_and_returns():
    events = [
        ["convolab.cli.train", "convolab.train.session", 1],
        ["convolab.train.session", "convolab.spec", 1],
        ["convolab.spec", "convolab.layers.base", 3],  # 2 of the 3 re-enter layers.base
        ["convolab.layers.base", "convolab.analysis", 1],  # a climb (1 -> 3)
        ["convolab.train.session", "convolab.spec", 1],  # back into spec
    ]
    path = hm.call_path(events)
    assert len(path["modules"]) == 5 and path["events"] == 7
    assert path["climbs"] == 1 and path["climb_calls"] == 1
    assert path["returns"] == 3 and path["return_edges"] == 0  # only repeats of edges already taken


def test_static_report_of_the_real_tree():
    report = hm.measure(SRC, None)
    text = hm.markdown(report)
    for heading in ("## 1. Loose root modules", "## 3. Longest functions", "## 4. Import cycles"):
        assert heading in text
    cycles = report["import_cycles"]
    assert cycles["with_type_only"]["imports"] >= cycles["without_type_only"]["imports"]
    assert cycles["with_type_only"]["modules"] == len(list((SRC / "convolab").rglob("*.py")))


@pytest.mark.slow
def test_run_reaches_the_first_backward_pass(fashion_dir):
    record = hm.run_train(SRC, str(fashion_dir))
    imported = hm.imported(record)
    assert "torch" in record["modules"] and imported["convolab"] > 10
    path = hm.call_path(record["transitions"])
    assert path["transitions"][0]["caller"] == "convolab.cli"  # main -> (click) -> the train command
    assert len(path["modules"]) > 5


def test_layers_come_from_the_import_linter_contract(tmp_path):
    da = load("draw_architecture")
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [[tool.importlinter.contracts]]
            name = "other"
            type = "forbidden"
            [[tool.importlinter.contracts]]
            name = "layers"
            type = "layers"
            containers = ["convolab"]
            layers = ["cli", "lab : keras_io", "engine | data", "(missing)", "limits"]
            """
        )
    )
    assert da.contract_layers(tmp_path) == [
        (["convolab.cli"], True),
        (["convolab.lab", "convolab.keras_io"], False),
        (["convolab.engine", "convolab.data"], True),
        (["convolab.missing"], True),
        (["convolab.limits"], True),
    ]
    present = {"convolab.cli", "convolab.lab", "convolab.data", "convolab.limits", "convolab.extra"}
    rows, source = da.layer_rows(present, tmp_path)
    assert "contract" in source
    assert [names for names, _ in rows] == [
        ["convolab.limits"],
        ["convolab.data"],
        ["convolab.lab"],
        ["convolab.cli"],
        ["convolab.extra"],  # not in the contract: on top
    ]
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    rows, source = da.layer_rows(present - {"convolab.extra"}, tmp_path)
    assert "rank table" in source
    assert [names for names, _ in rows] == [
        ["convolab.limits"],
        ["convolab.data"],
        ["convolab.lab"],
        ["convolab.cli"],
    ]


def test_the_drawings_are_deterministic(tmp_path):
    da = load("draw_architecture")
    out = [tmp_path / "a", tmp_path / "b"]
    for folder in out:
        folder.mkdir()
        assert da.main(["--out-dir", str(folder), "--src", str(SRC)]) == 0
    for name in ("architecture.svg", "train_flow.svg"):
        first = (out[0] / name).read_bytes()
        assert first == (out[1] / name).read_bytes() and b"<svg" in first
    flow = (out[0] / "train_flow.svg").read_text()
    assert "TrainConfig" in flow and "Trainer" in flow
