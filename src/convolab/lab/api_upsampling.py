"""Upsampling panel API: one small grid through the four upsampling layers, side by side.

``POST /api/upsample`` with ``{"grid": [[...]], "factor": 2, "seed": 0, "kernel": [[...]],
"padding": "same"}`` answers the grid upsampled by convolab's own layers:

- ``nearest``: ``UpSampling2D(factor)`` (each value repeated in its ``f x f`` cell);
- ``nails``: ``BedOfNails2D(factor)`` (each value at its cell's top-left, zeros elsewhere);
- ``unpool``: ``MaxUnpool2D`` with the switches of ``MaxPool2D(factor)`` run on ``source``, an
  encoder feature map ``factor`` times larger (random integers from ``seed`` unless given): each value
  goes to where its window's maximum was; ``switches`` lists those ``[row, col]`` cells;
- ``transpose``: ``Conv2DTranspose(1, kernel, strides=factor, padding)`` without bias, its kernel set
  to ``kernel`` (each input value stamps a scaled copy of the kernel; overlaps add).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from convolab.lab.http import ApiError, get_choice, get_int, get_matrix, read_json
from convolab.lab.images import rounded
from convolab.limits import LAB_MAX_UP_FACTOR

DEFAULT_KERNEL = [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]
MAX_KERNEL = 7
MAX_FACTOR = LAB_MAX_UP_FACTOR


def _plane(arr: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(arr, dtype=np.float32)).view(1, 1, *np.shape(arr))  # (1, 1, H, W)


def upsample_all(
    grid: list[list[float]],
    factor: int,
    source: list[list[float]] | None,
    seed: int,
    kernel: list[list[float]],
    padding: str,
) -> dict[str, Any]:
    """Run the four upsamplers on ``grid`` (see the module docstring for the keys)."""
    from convolab.layers.conv_transpose import Conv2DTranspose
    from convolab.layers.pooling import MaxPool2D
    from convolab.layers.upsampling import BedOfNails2D, MaxUnpool2D, UpSampling2D

    h, w = len(grid), len(grid[0])
    big = (h * factor, w * factor)
    if source is None:
        source = np.random.default_rng(seed).integers(0, 10, size=big).astype(float).tolist()
    elif (len(source), len(source[0])) != big:
        raise ApiError(
            f"source must be {big[0]}x{big[1]} (grid x factor), got {len(source)}x{len(source[0])}"
        )
    x = _plane(grid)
    with torch.no_grad():
        pool = MaxPool2D(factor, name="pool")
        pooled, switches = pool.forward_with_switches(_plane(source))
        unpool = MaxUnpool2D("pool")
        unpooled = unpool(x, switches=switches, output_size=big)
        deconv = Conv2DTranspose(
            1, (len(kernel), len(kernel[0])), strides=factor, padding=padding, use_bias=False
        )
        deconv.build((1, h, w))
        deconv.load_state_dict({"weight": _plane(kernel)})  # (c_in=1, filters=1, kh, kw); no bias
        transposed = deconv(x)
    flat = switches.view(-1).tolist()
    return {
        "input": grid,
        "factor": factor,
        "nearest": rounded(UpSampling2D(factor)(x)[0, 0]),
        "nails": rounded(BedOfNails2D(factor)(x)[0, 0]),
        "source": rounded(np.asarray(source)),
        "pooled": rounded(pooled[0, 0]),
        "switches": [[i // big[1], i % big[1]] for i in flat],
        "unpool": rounded(unpooled[0, 0]),
        "kernel": kernel,
        "padding": padding,
        "transpose": rounded(transposed[0, 0]),
    }


async def upsample_endpoint(request: Request) -> Response:
    limits = request.app.state.limits
    body = await read_json(request, limits)
    grid = get_matrix(body, "grid", limits.max_grid)
    factor = get_int(body, "factor", 2, 1, MAX_FACTOR)
    seed = get_int(body, "seed", 0, 0, 2**31 - 1)
    kernel = get_matrix(body, "kernel", MAX_KERNEL) if "kernel" in body else DEFAULT_KERNEL
    padding = get_choice(body, "padding", "same", ("same", "valid"))
    source = get_matrix(body, "source", limits.max_grid * MAX_FACTOR) if "source" in body else None
    result = await request.app.state.pool.run(
        "upsample", grid=grid, factor=factor, source=source, seed=seed, kernel=kernel, padding=padding
    )
    return result


def routes() -> list[Route]:
    return [Route("/api/upsample", upsample_endpoint, methods=["POST"])]
