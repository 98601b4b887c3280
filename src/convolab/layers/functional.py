"""The convolution core shared by Conv2D and the classic filters: TF-exact padding on any stride.

PyTorch's ``padding='same'`` refuses ``stride > 1`` and a symmetric ``padding=k // 2`` shifts the windows
by a pixel whenever TF would pad asymmetrically; so the TF split is computed per axis
(``padding.same_padding``) and applied explicitly. Symmetric zero padding is passed to ``F.conv2d``
itself (no copy of the input); anything else goes through ``F.pad`` first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from convolab.layers.padding import padding_amounts

PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}


def tf_pad_amounts(
    h: int,
    w: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: str,
    dilation: tuple[int, int] = (1, 1),
) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` padding of an ``h x w`` input, TF semantics."""
    top, bottom = padding_amounts(h, kernel[0], stride[0], padding, dilation[0])
    left, right = padding_amounts(w, kernel[1], stride[1], padding, dilation[1])
    return top, bottom, left, right


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride: tuple[int, int] = (1, 1),
    padding: str = "same",
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
    pad_mode: str = "zeros",
) -> torch.Tensor:
    """Cross-correlation with TF 'same'/'valid' padding (Keras Conv2D semantics).

    Args:
        x: input ``(N, C, H, W)``.
        weight: PyTorch layout ``(out, C // groups, kh, kw)``.
        bias: ``(out,)`` or None.
        stride, dilation: per axis ``(h, w)``.
        padding: 'same' (TF split, extra pixel bottom/right) or 'valid'.
        groups: as ``F.conv2d`` (``groups == C`` filters every channel on its own).
        pad_mode: what the 'same' border holds: 'zeros' (Keras), 'reflect' (mirror without repeating the
            edge, SciPy's 'mirror') or 'replicate' (edge value, SciPy's 'nearest').

    Output shape: ``(N, out, ceil(H / s), ...)`` for 'same', ``floor((H - ke) / s) + 1`` for 'valid'.
    """
    if pad_mode not in PAD_MODES:
        raise ValueError(f"border must be one of {', '.join(PAD_MODES)}, got {pad_mode!r}")
    kh, kw = weight.shape[-2:]
    top, bottom, left, right = tf_pad_amounts(x.shape[-2], x.shape[-1], (kh, kw), stride, padding, dilation)
    conv_pad: tuple[int, int] = (0, 0)
    if top == bottom and left == right and pad_mode == "zeros":
        conv_pad = (top, left)  # symmetric: let the conv kernel pad, no copy
    elif top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), mode=PAD_MODES[pad_mode])  # (N, C, H+t+b, W+l+r)
    return F.conv2d(x, weight, bias, stride=stride, padding=conv_pad, dilation=dilation, groups=groups)
