"""Lab API, autoencoder panel: runs, reconstructions, samples, curves; containment of run names."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lab_support import lab_client, make_tiny_run
from real_data import MISSING, fashion_t10k, have_fashion

pytest.importorskip("starlette")
pytest.importorskip("httpx2")

from starlette.testclient import TestClient  # noqa: E402

from convolab.lab.server import create_app  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    if not have_fashion():
        pytest.skip(MISSING)
    root = tmp_path_factory.mktemp("runs")
    make_tiny_run(root, fashion_t10k())
    shutil.copytree(root / "tiny", root / "group" / "copy")  # a nested run
    (root / "notes").mkdir()  # not a run
    shutil.copytree(root / "tiny", root / ".hidden")  # hidden folders are never served
    outside = tmp_path_factory.mktemp("outside")
    shutil.copytree(root / "tiny", outside / "secret-run")
    os.symlink(outside / "secret-run", root / "escape")  # a link out of the runs folder
    return root


@pytest.fixture(scope="module")
def client(runs) -> TestClient:
    # the run's own data folder is read only when the lab is told it may read it (--data-dir)
    return lab_client(create_app(runs, data_dir=fashion_t10k()))


def test_runs_are_listed_with_their_model(client, runs):
    answer = client.get("/api/runs").json()
    assert answer["root"] == str(runs.resolve())
    by_name = {r["name"]: r for r in answer["runs"]}
    assert sorted(by_name) == ["group/copy", "tiny"]  # not notes, .hidden, nor the link out
    assert by_name["tiny"] == {"name": "tiny", "model": "seed-upsampling", "dataset": "fashion-mnist"}


def test_run_info_and_curves_come_from_the_log(client, runs):
    info = client.get("/api/run", params={"name": "tiny"}).json()
    assert info["model"] == "seed-upsampling" and info["params"] == 3369 and info["epoch"] == 2
    records = [json.loads(line) for line in (runs / "tiny" / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert info["curves"]["train_loss"] == [[r["epoch"], r["train_loss"]] for r in epochs]
    assert info["curves"]["val_bce"] == [[r["epoch"], r["val"]["bce"]] for r in epochs]
    assert "images_per_second" not in info["curves"]


def test_reconstruction_equals_the_models_own_output(client, runs):
    from convolab.train.run import load_run

    x = np.zeros((28, 28))
    x[6:22, 13:16] = 1.0  # a "1"
    r = client.post("/api/run/reconstruct", json={"run": "tiny", "pixels": x.tolist()})
    assert r.status_code == 200, r.text
    model = load_run(runs / "tiny", "best", device="cpu").model
    with torch.no_grad():
        want = model(torch.tensor(x, dtype=torch.float32)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(np.array(r.json()["reconstruction"]), want, atol=6e-4)


def test_samples_are_the_test_split_in_order(client):
    from convolab.data import load_dataset

    r = client.get("/api/run/samples", params={"name": "group/copy", "offset": 5, "count": 3})
    assert r.status_code == 200, r.text
    got = r.json()
    ds = load_dataset("fashion-mnist", "test", data_dir=fashion_t10k(), limit=8)
    assert [i["index"] for i in got["items"]] == [5, 6, 7] and got["total"] == 10000
    assert [i["label"] for i in got["items"]] == ds.labels[5:8].tolist()
    np.testing.assert_allclose(np.array(got["items"][0]["input"]), ds.images[5, 0].numpy() / 255.0, atol=6e-4)
    assert np.array(got["items"][2]["output"]).shape == (28, 28)


@pytest.mark.parametrize(
    "name",
    [
        "../tiny",
        "..",
        "/etc",
        "tiny/../../x",
        "tiny/../tiny",
        ".hidden",
        "a\\..\\..\\b",
        "escape",
        "./tiny",
        "",
    ],
)
def test_traversal_attempts_are_refused(client, name):
    for r in (
        client.get("/api/run", params={"name": name}),
        client.get("/api/run/samples", params={"name": name}),
        client.post("/api/run/reconstruct", json={"run": name, "pixels": [[0.0] * 28] * 28}),
    ):
        assert r.status_code == 400, (name, r.text)
        assert "run" in r.json()["error"]
    assert client.get("/api/run", params={"name": "tiny"}).status_code == 200  # still serving


def test_url_encoded_traversal_is_refused(client):
    r = client.get("/api/run?name=%2e%2e%2ftiny")
    assert r.status_code == 400 and "plain path" in r.json()["error"]


def test_unknown_run_is_404_and_lists_the_runs(client):
    r = client.get("/api/run", params={"name": "nope"})
    assert r.status_code == 404
    assert r.json()["error"] == "unknown run 'nope'; runs: group/copy, tiny"
    assert client.get("/api/run", params={"name": "notes"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"run": "tiny", "pixels": [[0.0] * 27] * 27}, "must be 28x28"),
        ({"run": "tiny"}, "pixels"),
        ({"pixels": [[0.0] * 28] * 28}, "run must be a run name"),
        ({"run": "tiny", "pixels": [[0.0] * 28] * 28, "checkpoint": "worst"}, "checkpoint"),
    ],
)
def test_bad_reconstruct_requests(client, body, needle):
    r = client.post("/api/run/reconstruct", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]


def test_bad_sample_queries(client):
    assert client.get("/api/run/samples", params={"name": "tiny", "count": 33}).status_code == 400
    assert client.get("/api/run/samples", params={"name": "tiny", "offset": "-1"}).status_code == 400
    r = client.get("/api/run/samples", params={"name": "tiny", "offset": 10000})
    assert r.status_code == 400 and "10000" in r.json()["error"]


def test_missing_runs_folder_lists_nothing(tmp_path):
    client = lab_client(create_app(tmp_path / "absent"))
    assert client.get("/api/runs").json()["runs"] == []
    r = client.get("/api/run", params={"name": "x"})
    assert r.status_code == 404 and "no runs under" in r.json()["error"]
