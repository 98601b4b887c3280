"""`convolab filter` and `convolab kernels`: outputs, sizes, figures, datasets, and one-line errors."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from convolab.cli import main
from convolab.filters import load_image


def _png_header_only(path, width, height, color=0):
    """A PNG header claiming width x height 8-bit gray pixels and no data (a decompression bomb's face)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)  # color 0: gray, 2: RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.fixture
def photo(tmp_path):
    yy, xx = np.mgrid[0:40, 0:50]
    img = np.zeros((40, 50, 3), np.uint8)
    img[((yy - 20) ** 2 + (xx - 25) ** 2) < 12**2] = [230, 180, 40]
    path = tmp_path / "photo.png"
    Image.fromarray(img).save(path)
    return path


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_one_kernel_writes_the_filtered_image_at_its_output_size(photo, tmp_path, capsys):
    out = tmp_path / "sobel.png"
    code, stdout, err = _run(capsys, "filter", photo, "-k", "sobel_x", "-o", out)
    assert code == 0, err
    assert "sobel_x 3x3" in stdout and "-> 40x50" in stdout
    img = load_image(out)
    assert img.shape == (40, 50, 3)
    assert abs(float(np.median(img)) - 0.5) < 0.01  # signed response: flat regions are mid-grey
    code, stdout, err = _run(
        capsys, "filter", photo, "-k", "box", "--stride", 2, "--padding", "valid", "-o", out
    )
    assert code == 0, err
    assert load_image(out).shape == (19, 24, 3)  # floor((40 - 3) / 2) + 1, floor((50 - 3) / 2) + 1
    code, _, err = _run(capsys, "filter", photo, "-k", "magnitude", "--border", "reflect", "-o", out)
    assert code == 0, err
    assert float(load_image(out).max()) == pytest.approx(1.0)  # magnitude / max


def test_several_kernels_make_one_figure(photo, tmp_path, capsys):
    out = tmp_path / "fig.png"
    code, stdout, err = _run(
        capsys, "filter", photo, "-k", "gaussian", "--sigma", 1.5, "-k", "log", "-k", "sobel_y", "-o", out
    )
    assert code == 0, err
    assert "original (photo.png) 40x50" in stdout
    assert "gaussian sigma=1.5 13x13 -> 40x50" in stdout and "log sigma=1.5" in stdout
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 400


def test_lecture_panel(photo, tmp_path, capsys):
    out = tmp_path / "panel.png"
    code, stdout, err = _run(capsys, "filter", photo, "--lecture", "-o", out)
    assert code == 0, err
    for part in (
        "original 40x50",
        "box 5x5",
        "gaussian sigma=2",
        "sobel_x 3x3",
        "sobel_y",
        "|grad|",
        "laplacian",
    ):
        assert part in stdout
    assert "log sigma=2 17x17 -> 40x50" in stdout
    assert "sobel_x 3x3, stride 2 -> 20x25" in stdout and "sobel_x 3x3, valid -> 38x48" in stdout
    assert out.stat().st_size > 10_000


def test_dataset_image(fashion_t10k_dir, tmp_path, capsys):
    out = tmp_path / "fashion.png"
    code, stdout, err = _run(
        capsys,
        "filter",
        "--dataset",
        "fashion-mnist",
        "--split",
        "test",
        "--index",
        0,
        "--data-dir",
        fashion_t10k_dir,
        "--lecture",
        "-o",
        out,
    )
    assert code == 0, err
    assert "original 28x28" in stdout and "stride 2 -> 14x14" in stdout and "valid -> 26x26" in stdout
    code, stdout, err = _run(
        capsys,
        "filter",
        "--dataset",
        "fashion-mnist",
        "--index",
        3,
        "--data-dir",
        fashion_t10k_dir,
        "-k",
        "laplacian",
        "-o",
        out,
    )
    assert code == 0, err
    assert load_image(out).shape == (28, 28)


def test_kernels_lists_matrices(capsys):
    code, out, _ = _run(capsys, "kernels")
    assert code == 0
    for name in ("box", "gaussian", "sobel_x", "laplacian8", "log", "scharr_y", "sharpen"):
        assert name in out
    assert "-10" in out and "-8" in out  # scharr and laplacian8 matrices
    code, out, _ = _run(capsys, "kernels", "--sigma", 1.0, "--size", 3)
    assert code == 0 and "0.075" in out  # 3x3 Gaussian corner, sigma 1


def test_help_teaches(capsys):
    for cmd in ("filter", "kernels"):
        code, out, _ = _run(capsys, cmd, "--help")
        assert code == 0 and "Examples:" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}", "-k", "box"], "error: no such image file: "),
        (["{text}", "-k", "box"], "not an image Pillow can read"),
        (["{bomb}", "-k", "box"], "decompression-bomb limit"),
        (["{photo}", "-k", "sobl_x"], "unknown kernel 'sobl_x'; did you mean sobel_x"),
        (["{photo}", "-k", "gaussian", "--size", "4"], "gaussian size must be odd"),
        (["{photo}", "-k", "log", "--sigma", "0"], "log sigma must be > 0, got 0.0"),
        (["{photo}", "-k", "gaussian", "--sigma", "-1"], "gaussian sigma must be > 0, got -1.0"),
        (["{photo}", "-k", "box", "--stride", "0"], "stride must be a positive integer, got 0"),
        (["{photo}", "-k", "box", "--stride", "-1"], "stride must be a positive integer, got -1"),
        (["{photo}", "-k", "box", "--padding", "full"], "padding must be one of same, valid"),
        (["{photo}", "-k", "box", "--border", "wrap"], "border must be one of zeros, reflect"),
        (["{photo}"], "give at least one --kernel"),
        (["-k", "box"], "give either an IMAGE file or --dataset"),
        (["{photo}", "-k", "box", "--size", "60", "--padding", "valid"], "does not fit"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(args, message, photo, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    _png_header_only(tmp_path / "bomb.png", 40000, 40000)
    paths = {"missing": tmp_path / "nope.png", "text": tmp_path / "notes.txt", "bomb": tmp_path / "bomb.png"}
    paths["photo"] = photo
    out = tmp_path / "out.png"
    before = sorted(p.name for p in tmp_path.iterdir())
    code, stdout, err = _run(capsys, "filter", *[a.format(**paths) for a in args], "-o", out)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no temp files


def test_bad_output_path(photo, tmp_path, capsys):
    code, _, err = _run(capsys, "filter", photo, "-k", "box", "-o", tmp_path / "no" / "out.png")
    assert code == 2 and "does not exist" in err
    code, _, err = _run(capsys, "filter", photo, "-k", "box", "-o", tmp_path / "out.xyz")
    assert code == 2 and "unknown image extension '.xyz'" in err


# --- bounded work (issue 12 item 4): refused from the arguments or the header, before allocating ---------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "100001"], "box size is 100001, over the limit of 1025"),
        (
            ["--sigma", "100000"],
            "gaussian kernel side for sigma 100000 (2 * 400000 + 1) is 800001, over the limit of 1025",
        ),
    ],
)
def test_kernels_refuse_huge_sizes_before_allocating(capsys, args, message):
    code, out, err = _run(capsys, "kernels", *args)
    assert code == 2 and out == "" and err == f"error: {message}\n"


def test_filter_refuses_a_1x89m_pixel_png_from_its_header(capsys, tmp_path):
    wide = tmp_path / "wide.png"
    _png_header_only(wide, 89_000_000, 1)  # under Pillow's bomb limit, over convolab's pixel limit
    code, _, err = _run(capsys, "filter", wide, "-k", "box", "-o", tmp_path / "o.png")
    assert code == 2 and err.count("\n") == 1
    assert "89000000x1 = 89,000,000 pixels, over the limit of 33,554,432" in err
    assert not (tmp_path / "o.png").exists()


def test_filter_lecture_on_a_wide_image_is_bounded_by_memory(capsys, tmp_path):
    wide = tmp_path / "wide.png"
    _png_header_only(wide, 30_000, 1_000, color=2)  # 30 M RGB pixels: allowed alone, not as 10 panels
    code, _, err = _run(capsys, "filter", wide, "--lecture", "-o", tmp_path / "o.png")
    assert code == 2 and err.count("\n") == 1
    # 4 bytes x 3 channels x 30 M pixels x (2 + 3 x 10 panels) = 10.7 GiB
    assert "(30000x1000, 3 channel(s)) into 10 panel(s) needs 10.7 GiB, over the limit of 4.0 GiB" in err


def test_filter_refuses_a_fifo_without_opening_it(capsys, tmp_path):
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would block forever
    code, _, err = _run(capsys, "filter", fifo, "-k", "box", "-o", tmp_path / "o.png")
    assert (
        code == 2
        and err == f"error: {fifo}: not a regular file (a pipe, socket or device); give an image file\n"
    )
    with pytest.raises(ValueError, match="not a regular file"):
        load_image(fifo)


def test_one_row_multi_kernel_figure_keeps_its_titles_inside(capsys, tmp_path):
    """Issue 16: the one-row figure of several kernels clipped its two-line titles at the top edge."""
    square = tmp_path / "sq.png"
    Image.fromarray((np.arange(28 * 28).reshape(28, 28) % 251).astype(np.uint8)).save(square)
    out = tmp_path / "fig.png"
    args = ["filter", square, "-k", "sobel_x", "-k", "gaussian", "--sigma", "3", "-k", "log", "-o", out]
    assert _run(capsys, *args)[0] == 0
    pixels = np.asarray(Image.open(out).convert("L"))
    assert pixels[:3].min() == 255, "text or image touches the top edge: a title is cut off"
    assert pixels[:, :3].min() == 255 and pixels[:, -3:].min() == 255
