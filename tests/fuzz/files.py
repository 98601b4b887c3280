# ruff: noqa: E501  (tables of hostile files: one per line)
"""Hostile files for the fuzz cases, made in the test (small on disk) and named by builder.

``BUILDERS[name](work)`` writes one thing into a case's cwd. Big things are *declared* big: a PNG
whose header says 100000 x 100000 pixels (a few hundred bytes), a real 1 x 89,000,000-pixel PNG
(87 KiB of zlib), an IDX header declaring 10^9 images, a YAML alias bomb of 400 bytes. Run folders are
copies of one tiny run trained once per session (``template_dir()``), then edited.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fuzz import files_issue26

TEMPLATES: Path | None = None  # set by the conftest: a session folder for the tiny run and big files

# ---------------------------------------------------------------------------------------------------
# specs

L28 = [1, 28, 28]


def _spec(layers: list[dict[str, Any]], shape: Any = None) -> dict[str, Any]:
    return {"name": "hostile", "input_shape": L28 if shape is None else shape, "layers": layers}


ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    + ["name: bomb", "input_shape: [1, 28, 28]", "layers: *i"]
)

#: spec files: name -> text (YAML/JSON). Each is one hostile model description.
SPEC_TEXT: dict[str, str | bytes] = {
    "alias_bomb.yaml": ALIAS_BOMB,
    "deep.yaml": "name: x\ninput_shape: [1, 28, 28]\nlayers: " + "[" * 20000 + "]" * 20000 + "\n",
    "deep.json": '{"name": "x", "input_shape": [1, 28, 28], "layers": ' + "[" * 50000 + "]" * 50000 + "}",
    "deep_arg.json": json.dumps(_spec([{"type": "Flatten"}]))[:-2]
    + ', "extra": '
    + '{"a": ' * 5000
    + "1"
    + "}" * 5000
    + "}]}",
    "layers_5k.json": json.dumps(_spec([{"type": "Activation", "activation": "relu"}] * 5000)),
    "layers_100k.yaml": "name: x\ninput_shape: [1, 8, 8]\nlayers:\n" + "- {type: Flatten}\n" * 100_000,
    "big_comment.yaml": "# " + "x" * (2 << 20) + "\nname: x\n",
    "empty.yaml": "",
    "list.yaml": "- 1\n- 2\n",
    "scalar.yaml": "42\n",
    "garbage.yaml": bytes(range(256)) * 8,
    "latin1.yaml": "name: caf\xe9\ninput_shape: [1, 8, 8]\nlayers: []\n".encode("latin-1"),
    "python_tag.yaml": "!!python/object/apply:os.system ['echo pwned > pwned.txt']\n",
    "up_1e6.json": json.dumps(_spec([{"type": "UpSampling2D", "size": 1_000_000}])),
    "up_1e8.json": json.dumps(_spec([{"type": "UpSampling2D", "size": 100_000_000}])),
    "up_float.yaml": "name: x\ninput_shape: [1, 28, 28]\nlayers: [{type: UpSampling2D, size: 1.0e+8}]\n",
    "up_nan.yaml": "name: x\ninput_shape: [1, 28, 28]\nlayers: [{type: UpSampling2D, size: .nan}]\n",
    "up_inf.yaml": "name: x\ninput_shape: [1, 28, 28]\nlayers: [{type: UpSampling2D, size: .inf}]\n",
    "up_neg.json": json.dumps(_spec([{"type": "UpSampling2D", "size": -2}])),
    "up_str.json": json.dumps(_spec([{"type": "UpSampling2D", "size": "two"}])),
    "up_bool.json": json.dumps(_spec([{"type": "UpSampling2D", "size": True}])),
    "bon_1e6.json": json.dumps(_spec([{"type": "BedOfNails2D", "size": 1_000_000}])),
    "tconv_s1e5.json": json.dumps(
        _spec([{"type": "Conv2DTranspose", "filters": 1, "kernel_size": 3, "strides": 100_000}])
    ),
    "stride_1e20.json": json.dumps(
        _spec([{"type": "Conv2D", "filters": 1, "kernel_size": 3, "strides": 10**20}])
    ),
    "kernel_1e5.json": json.dumps(_spec([{"type": "Conv2D", "filters": 1, "kernel_size": 100_001}])),
    "filters_1e9.json": json.dumps(_spec([{"type": "Conv2D", "filters": 10**9, "kernel_size": 3}])),
    "dense_1e12.json": json.dumps(_spec([{"type": "Flatten"}, {"type": "Dense", "units": 10**12}])),
    "dilation_1e6.json": json.dumps(
        _spec(
            [
                {
                    "type": "Conv2D",
                    "filters": 1,
                    "kernel_size": 3,
                    "dilation_rate": 1_000_000,
                    "padding": "same",
                }
            ]
        )
    ),
    "input_huge.json": json.dumps(
        _spec([{"type": "Conv2D", "filters": 1, "kernel_size": 3}], [1, 3_000_000, 3_000_000])
    ),
    "input_neg.json": json.dumps(_spec([{"type": "Flatten"}], [1, -28, 28])),
    "input_zero.json": json.dumps(_spec([{"type": "Flatten"}], [0, 28, 28])),
    "input_nan.json": '{"name": "x", "input_shape": [1, NaN, 28], "layers": [{"type": "Flatten"}]}',
    "rf_blowup.json": json.dumps(
        _spec(
            [{"type": "UpSampling2D", "size": 64}] * 2
            + [{"type": "Conv2D", "filters": 1, "kernel_size": 3, "padding": "same"}],
            [1, 16, 16],
        )
    ),
    "rf_bon_tconv.json": json.dumps(
        _spec(
            [
                {"type": "BedOfNails2D", "size": 64},
                {"type": "Conv2DTranspose", "filters": 1, "kernel_size": 3, "strides": 16},
            ],
            [1, 64, 64],
        )
    ),
    "grow_chain.json": json.dumps(_spec([{"type": "UpSampling2D", "size": 2}] * 40, [1, 8, 8])),
    "reshape_huge.json": json.dumps(
        _spec([{"type": "Flatten"}, {"type": "Reshape", "target_shape": [1, 10**6, 10**6]}])
    ),
    "unknown_type.json": json.dumps(_spec([{"type": "Lambda", "function": "__import__('os')"}])),
    "bad_activation.json": json.dumps(_spec([{"type": "Activation", "activation": "eval"}])),
    "many_keys.json": json.dumps(_spec([{"type": "Flatten", **{f"k{i}": i for i in range(100_000)}}])),
}
SPECS = tuple(SPEC_TEXT)


def _spec_builder(name: str) -> Callable[[Path], None]:
    def build(work: Path) -> None:
        text = SPEC_TEXT[name]
        (work / name).write_bytes(text if isinstance(text, bytes) else text.encode())

    return build


# ---------------------------------------------------------------------------------------------------
# images


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, idat: bytes, color_type: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _declared_bomb(work: Path) -> None:
    """100000 x 100000 declared, 200 bytes on disk: PIL's DecompressionBombError territory."""
    (work / "bomb.png").write_bytes(png_bytes(100_000, 100_000, zlib.compress(b"\0" * 1000)))


def _wide(work: Path) -> None:
    """A real 1 x 89,000,000-pixel grayscale PNG (under PIL's bomb limit), 87 KiB: made once, copied."""
    assert TEMPLATES is not None
    cached = TEMPLATES / "wide.png"
    if not cached.exists():
        comp = zlib.compressobj(9)
        body = comp.compress(b"\0") + comp.compress(bytes(89_000_000)) + comp.flush()
        tmp = cached.with_suffix(".tmp")
        tmp.write_bytes(png_bytes(89_000_000, 1, body))
        os.replace(tmp, cached)
    shutil.copy(cached, work / "wide.png")


def _tall_rgb(work: Path) -> None:
    """A real 20000 x 4000 RGB PNG (80M pixels, 240 MB decoded): a photo-sized bomb."""
    assert TEMPLATES is not None
    cached = TEMPLATES / "tall.png"
    if not cached.exists():
        comp = zlib.compressobj(9)
        row = b"\0" + bytes(4000 * 3)
        body = b"".join(comp.compress(row) for _ in range(20000)) + comp.flush()
        tmp = cached.with_suffix(".tmp")
        tmp.write_bytes(png_bytes(4000, 20000, body, color_type=2))
        os.replace(tmp, cached)
    shutil.copy(cached, work / "tall.png")


def _small_png(work: Path) -> None:
    from PIL import Image

    Image.fromarray((np.arange(64, dtype=np.uint8) * 4).reshape(8, 8)).save(work / "small.png")


def _truncated_png(work: Path) -> None:
    _small_png(work)
    data = (work / "small.png").read_bytes()
    (work / "truncated.png").write_bytes(data[: len(data) // 2])


def _text_png(work: Path) -> None:
    (work / "text.png").write_text("this is not an image\n")


def _empty_png(work: Path) -> None:
    (work / "empty.png").write_bytes(b"")


def _fifo(work: Path) -> None:
    for name in ("fifo.png", "fifo.yaml", "fifo.keras", "fifo-idx3-ubyte"):
        os.mkfifo(work / name)


def _dir_png(work: Path) -> None:
    (work / "dir.png").mkdir()
    (work / "dir.yaml").mkdir()


def _bomb_folder(work: Path) -> None:
    """A ``folder:`` dataset whose one image declares 100000 x 100000 pixels."""
    for split in ("train", "test"):
        d = work / "bombset" / split / "a"
        d.mkdir(parents=True)
        (d / "0.png").write_bytes(png_bytes(100_000, 100_000, zlib.compress(b"\0" * 1000)))


# ---------------------------------------------------------------------------------------------------
# IDX files


def _idx(work: Path) -> None:
    """IDX files: 10^9 declared images, 2^31-sided, bad magic, truncated, 255 dims, bad dtype, a gzip bomb."""
    (work / "huge-idx3-ubyte").write_bytes(struct.pack(">HBBIII", 0, 8, 3, 10**9, 28, 28) + b"\0" * 100)
    (work / "dims-idx3-ubyte").write_bytes(struct.pack(">HBBIII", 0, 8, 3, 2**31, 2**31, 2**31))
    (work / "magic-idx3-ubyte").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    (work / "trunc-idx3-ubyte").write_bytes(struct.pack(">HBBIII", 0, 8, 3, 10, 28, 28) + b"\0" * 100)
    (work / "ndim-idx3-ubyte").write_bytes(struct.pack(">HBB", 0, 8, 255) + b"\0\0\0\1" * 255)
    (work / "dtype-idx3-ubyte").write_bytes(struct.pack(">HBBI", 0, 0x42, 1, 4) + b"\0" * 4)
    assert TEMPLATES is not None
    cached = TEMPLATES / "gzbomb-idx3-ubyte.gz"
    if not cached.exists():  # 600000 images declared, 512 MiB of zeros: 500 KiB of gzip
        with gzip.open(cached.with_suffix(".tmp"), "wb", compresslevel=9) as f:
            f.write(struct.pack(">HBBIII", 0, 8, 3, 600_000, 28, 28))
            for _ in range(512):
                f.write(bytes(1 << 20))
        os.replace(cached.with_suffix(".tmp"), cached)
    shutil.copy(cached, work / "gzbomb-idx3-ubyte.gz")


def _mnist_corrupt(work: Path) -> None:
    """A --data-dir with MNIST's file names holding garbage."""
    d = work / "mnistdir"
    d.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (d / name).write_bytes(b"garbage" * 10)


# ---------------------------------------------------------------------------------------------------
# runs: one real tiny run per session, copied and edited


def template_dir() -> Path:
    """``TEMPLATES/run`` (a finished 1-epoch run of a 77-parameter model) and ``TEMPLATES/data``."""
    assert TEMPLATES is not None
    run = TEMPLATES / "run"
    if (run / "summary.json").exists():
        return TEMPLATES
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from convolab.train import train
    from convolab.train.config import TrainConfig
    from train_support import write_dataset, write_spec

    dataset = write_dataset(TEMPLATES / "data", n_train=32, n_test=16)
    spec = write_spec(TEMPLATES)
    cfg = TrainConfig(
        model=str(spec),
        dataset=dataset,
        epochs=1,
        batch_size=16,
        device="cpu",
        out=str(run),
        checkpoint_every=0,
        checkpoint_seconds=0.0,
    )
    train(cfg, quiet=True, figures=False)
    return TEMPLATES


def _run(work: Path) -> None:
    shutil.copytree(template_dir() / "run", work / "run")


def _edit_state(which: tuple[str, ...], edit: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def build(work: Path) -> None:
        _run(work)
        for w in which:
            path = work / "run" / w / "state.json"
            state = json.loads(path.read_text())
            new = edit(state)
            path.write_text(new if isinstance(new, str) else json.dumps(state))

    return build


def _set(**kv: Any) -> Callable[[dict[str, Any]], None]:
    def edit(state: dict[str, Any]) -> None:
        for key, value in kv.items():
            target = state
            *path, last = key.split("__")
            for p in path:
                target = target[p]
            if value is _DELETE:
                target.pop(last, None)
            else:
                target[last] = value

    return edit


_DELETE = object()
BOTH = ("last", "best")

#: bad state.json variants: name -> (checkpoints edited, edit)
STATES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "epoch_neg": _set(epoch=-5),
    "step_1e30": _set(step=1e30),
    "step_neg": _set(step=-7),
    "global_step_str": _set(global_step="many"),
    "format_version_str": _set(format_version="9"),
    "format_version_99": _set(format_version=99),
    "format_other": _set(format="not-convolab"),
    "spec_path": _set(spec="/etc/passwd"),
    "spec_bomb": _set(spec=_spec([{"type": "UpSampling2D", "size": 100_000_000}])),
    "spec_huge_input": _set(
        spec=_spec([{"type": "Conv2D", "filters": 1, "kernel_size": 3}], [1, 3_000_000, 3_000_000])
    ),
    "spec_filters_1e9": _set(spec=_spec([{"type": "Conv2D", "filters": 10**9, "kernel_size": 3}], [1, 8, 8])),
    "no_seconds": _set(epoch_seconds=_DELETE),
    "rng_short": lambda s: s["rng"].update({k: "AAAA" for k in s["rng"]}),
    "rng_missing": _set(rng=_DELETE),
    "history_str": _set(history="oops"),
    "history_bad_entry": _set(history=[{"epoch": "x"}]),
    "best_nan": _set(best__value=float("nan")),
    "epoch_loss_short": _set(epoch_loss=[1.0]),
    "config_epochs_1e20": _set(config__epochs=10**20),
    "config_batch_neg": _set(config__batch_size=-16),
    "config_dataset_folder_etc": _set(config__dataset="folder:/etc"),
    "config_missing": _set(config=_DELETE),
    "not_json": lambda s: "{not json",
    "deep_json": lambda s: "[" * 100_000 + "]" * 100_000,
    "list_json": lambda s: "[1, 2, 3]",
    "nan_epoch": lambda s: json.dumps(s).replace('"epoch": 1', '"epoch": NaN', 1),
    # valid JSON of 100 MiB (under the old 256 MiB cap, parsed into ~500 MiB of objects)
    "huge_100mb": lambda s: json.dumps(s)[:-1] + ', "pad": "' + "x" * (100 << 20) + '"}',
}


def _no_state(work: Path) -> None:
    _run(work)
    (work / "run" / "last" / "state.json").unlink()
    (work / "run" / "best" / "state.json").unlink()


def _weights_garbage(work: Path) -> None:
    _run(work)
    for w in BOTH:
        (work / "run" / w / "model.safetensors").write_bytes(b"\0" * 100)


def _weights_nan(work: Path) -> None:
    _run(work)
    from safetensors.torch import load_file, save_file

    for w in BOTH:
        path = work / "run" / w / "model.safetensors"
        tensors = {k: v.fill_(float("nan")) for k, v in load_file(path).items()}
        save_file(tensors, path)


def _symlink_best(work: Path) -> None:
    _run(work)
    shutil.rmtree(work / "run" / "best")
    (work / "run" / "best").symlink_to("/etc")


def _foreign(work: Path) -> None:
    """A user's folder that looks like a run to a careless check: config.json, log.jsonl, data.txt."""
    d = work / "foreign"
    d.mkdir()
    (d / "config.json").write_text('{"mine": true}\n')
    (d / "log.jsonl").write_text('{"note": "my log"}\n')
    (d / "data.txt").write_text("precious\n")


def _user_file(work: Path) -> None:
    (work / "notes.txt").write_text("precious\n")


def _tiny_data(work: Path) -> None:
    """A copy of the session's tiny ``folder:`` dataset in ``data/``, and its spec as ``tiny.json``."""
    tpl = template_dir()
    shutil.copytree(tpl / "data", work / "data")
    shutil.copy(tpl / "tiny.json", work / "tiny.json")


# ---------------------------------------------------------------------------------------------------
# Keras files (written with h5py/zipfile, no TensorFlow)


def _keras_templates() -> Path:
    assert TEMPLATES is not None
    d = TEMPLATES / "keras"
    if (d / "done").exists():
        return d
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from keras_conformance import handmade as hm

    d.mkdir(exist_ok=True)
    dense = hm.layer("Dense", "d", units=4, activation="linear", use_bias=True)
    cfg = hm.sequential("m", (8, 8, 1), [hm.layer("Flatten", "f"), dense])
    ok = {"dense": [np.ones((64, 4), np.float32), np.zeros(4, np.float32)]}
    nan = {"dense": [np.full((64, 4), np.nan, np.float32), np.zeros(4, np.float32)]}
    hm.write_keras(d / "ok.keras", cfg, hm.weights_h5_bytes(hm.store_arrays(ok)))
    hm.write_keras(d / "nan.keras", cfg, hm.weights_h5_bytes(hm.store_arrays(nan)))
    with zipfile.ZipFile(d / "deep.keras", "w") as zf:
        zf.writestr("metadata.json", "{}")
        zf.writestr(
            "config.json", '{"class_name": "Sequential", "config": ' + "[" * 50_000 + "]" * 50_000 + "}"
        )
        zf.writestr("model.weights.h5", b"")
    huge_up = hm.layer("UpSampling2D", "u", size=[100_000, 100_000], interpolation="nearest")
    hm.write_keras(d / "up.keras", hm.sequential("m", (8, 8, 1), [huge_up]), hm.weights_h5_bytes({}))
    with zipfile.ZipFile(d / "zipbomb.keras", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("config.json", "w") as f:  # 512 MiB of spaces, 500 KiB zipped
            for _ in range(512):
                f.write(b" " * (1 << 20))
        zf.writestr("metadata.json", "{}")
    (d / "text.keras").write_text("not a zip\n")
    (d / "w.weights.h5").write_bytes(hm.weights_h5_bytes(hm.store_arrays(ok)))
    (d / "done").touch()
    return d


def _keras_files(work: Path) -> None:
    """ok.keras, nan.keras (NaN weights), deep.keras (50000-deep JSON), up.keras (UpSampling 1e5),
    zipbomb.keras (512 MiB config.json), text.keras, w.weights.h5."""
    d = _keras_templates()
    for f in d.iterdir():
        if f.name != "done":
            shutil.copy(f, work / f.name)


BUILDERS: dict[str, Callable[[Path], None]] = {
    **{f"spec:{name}": _spec_builder(name) for name in SPEC_TEXT},
    **{f"state:{name}": _edit_state(BOTH, edit) for name, edit in STATES.items()},
    "bomb.png": _declared_bomb,
    "wide.png": _wide,
    "tall.png": _tall_rgb,
    "small.png": _small_png,
    "truncated.png": _truncated_png,
    "text.png": _text_png,
    "empty.png": _empty_png,
    "fifo": _fifo,
    "dirs": _dir_png,
    "bombset": _bomb_folder,
    "idx": _idx,
    "mnist_corrupt": _mnist_corrupt,
    "run": _run,
    "no_state": _no_state,
    "weights_garbage": _weights_garbage,
    "weights_nan": _weights_nan,
    "symlink_best": _symlink_best,
    "foreign": _foreign,
    "user_file": _user_file,
    "tiny_data": _tiny_data,
    "keras": _keras_files,
}
BUILDERS.update(files_issue26.BUILDERS)  # issue 26: config files, run folders of interrupted endings
