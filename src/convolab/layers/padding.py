"""Pure arithmetic of Keras/TensorFlow padding: output lengths, 'same' splits, transposed-conv crops.

Every function works on one spatial axis and plain ints, so the layers, the static analysis and the
filters share one source of truth. Notation (as in docs/architecture.md): ``i`` input length, ``k`` kernel,
``d`` dilation, ``ke = (k - 1) * d + 1`` effective kernel, ``s`` stride.

References: TensorFlow ``conv_utils.conv_output_length`` / ``deconv_output_length`` and
``tf.nn`` "SAME" padding (https://www.tensorflow.org/api_docs/python/tf/nn#notes_on_padding_2).
"""

from __future__ import annotations

PADDINGS = ("same", "valid")


def effective_kernel(k: int, d: int = 1) -> int:
    """Length covered by a dilated kernel: ``(k - 1) * d + 1``."""
    return (k - 1) * d + 1


def conv_output_length(i: int, k: int, s: int, padding: str, d: int = 1) -> int:
    """Output length of Conv2D or pooling (TF semantics); may be <= 0 when the window does not fit.

    'valid': ``floor((i - ke) / s) + 1``; 'same': ``ceil(i / s)``.
    """
    if padding == "same":
        return -(-i // s)
    if padding == "valid":
        return (i - effective_kernel(k, d)) // s + 1
    raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")


def same_padding(i: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TF 'same' padding split ``(before, after)``; the odd pixel goes after (bottom/right).

    ``P = max((ceil(i / s) - 1) * s + ke - i, 0)``, ``before = P // 2``. With ``s > 1`` the split depends
    on ``i``, which is why PyTorch's symmetric ``padding=k // 2`` shifts windows by one pixel.
    """
    out = -(-i // s)
    total = max((out - 1) * s + effective_kernel(k, d) - i, 0)
    return total // 2, total - total // 2


def padding_amounts(i: int, k: int, s: int, padding: str, d: int = 1) -> tuple[int, int]:
    """``(before, after)`` padding of one axis for 'same' (TF split) or 'valid' (none)."""
    if padding == "same":
        return same_padding(i, k, s, d)
    if padding == "valid":
        return 0, 0
    raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")


def deconv_output_length(
    i: int, k: int, s: int, padding: str, output_padding: int | None = None, d: int = 1
) -> int:
    """Output length of Conv2DTranspose, exactly as Keras ``deconv_output_length``.

    Without output_padding: 'valid' ``(i - 1) * s + max(ke, s)``, 'same' ``i * s``.
    With output_padding ``a``: ``(i - 1) * s + ke - 2 * pad + a`` where pad is ``ke // 2`` for 'same'.
    """
    ke = effective_kernel(k, d)
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if output_padding is None:
        return i * s + max(ke - s, 0) if padding == "valid" else i * s
    pad = ke // 2 if padding == "same" else 0
    return (i - 1) * s + ke - 2 * pad + output_padding


def transpose_crop(
    i: int, k: int, s: int, padding: str, output_padding: int | None = None, d: int = 1
) -> tuple[int, int]:
    """Where the Keras output sits in the full transposed convolution: ``(crop_before, n)``.

    The full (uncropped) output is ``(i - 1) * s + ke`` long. Keras keeps ``[P // 2, P // 2 + n)`` with
    ``P = max(full - n, 0)``; when ``n`` exceeds the full length the missing tail is zeros (plus bias).
    Checked against TensorFlow on 227 random configurations (docs/architecture.md).
    """
    n = deconv_output_length(i, k, s, padding, output_padding, d)
    full = (i - 1) * s + effective_kernel(k, d)
    return max(full - n, 0) // 2, n


def keras_refuses_transpose(
    i: int, k: int, s: int, padding: str, output_padding: int | None, d: int = 1
) -> bool:
    """True where TensorFlow fails on Conv2DTranspose 'same' with an explicit output_padding.

    TF needs ``ceil(n / s) == i`` for the gradient-of-conv it runs; with an even kernel and ``a = 0``
    this does not hold and Keras raises a raw backend error. convolab refuses these up front.
    """
    if padding != "same" or output_padding is None:
        return False
    n = deconv_output_length(i, k, s, padding, output_padding, d)
    return -(-n // s) != i
