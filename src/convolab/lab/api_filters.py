"""Filters panel API: a classic kernel (``convolab.filters``) on a dataset image or an uploaded PNG/JPEG.

- ``GET /api/kernels``: the kernel registry (name, which of size/sigma it takes, signed or not), the
  border modes and the dataset names the panel may read.
- ``POST /api/filter``: ``{"dataset": "mnist", "index": 0}`` or ``{"upload": "<base64 or data: URL>"}``
  plus ``kernel``, ``size``, ``sigma``, ``stride``, ``padding``, ``border``; answers the input and the
  result as PNG data URLs, their sizes, the kernel's numbers and the result's value range.

Only registered dataset names are accepted (never ``folder:PATH``), nothing is downloaded on a
request, uploads are limited in bytes and pixels, and kernels are limited to 31 x 31. The work runs in
a lab worker process (tasks ``filter`` and ``datasets``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from convolab.lab.datasets import dataset_names, load_test_split
from convolab.lab.http import ApiError, get_choice, get_float, get_int, read_json, shown
from convolab.lab.images import decode_upload, rounded, to_png_data_url
from convolab.limits import LAB_MAX_FILTER_KERNEL, LAB_MAX_FILTER_STRIDE

MAX_KERNEL = LAB_MAX_FILTER_KERNEL
BORDERS = ("zeros", "reflect", "replicate")


def available_datasets() -> list[dict[str, Any]]:
    """Every registered dataset with ``available``: whether its test split is on this machine."""
    from convolab.data import dataset_status
    from convolab.lab.tasks import data_dirs

    out = []
    for name in dataset_names():
        ok = False
        for folder in [*data_dirs(), None]:
            status = dataset_status(name, folder)
            if "test" in status.splits and status.state in ("verified", "unverified", "not checked"):
                ok = True
                break
        out.append({"name": name, "available": ok})
    return out


def dataset_image(name: str, index: int) -> np.ndarray:
    """Test-split image ``index`` of a registered dataset as grey float32 ``(H, W)`` in [0, 1]."""
    import torch

    from convolab.lab.tasks import data_dirs

    ds = load_test_split(name, data_dirs())
    n = int(ds.images.shape[0])
    if not 0 <= index < n:
        raise ApiError(f"index must be in [0, {n - 1}] for {name}'s test split, got {index}")
    img = ds.images[index].to(torch.float32) / 255.0  # (C, H, W)
    return img.mean(dim=0).numpy()  # colour datasets are shown in grey


def kernel_array(name: str, size: int | None, sigma: float | None) -> tuple[str, np.ndarray, bool]:
    """``(registry name, kernel, signed)``; refuses kernels larger than ``MAX_KERNEL``."""
    from convolab.filters.kernels import KERNELS, canonical_name, get_kernel

    key = canonical_name(name)
    spec = KERNELS[key]
    kernel = np.asarray(
        get_kernel(key, sigma if "sigma" in spec.params else None, size if "size" in spec.params else None),
        dtype=np.float64,
    )
    if max(kernel.shape) > MAX_KERNEL:
        raise ApiError(
            f"kernel {key} is {kernel.shape[0]}x{kernel.shape[1]} for sigma {sigma}; the lab allows up to "
            f"{MAX_KERNEL}x{MAX_KERNEL} (give a smaller sigma or an explicit size)"
        )
    return key, kernel, spec.signed


def run_filter(image: np.ndarray, kernel: np.ndarray, stride: int, padding: str, border: str) -> np.ndarray:
    """``convolab.filters.filter2d``: the Conv2D arithmetic ('same'/'valid', TF split) with a border mode."""
    from convolab.filters import filter2d

    return np.asarray(filter2d(image.astype(np.float32), kernel, stride, padding, border))


def check_settings(body: dict[str, Any]) -> None:
    """Refuse bad settings in the server, before any work is queued (same messages as the worker)."""
    if body.get("size") is not None:
        get_int(body, "size", 3, 1, MAX_KERNEL)
    get_float(body, "sigma", 1.0, 0.05, 10.0)
    get_int(body, "stride", 1, 1, LAB_MAX_FILTER_STRIDE)
    get_choice(body, "padding", "same", ("same", "valid"))
    get_choice(body, "border", "zeros", BORDERS)
    if not isinstance(body.get("kernel", "sobel_x"), str):
        raise ApiError("kernel must be a kernel name (see /api/kernels)")
    if "upload" not in body:
        get_choice(body, "dataset", "mnist", dataset_names())
        get_index(body)


def get_index(body: dict[str, Any]) -> int:
    """``body["index"]``: a non-negative integer; its upper bound is the split's size, checked later."""
    value = body.get("index", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(f"index must be a non-negative integer, got {shown(value)}")
    return value


def filter_request(body: dict[str, Any], max_image_side: int) -> dict[str, Any]:
    """The worker task behind ``POST /api/filter``."""
    check_settings(body)
    if "upload" in body:
        image = decode_upload(body["upload"], max_image_side)
    else:
        name = get_choice(body, "dataset", "mnist", dataset_names())
        image = dataset_image(name, get_index(body))
    # size absent or null: the kernel's own default (box 3; gaussian and log from sigma, radius 4 sigma)
    size = None if body.get("size") is None else get_int(body, "size", 3, 1, MAX_KERNEL)
    sigma = get_float(body, "sigma", 1.0, 0.05, 10.0)
    stride = get_int(body, "stride", 1, 1, LAB_MAX_FILTER_STRIDE)
    padding = get_choice(body, "padding", "same", ("same", "valid"))
    border = get_choice(body, "border", "zeros", BORDERS)
    kernel_name = body.get("kernel", "sobel_x")
    key, kernel, signed = kernel_array(kernel_name if isinstance(kernel_name, str) else "", size, sigma)
    out = run_filter(image, kernel, stride, padding, border)
    lo, hi = float(out.min()), float(out.max())
    if signed:  # derivative kernels: 0 is mid-grey, the larger magnitude sets the scale
        m = max(abs(lo), abs(hi), 1e-12)
        shown = to_png_data_url(out, lo=-m, hi=m)
    else:  # kernels that sum to 1: the image's own range
        shown = to_png_data_url(out, lo=0.0, hi=1.0)
    return {
        "kernel": key,
        "kernel_values": rounded(kernel, 4),
        "signed": signed,
        "input": to_png_data_url(image, lo=0.0, hi=1.0),
        "input_shape": list(image.shape),
        "output": shown,
        "output_shape": list(out.shape),
        "range": [round(lo, 4), round(hi, 4)],
        "settings": {
            "size": int(kernel.shape[0]),
            "sigma": sigma,
            "stride": stride,
            "padding": padding,
            "border": border,
        },
    }


async def kernels_endpoint(request: Request) -> Response:
    from convolab.filters.kernels import KERNELS

    kernels = [
        {"name": k.name, "params": list(k.params), "signed": k.signed, "summary": k.summary}
        for k in KERNELS.values()
    ]
    datasets = await _datasets(request)
    return JSONResponse({"kernels": kernels, "borders": list(BORDERS), "datasets": datasets})


async def _datasets(request: Request) -> list[dict[str, Any]]:
    cache = request.app.state.cache
    if "datasets" not in cache:  # checksums are read once per server, in a worker
        cache["datasets"] = await request.app.state.pool.run_value("datasets")
    return cache["datasets"]


async def datasets_endpoint(request: Request) -> Response:
    """``GET /api/datasets``: every registered dataset and whether its test split is here, in the
    registry's order (the panels pick the first one that is, and mark the others)."""
    return JSONResponse({"datasets": await _datasets(request)})


async def filter_endpoint(request: Request) -> Response:
    limits = request.app.state.limits
    body = await read_json(request, limits)
    check_settings(body)
    result = await request.app.state.pool.run("filter", body=body, max_image_side=limits.max_image_side)
    return result


def routes() -> list[Route]:
    return [
        Route("/api/kernels", kernels_endpoint),
        Route("/api/datasets", datasets_endpoint),
        Route("/api/filter", filter_endpoint, methods=["POST"]),
    ]
