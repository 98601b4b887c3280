"""Issue 26, item 5: interrupted endings. A kill while the figures are drawn leaves some of them:
``--resume`` of the finished run redraws the missing ones (and says so), or names ``convolab figures``;
a figure is never half-written; a TensorBoard failure costs the events, not the run (one warning line);
a log that cannot be written is named; the lab names a kernel_size too large for a float."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from convolab.cli import main
from train_support import write_dataset, write_spec

FIVE = ("reconstructions.png", "curves.png", "feature_maps.png", "kernels.png", "latent_pca.png")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 1-epoch run of the tiny model, without figures (as a kill before the first one)."""
    root = tmp_path_factory.mktemp("endings")
    dataset = write_dataset(root / "data", n_train=32, n_test=16)
    spec = write_spec(root)
    args = ["train", "--model", str(spec), "--dataset", dataset, "--epochs", "1", "--batch-size", "16", "-q"]
    out = ["--device", "cpu", "--out", str(root / "run"), "--no-figures", "--no-tensorboard"]
    assert main([*args, *out]) == 0
    return root / "run"


@pytest.fixture
def run(finished, tmp_path) -> Path:
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def test_resume_of_a_finished_run_redraws_the_missing_figures(run, capsys) -> None:
    """Before: 'already finished 1 epochs', the figures never drawn."""
    (run / "reconstructions.png").write_bytes(b"kept as it was drawn")  # the kill left 2 of the 5
    (run / "curves.png").write_bytes(b"kept as it was drawn")
    (run / ".feature_maps.png.tmp").write_bytes(b"\x89PNG")  # the third, cut short
    assert main(["train", "--resume", str(run), "-q"]) == 0
    out = capsys.readouterr().out
    assert f"run {run} already finished 1 epochs; its figures latent_pca.png were missing: drew " in out
    assert all((run / name).stat().st_size > 1000 for name in FIVE)  # all five drawn again, whole
    assert not (run / ".feature_maps.png.tmp").exists()
    assert main(["train", "--resume", str(run), "-q"]) == 2  # nothing missing: finished, as before
    assert "already finished 1 epochs; set epochs to more than 1" in capsys.readouterr().err


def test_resume_without_figures_names_the_figures_command(run, capsys) -> None:
    assert main(["train", "--resume", str(run), "-q", "--no-figures"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith(
        "its figures reconstructions.png, curves.png, latent_pca.png are missing: draw them with "
        f"`convolab figures {run}`"
    )
    assert not any((run / name).exists() for name in FIVE)


def test_a_figure_is_never_half_written(tmp_path, monkeypatch) -> None:
    """A kill (here: an error) inside savefig leaves the old figure or none, never a partial file."""
    from matplotlib.figure import Figure

    from convolab import plots

    def dies_halfway(self, fname, **kw):
        Path(fname).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    (tmp_path / "curves.png").write_bytes(b"the old figure")
    monkeypatch.setattr(Figure, "savefig", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        plots.save_figure(Figure(), tmp_path / "curves.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]
    assert (tmp_path / "curves.png").read_bytes() == b"the old figure"


# -- TensorBoard and the log ------------------------------------------------------------------------------
def test_tensorboard_that_cannot_be_written_costs_one_warning_not_the_run(run, capsys) -> None:
    """Before: '[Errno 17] File exists: run/tensorboard' stopped the resumed run."""
    pytest.importorskip("tensorboard")
    (run / "tensorboard").write_text("a file where the folder goes\n")
    assert main(["train", "--resume", str(run), "--epochs", "2", "-q", "--no-figures", "--tensorboard"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"warning: TensorBoard logging stopped: cannot write {run / 'tensorboard'} (File exists); "
        "training goes on without it"
    ]
    assert (run / "summary.json").is_file() and '"epoch": 2' in (run / "log.jsonl").read_text()


def test_a_tensorboard_write_failing_mid_run_stops_only_the_events(run, capsys, monkeypatch) -> None:
    pytest.importorskip("tensorboard")
    from convolab.train import tblog

    calls = []
    original = tblog.EventFile.write

    def full_disk(self, event):
        calls.append(1)
        if len(calls) > 2:  # the file version and the graph go through, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, event)

    monkeypatch.setattr(tblog.EventFile, "write", full_disk)
    assert (
        main(
            [
                "train",
                "--resume",
                str(run),
                "--epochs",
                "3",
                "--log-every",
                "1",
                "-q",
                "--no-figures",
                "--tensorboard",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: TensorBoard logging stopped: cannot write ")
    assert "(No space left on device); training goes on without it" in err[0]
    assert len(calls) == 3  # after the failure no more writes are tried
    assert '"events": "stopped"' in (run / "log.jsonl").read_text()


def test_a_log_that_cannot_be_opened_is_named(run, capsys, monkeypatch) -> None:
    """Before: '[Errno 1] Operation not permitted', no file named (EPERM: e.g. an immutable file)."""
    from convolab.train import runfolder

    def eperm(path, *a, **k):
        raise PermissionError(errno.EPERM, "Operation not permitted")  # as os.write raises it: no filename

    monkeypatch.setattr(runfolder, "open", eperm, raising=False)
    code = main(["train", "--resume", str(run), "--epochs", "2", "-q", "--no-figures"])
    err = capsys.readouterr().err.strip()
    assert (
        code == 2 and err == f"error: cannot write the run's log {run / 'log.jsonl'}: Operation not permitted"
    )


def test_a_log_write_failing_mid_run_is_reported_once(tmp_path, capsys) -> None:
    from convolab.train.runfolder import RunLog

    log = RunLog(tmp_path / "log.jsonl")
    log.write("start")

    class Full:
        def write(self, text):
            raise OSError(errno.EPERM, "Operation not permitted")

        def flush(self):
            pass

        def close(self):
            pass

    log._fh.close()
    log._fh = Full()
    log.write("step", loss=1.0)
    log.write("step", loss=0.5)
    log.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"warning: cannot write the run's log {tmp_path / 'log.jsonl'} (Operation not permitted); "
        "training goes on without it (the checkpoints and metrics.csv keep the history)"
    ]
    assert (tmp_path / "log.jsonl").read_text().count("\n") == 1


def test_the_lab_names_a_kernel_size_too_large_for_a_float() -> None:
    """Before: 'int too large to convert to float' (HTTP 400), the field not named."""
    pytest.importorskip("starlette")
    from convolab.lab.api_model import check_layer_args
    from convolab.lab.http import ApiError

    with pytest.raises(ApiError) as info:
        check_layer_args({"layers": [{"type": "Conv2D", "filters": 1, "kernel_size": 10**400}]})
    assert info.value.status == 413
    assert (
        str(info.value)
        == "layer 0: kernel_size an integer of about 401 digits is over the lab's limit of 1025"
    )
