"""Hostile requests against every lab endpoint (issue 12): each one is refused with a 4xx, a short
one-line JSON error, nothing written anywhere under the test's folders, and within the lab's own time
limit; the server keeps serving after each.

Categories: oversize, bad types, traversal, symlinks, stored paths, foreign Host/Origin, wrong content
type, decompression bombs, YAML bombs, huge factors, huge indices, unknown routes and methods.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from lab_support import lab_client, plant_runs, png_base64
from real_data import MISSING, fashion_t10k, have_fashion

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from convolab.lab.server import Limits, create_app  # noqa: E402

TASK_SECONDS = 10.0  # the hostile app's time limit; every refusal must come well within it
ZEROS = [[0.0] * 28] * 28
SPEC = "input_shape: [1, 8, 8]\nlayers:\n- {type: Conv2D, filters: 2, kernel_size: 3}\n"


def png_header_bomb(width: int, height: int) -> str:
    """A PNG of a few hundred bytes whose header declares ``width x height`` grey pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


def billion_laughs() -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(
            f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]"
        )
    return "\n".join(lines) + "\ninput_shape: [1, 8, 8]\nlayers: *i\n"


def spec_with(layer: str, shape: str = "[1, 28, 28]") -> str:
    return f"input_shape: {shape}\nlayers:\n- {layer}\n"


J = "application/json"
BIG_PNG = png_base64(np.zeros((1100, 20), dtype=np.uint8))
GIF = base64.b64encode(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").decode()
_NOISE = png_base64(np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8))
TRUNCATED_PNG = _NOISE[: len(_NOISE) // 8 * 4]  # the first half of the file
ACT = {"model": {"zoo": "seed-upsampling"}, "input": {"pixels": ZEROS}}

# (id, method, path, request keyword arguments, allowed statuses)
CASES: list[tuple[str, str, str, dict, tuple[int, ...]]] = [
    # --- Host / Origin / content type: only the lab's own page may talk to it
    ("host-foreign", "GET", "/api/health", {"headers": {"host": "evil.example"}}, (421,)),
    ("host-rebinding", "GET", "/api/runs", {"headers": {"host": "evil.example:8765"}}, (421,)),
    ("host-other-port", "GET", "/api/zoo", {"headers": {"host": "127.0.0.1:1"}}, (421,)),
    ("origin-foreign-get", "GET", "/api/runs", {"headers": {"origin": "http://evil.example"}}, (403,)),
    (
        "origin-null-post",
        "POST",
        "/api/analyze",
        {"json": {"spec": SPEC}, "headers": {"origin": "null"}},
        (403,),
    ),
    (
        "origin-https",
        "POST",
        "/api/upsample",
        {"json": {"grid": [[1]]}, "headers": {"origin": "https://127.0.0.1:8765"}},
        (403,),
    ),
    ("sec-fetch-cross-site", "GET", "/api/runs", {"headers": {"sec-fetch-site": "cross-site"}}, (403,)),
    (
        "text-plain-post",
        "POST",
        "/api/analyze",
        {"content": b'{"spec": "x"}', "headers": {"content-type": "text/plain"}},
        (415,),
    ),
    (
        "form-post",
        "POST",
        "/api/filter",
        {"content": b"dataset=mnist", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        (415,),
    ),
    (
        "multipart-post",
        "POST",
        "/api/upsample",
        {"content": b"--x--", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        (415,),
    ),
    ("no-content-type-post", "POST", "/api/run/reconstruct", {"content": b"{}"}, (415,)),
    (
        "cross-origin-text-plain",
        "POST",
        "/api/activations",
        {"content": b"{}", "headers": {"content-type": "text/plain", "origin": "http://evil.example"}},
        (403,),
    ),
    (
        "preflight",
        "OPTIONS",
        "/api/analyze",
        {"headers": {"origin": "http://evil.example", "access-control-request-method": "POST"}},
        (403,),
    ),
    ("put", "PUT", "/api/analyze", {"json": {"spec": SPEC}}, (405,)),
    (
        "delete-run",
        "DELETE",
        "/api/run",
        {"params": {"name": "tiny"}, "headers": {"content-type": J}},
        (405,),
    ),
    ("unknown-route", "GET", "/api/../../etc/passwd", {}, (404,)),
    ("static-traversal", "GET", "/static/%2e%2e/server.py", {}, (404,)),
    # --- bodies: size, JSON, types
    (
        "body-too-large",
        "POST",
        "/api/analyze",
        {"content": b"{" + b" " * (5 << 20) + b"}", "headers": {"content-type": J}},
        (413,),
    ),
    ("body-not-json", "POST", "/api/analyze", {"content": b"{nope", "headers": {"content-type": J}}, (400,)),
    ("body-array", "POST", "/api/filter", {"content": b"[1]", "headers": {"content-type": J}}, (400,)),
    (
        "body-deep-json",
        "POST",
        "/api/upsample",
        {"content": b"[" * 100_000 + b"]" * 100_000, "headers": {"content-type": J}},
        (400,),
    ),
    (
        "body-bad-utf8",
        "POST",
        "/api/analyze",
        {"content": b'{"spec": "\xff\xfe"}', "headers": {"content-type": J}},
        (400,),
    ),
    # --- /api/analyze: specs as data, bounded
    ("spec-too-long", "POST", "/api/analyze", {"json": {"spec": "#" * (70 << 10)}}, (413,)),
    ("spec-alias-bomb", "POST", "/api/analyze", {"json": {"spec": billion_laughs()}}, (400,)),
    ("spec-deep-nesting", "POST", "/api/analyze", {"json": {"spec": "[" * 5000 + "]" * 5000}}, (400,)),
    ("spec-is-a-path", "POST", "/api/analyze", {"json": {"spec": "/etc/passwd"}}, (400,)),
    ("spec-not-text", "POST", "/api/analyze", {"json": {"spec": {"input_shape": [1, 8, 8]}}}, (400,)),
    ("spec-missing", "POST", "/api/analyze", {"json": {}}, (400,)),
    (
        "spec-100k-layers",
        "POST",
        "/api/analyze",
        {"json": {"spec": "input_shape: [8]\nlayers: [" + "{type: Flatten}," * 3000 + "]"}},
        (413,),
    ),
    (
        "spec-huge-input",
        "POST",
        "/api/analyze",
        {"json": {"spec": spec_with("{type: Flatten}", "[1, 3000000, 3000000]")}},
        (413,),
    ),
    (
        "spec-upsampling-1e6",
        "POST",
        "/api/analyze",
        {"json": {"spec": spec_with("{type: UpSampling2D, size: 1000000}")}},
        (413,),
    ),
    (
        "spec-bed-of-nails-1e8",
        "POST",
        "/api/analyze",
        {"json": {"spec": spec_with("{type: BedOfNails2D, factor: 100000000}")}},
        (413,),
    ),
    (
        "spec-transpose-stride-1e9",
        "POST",
        "/api/analyze",
        {
            "json": {
                "spec": spec_with("{type: Conv2DTranspose, filters: 1, kernel_size: 3, strides: 1000000000}")
            }
        },
        (413,),
    ),
    (
        "spec-stride-1e20",
        "POST",
        "/api/analyze",
        {
            "json": {
                "spec": spec_with(
                    "{type: Conv2D, filters: 1, kernel_size: 3, strides: 100000000000000000000}"
                )
            }
        },
        (413,),
    ),
    (
        "spec-kernel-1e5",
        "POST",
        "/api/analyze",
        {"json": {"spec": spec_with("{type: Conv2D, filters: 1, kernel_size: 100001}")}},
        (413,),
    ),
    (
        "spec-python-tag",
        "POST",
        "/api/analyze",
        {"json": {"spec": "!!python/object/apply:os.system ['touch x']"}},
        (400,),
    ),
    ("zoo-traversal", "GET", "/api/zoo/..%2f..%2fetc%2fpasswd", {}, (404,)),
    ("zoo-unknown-long", "GET", "/api/zoo/" + "x" * 3000, {}, (404,)),
    # --- /api/filter
    ("filter-folder-dataset", "POST", "/api/filter", {"json": {"dataset": "folder:/etc"}}, (400,)),
    ("filter-absent-dataset", "POST", "/api/filter", {"json": {"dataset": "kmnist"}}, (404,)),
    ("filter-index-negative", "POST", "/api/filter", {"json": {"index": -1}}, (400,)),
    (
        "filter-index-huge",
        "POST",
        "/api/filter",
        {"json": {"dataset": "fashion-mnist", "index": 10**30}},
        (400,),
    ),
    ("filter-index-string", "POST", "/api/filter", {"json": {"index": "3"}}, (400,)),
    ("filter-index-float", "POST", "/api/filter", {"json": {"index": 1e30}}, (400,)),
    ("filter-size-huge", "POST", "/api/filter", {"json": {"kernel": "box", "size": 100001}}, (400,)),
    ("filter-sigma-huge", "POST", "/api/filter", {"json": {"kernel": "gaussian", "sigma": 100000}}, (400,)),
    (
        "filter-sigma-nan",
        "POST",
        "/api/filter",
        {"content": b'{"kernel": "gaussian", "sigma": NaN}', "headers": {"content-type": J}},
        (400,),
    ),
    ("filter-sigma-null", "POST", "/api/filter", {"json": {"sigma": None}}, (400,)),
    ("filter-stride-zero", "POST", "/api/filter", {"json": {"stride": 0}}, (400,)),
    ("filter-stride-huge", "POST", "/api/filter", {"json": {"stride": 10**9}}, (400,)),
    (
        "filter-kernel-unknown",
        "POST",
        "/api/filter",
        {"json": {"dataset": "fashion-mnist", "kernel": "../../etc/passwd"}},
        (400,),
    ),
    ("filter-kernel-type", "POST", "/api/filter", {"json": {"kernel": ["sobel_x"]}}, (400,)),
    ("filter-padding-bad", "POST", "/api/filter", {"json": {"padding": "full"}}, (400,)),
    ("filter-border-bad", "POST", "/api/filter", {"json": {"border": "wrap"}}, (400,)),
    ("upload-not-base64", "POST", "/api/filter", {"json": {"upload": "!!!not base64!!!"}}, (400,)),
    ("upload-not-string", "POST", "/api/filter", {"json": {"upload": 12}}, (400,)),
    ("upload-gif", "POST", "/api/filter", {"json": {"upload": GIF}}, (400,)),
    ("upload-truncated", "POST", "/api/filter", {"json": {"upload": TRUNCATED_PNG}}, (400,)),
    ("upload-bomb-30000", "POST", "/api/filter", {"json": {"upload": png_header_bomb(30000, 30000)}}, (413,)),
    (
        "upload-bomb-pillow",
        "POST",
        "/api/filter",
        {"json": {"upload": png_header_bomb(100000, 100000)}},
        (413,),
    ),
    ("upload-too-tall", "POST", "/api/filter", {"json": {"upload": BIG_PNG}}, (413,)),
    # --- /api/upsample
    ("up-grid-too-big", "POST", "/api/upsample", {"json": {"grid": [[1] * 17] * 17}}, (400,)),
    ("up-grid-ragged", "POST", "/api/upsample", {"json": {"grid": [[1, 2], [3]]}}, (400,)),
    ("up-grid-strings", "POST", "/api/upsample", {"json": {"grid": [["1"]]}}, (400,)),
    ("up-grid-huge-value", "POST", "/api/upsample", {"json": {"grid": [[1e300]]}}, (400,)),
    ("up-grid-missing", "POST", "/api/upsample", {"json": {}}, (400,)),
    ("up-factor-huge", "POST", "/api/upsample", {"json": {"grid": [[1]], "factor": 1000000}}, (400,)),
    ("up-factor-zero", "POST", "/api/upsample", {"json": {"grid": [[1]], "factor": 0}}, (400,)),
    (
        "up-kernel-too-big",
        "POST",
        "/api/upsample",
        {"json": {"grid": [[1]], "kernel": [[1] * 8] * 8}},
        (400,),
    ),
    ("up-kernel-empty", "POST", "/api/upsample", {"json": {"grid": [[1]], "kernel": []}}, (400,)),
    ("up-source-mismatch", "POST", "/api/upsample", {"json": {"grid": [[1]], "source": [[1]]}}, (400,)),
    ("up-seed-negative", "POST", "/api/upsample", {"json": {"grid": [[1]], "seed": -1}}, (400,)),
    # --- runs: traversal, links, stored paths
    ("run-traversal", "GET", "/api/run", {"params": {"name": "../outside"}}, (400,)),
    ("run-absolute", "GET", "/api/run", {"params": {"name": "/etc"}}, (400,)),
    ("run-nul", "GET", "/api/run", {"params": {"name": "tiny\x00"}}, (400,)),
    ("run-hidden", "GET", "/api/run", {"params": {"name": ".git"}}, (400,)),
    ("run-long-name", "GET", "/api/run", {"params": {"name": "a" * 5000}}, (400,)),
    ("run-unknown", "GET", "/api/run", {"params": {"name": "nope"}}, (404,)),
    ("run-checkpoint-bad", "GET", "/api/run", {"params": {"name": "tiny", "checkpoint": "../best"}}, (400,)),
    ("run-stored-spec-path", "GET", "/api/run", {"params": {"name": "spec-path"}}, (400,)),
    ("run-stored-config-path", "GET", "/api/run", {"params": {"name": "config-path"}}, (400,)),
    ("run-best-link-out", "GET", "/api/run", {"params": {"name": "best-link"}}, (403,)),
    ("run-weights-link-out", "GET", "/api/run", {"params": {"name": "weights-link"}}, (403,)),
    ("run-summary-link-out", "GET", "/api/run", {"params": {"name": "summary-link"}}, (403,)),
    ("run-log-link-out", "GET", "/api/run", {"params": {"name": "log-link"}}, (403,)),
    (
        "recon-pixels-wrong-size",
        "POST",
        "/api/run/reconstruct",
        {"json": {"run": "tiny", "pixels": [[0.0]]}},
        (400,),
    ),
    (
        "recon-pixels-nan",
        "POST",
        "/api/run/reconstruct",
        {"content": b'{"run": "tiny", "pixels": [[NaN]]}', "headers": {"content-type": J}},
        (400,),
    ),
    (
        "recon-pixels-huge",
        "POST",
        "/api/run/reconstruct",
        {"json": {"run": "tiny", "pixels": [[0] * 600] * 600}},
        (400, 413),
    ),
    (
        "recon-run-traversal",
        "POST",
        "/api/run/reconstruct",
        {"json": {"run": "../../x", "pixels": ZEROS}},
        (400,),
    ),
    (
        "recon-spec-path-run",
        "POST",
        "/api/run/reconstruct",
        {"json": {"run": "spec-path", "pixels": ZEROS}},
        (400,),
    ),
    (
        "samples-offset-negative",
        "GET",
        "/api/run/samples",
        {"params": {"name": "tiny", "offset": "-1"}},
        (400,),
    ),
    (
        "samples-offset-huge",
        "GET",
        "/api/run/samples",
        {"params": {"name": "tiny", "offset": "9" * 40}},
        (400,),
    ),
    (
        "samples-offset-past-end",
        "GET",
        "/api/run/samples",
        {"params": {"name": "tiny", "offset": "10000"}},
        (400,),
    ),
    ("samples-count-zero", "GET", "/api/run/samples", {"params": {"name": "tiny", "count": "0"}}, (400,)),
    (
        "samples-count-huge",
        "GET",
        "/api/run/samples",
        {"params": {"name": "tiny", "count": "100000"}},
        (400,),
    ),
    ("samples-folder-dataset", "GET", "/api/run/samples", {"params": {"name": "folder-data"}}, (400,)),
    ("samples-kmnist-no-download", "GET", "/api/run/samples", {"params": {"name": "kmnist-data"}}, (404,)),
    ("samples-foreign-data-dir", "GET", "/api/run/samples", {"params": {"name": "foreign-dir"}}, (403,)),
    # --- /api/activations
    ("act-model-missing", "POST", "/api/activations", {"json": {"input": {"pixels": ZEROS}}}, (400,)),
    (
        "act-model-two-kinds",
        "POST",
        "/api/activations",
        {"json": {"model": {"zoo": "x", "run": "tiny"}, "input": {"pixels": ZEROS}}},
        (400,),
    ),
    (
        "act-zoo-unknown",
        "POST",
        "/api/activations",
        {"json": {"model": {"zoo": "../../etc/passwd"}, "input": {"pixels": ZEROS}}},
        (404,),
    ),
    (
        "act-spec-alias-bomb",
        "POST",
        "/api/activations",
        {"json": {"model": {"spec": billion_laughs()}, "input": {"pixels": ZEROS}}},
        (400,),
    ),
    (
        "act-spec-too-wide",
        "POST",
        "/api/activations",
        {
            "json": {
                "model": {"spec": spec_with("{type: Flatten}", "[1, 4096, 4096]")},
                "input": {"pixels": ZEROS},
            }
        },
        (413,),
    ),
    (
        "act-spec-huge-factor",
        "POST",
        "/api/activations",
        {
            "json": {
                "model": {"spec": spec_with("{type: UpSampling2D, size: 100000}")},
                "input": {"pixels": ZEROS},
            }
        },
        (413,),
    ),
    (
        "act-spec-is-a-path",
        "POST",
        "/api/activations",
        {"json": {"model": {"spec": "/etc/passwd"}, "input": {"pixels": ZEROS}}},
        (400,),
    ),
    (
        "act-run-traversal",
        "POST",
        "/api/activations",
        {"json": {"model": {"run": "../outside"}, "input": {"pixels": ZEROS}}},
        (400,),
    ),
    (
        "act-run-link-out",
        "POST",
        "/api/activations",
        {"json": {"model": {"run": "best-link"}, "input": {"pixels": ZEROS}}},
        (403,),
    ),
    (
        "act-seed-negative",
        "POST",
        "/api/activations",
        {"json": {"model": {"zoo": "seed-upsampling", "seed": -1}, "input": {"pixels": ZEROS}}},
        (400,),
    ),
    (
        "act-input-missing",
        "POST",
        "/api/activations",
        {"json": {"model": {"zoo": "seed-upsampling"}}},
        (400,),
    ),
    (
        "act-input-too-big",
        "POST",
        "/api/activations",
        {"json": {"model": {"zoo": "seed-upsampling"}, "input": {"pixels": [[0] * 600] * 600}}},
        (400, 413),
    ),
    (
        "act-input-bomb",
        "POST",
        "/api/activations",
        {"json": {"model": {"zoo": "seed-upsampling"}, "input": {"upload": png_header_bomb(40000, 40000)}}},
        (413,),
    ),
    (
        "act-index-huge",
        "POST",
        "/api/activations",
        {
            "json": {
                "model": {"zoo": "seed-upsampling"},
                "input": {"dataset": "fashion-mnist", "index": 10**9},
            }
        },
        (400,),
    ),
    (
        "act-folder-dataset",
        "POST",
        "/api/activations",
        {"json": {"model": {"zoo": "seed-upsampling"}, "input": {"dataset": "folder:/etc"}}},
        (400,),
    ),
    ("pixel-layer-huge", "POST", "/api/activations/pixel", {"json": {**ACT, "layer": 99}}, (400,)),
    ("pixel-row-huge", "POST", "/api/activations/pixel", {"json": {**ACT, "row": 10**7}}, (400,)),
    ("pixel-channel-negative", "POST", "/api/activations/pixel", {"json": {**ACT, "channel": -1}}, (400,)),
    ("pixel-col-string", "POST", "/api/activations/pixel", {"json": {**ACT, "col": "1"}}, (400,)),
]


def snapshot(root: Path) -> list[tuple[str, int, int]]:
    """Every file and folder under ``root`` with its size and modification time (nothing may change)."""
    out = []
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    if not have_fashion():
        pytest.skip(MISSING)
    root = tmp_path_factory.mktemp("hostile")
    runs = plant_runs(root)
    app = create_app(runs, data_dir=fashion_t10k(), limits=Limits(workers=1, task_seconds=TASK_SECONDS))
    client = lab_client(app)
    assert client.post("/api/analyze", json={"spec": SPEC}).status_code == 200  # the worker is up
    return client, root


def test_the_table_is_large_and_covers_every_endpoint():
    paths = {case[2].split("?")[0] for case in CASES}
    assert len(CASES) >= 60
    endpoints = [
        "/api/analyze",
        "/api/filter",
        "/api/upsample",
        "/api/run",
        "/api/run/reconstruct",
        "/api/run/samples",
        "/api/activations",
        "/api/activations/pixel",
        "/api/runs",
        "/api/zoo",
    ]
    for endpoint in endpoints:
        assert endpoint in paths, endpoint


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "statuses"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_hostile_request_is_refused_cleanly(hostile, method, path, kwargs, statuses):
    client, root = hostile
    before = snapshot(root)
    t0 = time.perf_counter()
    r = client.request(method, path, **kwargs)
    took = time.perf_counter() - t0
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    message = r.json()["error"]
    assert isinstance(message, str) and 0 < len(message) <= 400 and "\n" not in message
    assert "Traceback" not in message and "TOPSECRET" not in r.text and "root:x" not in r.text
    assert took < TASK_SECONDS, took
    assert snapshot(root) == before, "a refused request changed files"
    assert client.get("/api/health").status_code == 200
