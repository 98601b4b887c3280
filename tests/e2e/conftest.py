"""Fixtures for the lab's browser tests: a real uvicorn server on a free port and Debian's Chromium.

The tests skip cleanly when Playwright (PyPI ``playwright``) or Chromium (``apt-get install chromium``)
is absent. Playwright never downloads a browser here: it drives /usr/bin/chromium.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab_support import LiveServer, make_tiny_run, offline_page
from real_data import MISSING, fashion_t10k, have_fashion

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

CHROMIUM = os.environ.get("CONVOLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def lab_runs(tmp_path_factory) -> Path:
    if not have_fashion():
        pytest.skip(MISSING)
    runs = tmp_path_factory.mktemp("lab-runs")
    make_tiny_run(runs, fashion_t10k())
    return runs


FOLDER_RUN = "tiny-folder128"  # sorted after "tiny": the panels' default run stays the 28x28 one


@pytest.fixture(scope="session")
def folder_run(lab_runs, tmp_path_factory) -> str:
    """A trained 128x128 ``folder:`` run inside the lab's runs folder (made once, when a test asks)."""
    from lab_folder_run import make_folder_run, make_image_folder

    images = make_image_folder(tmp_path_factory.mktemp("folder128"), fashion_t10k())
    make_folder_run(lab_runs, images, FOLDER_RUN, tmp_path_factory.mktemp("folder-spec"))
    return FOLDER_RUN


@pytest.fixture(scope="session")
def live_lab(lab_runs) -> Iterator[LiveServer]:
    from convolab.lab.server import create_app

    with LiveServer(create_app(lab_runs, data_dir=fashion_t10k())) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (no browser download)"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_lab):
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the lab's CSP forbids the page
    with offline_page(browser, live_lab.url, (1400, 950), bypass_csp=True) as p:
        yield p
