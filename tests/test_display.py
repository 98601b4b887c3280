"""Notebook display without a kernel: the progress view's content, and what happens outside a kernel.

The real kernel (nbclient) is tests/test_notebook_kernel.py; here the notebook output is a recorder, so
every update the view sends is checked, and plain Python shows that nothing is displayed outside one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from convolab import display
from convolab.train.progress import TrainProgress

ROOT = Path(__file__).resolve().parents[1]

RECORD_1 = {
    "epoch": 1,
    "train_loss": 0.5,
    "val": {"bce": 0.4, "mse": 0.05, "psnr": 13.0, "ssim": 0.5},
    "seconds": 2.0,
    "images_per_second": 1000.0,
}
RECORD_2 = {
    "epoch": 2,
    "train_loss": 0.31234,
    "seconds": 12.25,
    "images_per_second": 13888.0,
    "val": {"bce": 0.30126, "mse": 0.02, "psnr": 17.075, "ssim": 0.6581},
}
BASELINE = {"bce": 0.5, "mse": 0.06, "psnr": 10.9, "ssim": 0.166}


class Recorder:
    """Stands for ``display.LiveOutput``: keeps every bundle shown."""

    def __init__(self) -> None:
        self.bundles: list[dict[str, str]] = []

    def show(self, bundle: dict[str, str]) -> None:
        self.bundles.append(bundle)


def test_notebook_progress_is_one_output_with_a_bar_and_short_epoch_lines(capsys):
    out = Recorder()
    with TrainProgress(10, notebook=out, refresh_seconds=0) as progress:
        progress.start_epoch(1, 2, 0, batch_images=32)
        progress.update(4, loss=0.75)
        progress.end_epoch(RECORD_1, BASELINE)
        progress.start_epoch(2, 2, 0, batch_images=32)
        progress.update(10, loss=0.3)
        progress.end_epoch(RECORD_2, BASELINE)
    texts = [b["text/plain"] for b in out.bundles]
    assert all(set(b) == {"text/plain", "text/html"} for b in out.bundles)
    assert "epoch 1/2" in texts[0] and "0/10" in texts[0] and "━" in texts[0]  # the bar, before any step
    assert any("4/10" in t and "loss 0.7500" in t for t in texts)
    assert "epoch 2/2" in texts[-2] and "10/10" in texts[-2]
    # at the end the bar goes (as on a terminal) and the short lines stay, each under 80 columns
    assert texts[-1].splitlines() == [
        "baseline (the mean image): psnr 10.90 dB  ssim 0.166",
        "epoch 1/2  loss 0.5000  val bce 0.4000  psnr 13.00 dB  ssim 0.500  2.0 s",
        "epoch 2/2  loss 0.3123  val bce 0.3013  psnr 17.07 dB  ssim 0.658  12.2 s",
    ]
    assert "<pre" in out.bundles[-1]["text/html"] and "epoch 2/2  loss 0.3123" in out.bundles[-1]["text/html"]
    assert max(len(line) for t in texts for line in t.splitlines()) <= 80
    assert capsys.readouterr().out == ""  # nothing printed beside the one output


def test_notebook_progress_keeps_the_lines_when_training_stops():
    out = Recorder()
    try:
        with TrainProgress(10, notebook=out, refresh_seconds=0) as progress:
            progress.start_epoch(1, 3, 0, batch_images=32)
            progress.end_epoch(RECORD_1, BASELINE)
            progress.start_epoch(2, 3, 0, batch_images=32)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert out.bundles[-1]["text/plain"].splitlines()[1:] == [
        "epoch 1/3  loss 0.5000  val bce 0.4000  psnr 13.00 dB  ssim 0.500  2.0 s"
    ]


def test_notebook_progress_updates_at_most_every_refresh_seconds():
    out = Recorder()
    with TrainProgress(1000, notebook=out, refresh_seconds=3600) as progress:
        progress.start_epoch(1, 1, 0, batch_images=32)  # shown at once
        for step in range(1, 1001):
            progress.update(step)  # none shown: within the hour
        progress.end_epoch(RECORD_1, BASELINE)  # shown at once
    assert len(out.bundles) == 3  # start, end of epoch, the end (the bar gone)


def test_quiet_shows_nothing_in_a_notebook():
    out = Recorder()
    with TrainProgress(10, quiet=True, notebook=out) as progress:
        progress.start_epoch(1, 1, 0, batch_images=32)
        progress.update(5, loss=0.5)
        progress.end_epoch(RECORD_1, BASELINE)
    assert out.bundles == []


def test_outside_a_kernel_nothing_is_displayed_and_ipython_is_not_imported():
    code = (
        "import sys, convolab\n"
        "from convolab import display\n"
        "m = convolab.Sequential.from_spec('seed-upsampling')\n"
        "a = m.summary(show=False)\n"
        "assert not display.in_kernel() and display.show_now(a, {'text/plain': 'x'}) is False\n"
        "assert display.show_images(['nothing.png']) is False\n"
        "print('IPython' in sys.modules)\n"
    )
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_terminal_ipython_is_not_a_kernel(monkeypatch):
    class TerminalInteractiveShell:
        execution_count = 1

    class FakeIPython:
        @staticmethod
        def get_ipython():
            return TerminalInteractiveShell()

    monkeypatch.setitem(sys.modules, "IPython", FakeIPython)
    assert not display.in_kernel()

    class ZMQInteractiveShell:
        execution_count = 1

    class ColabShell(ZMQInteractiveShell):  # Colab's shell subclasses ipykernel's
        pass

    FakeIPython.get_ipython = staticmethod(lambda: ColabShell())  # type: ignore[method-assign]
    assert display.in_kernel()
