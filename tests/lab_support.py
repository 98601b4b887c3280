"""Helpers shared by the lab's API tests and browser tests (tests/test_lab_*.py, tests/e2e/)."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from real_data import fashion_t10k


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BASE_URL = "http://127.0.0.1:8765"  # the address create_app() serves by default


def lab_client(app, **kwargs):
    """A TestClient that talks to ``app`` as its own page does (Host 127.0.0.1:8765); the app's worker
    processes stop when the client is garbage collected."""
    import weakref

    from starlette.testclient import TestClient

    kwargs.setdefault("raise_server_exceptions", False)
    client = TestClient(app, base_url=BASE_URL, **kwargs)
    weakref.finalize(client, app.state.pool.close)
    return client


class LiveServer:
    """A real uvicorn server for ``app`` on a free port, in a background thread of this process."""

    def __init__(self, app) -> None:
        import uvicorn

        from convolab.lab.server import set_address

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        set_address(app, "127.0.0.1", self.port)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the lab server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.state.pool.close()


def make_tiny_run(
    runs: Path, data_dir: Path, name: str = "tiny", *, limit: int = 512, epochs: int = 2
) -> Path:
    """A real run of the lecture's model on ``limit`` Fashion-MNIST test images (two epochs of 512 by
    default: a few seconds; one epoch of 256 is an undertrained run)."""
    from convolab.train import train
    from convolab.train.config import TrainConfig

    cfg = TrainConfig(
        model="seed-upsampling",
        dataset="fashion-mnist",
        data_dir=str(data_dir),
        train_split="test",
        limit=limit,
        epochs=epochs,
        batch_size=128,
        out=str(runs / name),
        device="cpu",
    )
    return train(cfg, quiet=True).run_dir


@contextlib.contextmanager
def offline_page(browser, base_url: str, viewport: tuple[int, int], what: str = "the page", **options):
    """A new browser context and page that may reach ``base_url`` only; on exit, fails the test if the
    page tried to reach anything else or raised a JavaScript error."""
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    outside: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(base_url)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not outside, f"{what} tried to reach the internet: {outside}"
    assert not errors, f"JavaScript errors: {errors}"


def png_base64(pixels: np.ndarray, fmt: str = "PNG") -> str:
    """A uint8 grey image as base64 file bytes (what the page uploads)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_data_url(url: str) -> np.ndarray:
    """A ``data:image/png;base64,...`` URL -> uint8 grey array."""
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))))


def plant_runs(root: Path) -> Path:
    """``root/runs`` with a real run ``tiny`` and hostile copies of it (links out, paths as specs, ...);
    ``root/outside`` holds what they point at (files holding TOPSECRET)."""
    import json
    import shutil

    runs = root / "runs"
    make_tiny_run(runs, fashion_t10k())
    outside = root / "outside"
    outside.mkdir()
    secret = outside / "secret.json"
    secret.write_text(json.dumps({"secret": "TOPSECRET"}))
    passwd = outside / "passwd"
    passwd.write_text("root:x:0:0:TOPSECRET:/root:/bin/bash\n")

    def variant(name: str) -> Path:
        shutil.copytree(runs / "tiny", runs / name)
        return runs / name

    for name in ("spec-path", "config-path"):  # the "spec": "/etc/passwd" case, both fields
        run = variant(name)
        for sub in ("best", "last"):
            state = json.loads((run / sub / "state.json").read_text())
            state["spec" if name == "spec-path" else "config"] = str(passwd)
            (run / sub / "state.json").write_text(json.dumps(state))
    run = variant("best-link")  # best/ is a link to a checkpoint outside
    shutil.copytree(run / "best", outside / "best")
    shutil.rmtree(run / "best")
    os.symlink(outside / "best", run / "best")
    run = variant("summary-link")
    (run / "summary.json").unlink(missing_ok=True)
    os.symlink(secret, run / "summary.json")
    run = variant("log-link")
    (run / "log.jsonl").unlink()
    os.symlink(passwd, run / "log.jsonl")
    run = variant("weights-link")  # one file of the checkpoint points out
    shutil.copy(run / "best" / "model.safetensors", outside / "model.safetensors")
    (run / "best" / "model.safetensors").unlink()
    os.symlink(outside / "model.safetensors", run / "best" / "model.safetensors")
    configs = {
        "folder-data": {"dataset": f"folder:{outside}"},
        "kmnist-data": {"dataset": "kmnist"},
        "foreign-dir": {"data_dir": str(outside)},
    }
    for name, cfg in configs.items():
        run = variant(name)
        for sub in ("best", "last"):
            state = json.loads((run / sub / "state.json").read_text())
            state["config"].update(cfg)
            (run / sub / "state.json").write_text(json.dumps(state))
    return runs
