"""Figures: PCA against NumPy, image grids of the right size, atomic writes, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from convolab import plots


def test_pca_2d_matches_numpy_svd_up_to_sign():
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(50, 6, generator=g) * torch.tensor([5.0, 3.0, 1.0, 0.5, 0.1, 0.1])
    got = plots.pca_2d(codes).numpy()
    x = codes.double().numpy()
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    want = x @ vt[:2].T
    for k in range(2):
        sign = np.sign(want[:, k] @ got[:, k])
        np.testing.assert_allclose(got[:, k], sign * want[:, k], rtol=1e-4, atol=1e-4)
    # the first component carries the most variance
    assert got[:, 0].var() > got[:, 1].var()
    assert torch.equal(plots.pca_2d(codes), plots.pca_2d(codes))  # deterministic signs


def test_image_rows_writes_a_png_and_no_temp_file(tmp_path):
    x = torch.rand(10, 1, 28, 28)
    path = plots.reconstruction_grid(x, x, tmp_path / "grid.png", title="t")
    with Image.open(path) as im:
        w, h = im.size
    assert w > 2 * h  # a wide 2 x 10 grid
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
    rgb = plots.image_rows([("a", torch.rand(3, 3, 8, 8))], tmp_path / "rgb.png")
    assert rgb.exists()
    with pytest.raises(ValueError, match="at least one row"):
        plots.image_rows([], tmp_path / "x.png")


def test_other_figures(tmp_path):
    hist = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "val": {"bce": 1 / e, "mse": 0.1 / e, "psnr": 10 + e, "ssim": 0.1 * e},
        }
        for e in (1, 2, 3)
    ]
    base = {"bce": 0.5, "mse": 0.06, "psnr": 12.0, "ssim": 0.3}
    assert plots.curves(hist, base, tmp_path / "c.png").exists()
    maps = [("conv", torch.rand(16, 8, 8)), ("pool", torch.rand(4, 4, 4))]
    assert plots.feature_maps(maps, tmp_path / "f.png").exists()
    assert plots.kernels(torch.randn(4, 2, 3, 3), tmp_path / "k.png").exists()
    labels = torch.arange(40) % 4
    assert plots.latent_pca(torch.randn(40, 8), labels, tmp_path / "p.png", classes=list("abcd")).exists()
    assert plots.latent_pca(torch.randn(40, 8), None, tmp_path / "p2.png").exists()
    with pytest.raises(ValueError, match="no completed epoch"):
        plots.curves([], None, tmp_path / "c2.png")
    with pytest.raises(ValueError, match=r"\(out, in, kh, kw\)"):
        plots.kernels(torch.randn(3, 3), tmp_path / "k2.png")


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    import matplotlib.figure

    def boom(*a, **k):
        raise OSError("simulated")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", boom)
    with pytest.raises(OSError):
        plots.reconstruction_grid(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), tmp_path / "g.png")
    assert list(tmp_path.iterdir()) == []


def test_curves_epoch_ticks_are_whole_numbers(tmp_path, monkeypatch):
    figs = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figs.append(fig) or path)
    val = {"bce": 0.3, "mse": 0.02, "psnr": 17.0, "ssim": 0.6}
    plots.curves([{"epoch": 1, "train_loss": 0.3, "val": val}], None, tmp_path / "c.png")
    for ax in figs[0].axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_drawing_leaves_the_users_backend_and_pyplot_alone(tmp_path):
    """A notebook's inline plots keep working after convolab draws: no ``matplotlib.use``, no pyplot."""
    import subprocess
    import sys

    code = (
        "import matplotlib, sys\n"
        "matplotlib.use('svg')\n"
        "import torch\n"
        "from convolab import plots\n"
        "from convolab.data.preview import save_sample_grid\n"
        "from convolab.filters.figures import Panel, save_panels\n"
        "import numpy as np\n"
        f"d = {str(tmp_path)!r}\n"
        "x = torch.rand(3, 1, 8, 8)\n"
        "plots.reconstruction_grid(x, x, d + '/g.png')\n"
        "save_panels(d + '/p.png', [Panel('a', np.zeros((4, 4)))])\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["svg", "False"]
