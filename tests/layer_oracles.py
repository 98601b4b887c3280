"""Independent NumPy references for the layer tests: explicit loops, no torch, no convolab.

TensorFlow's rules are re-derived here from their definitions (not imported from convolab.layers.padding):
'same' keeps ceil(i / s) outputs and pads P = max((out - 1) s + ke - i, 0), P // 2 before; pooling pads
never take part; transposed conv is the scatter-add of kernel copies, then Keras's crop.
"""

from __future__ import annotations

import math

import numpy as np


def tf_pads(i: int, k: int, s: int, padding: str, d: int = 1) -> tuple[int, int]:
    ke = (k - 1) * d + 1
    if padding == "valid":
        return 0, 0
    out = math.ceil(i / s)
    total = max((out - 1) * s + ke - i, 0)
    return total // 2, total - total // 2


def conv2d(x, w, b, stride=(1, 1), padding="valid", dilation=(1, 1)):
    """x (C, H, W), w (F, C, kh, kw), b (F,) or None -> (F, H', W'); cross-correlation with loops."""
    c, h, wd = x.shape
    f, _, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    pt, pb = tf_pads(h, kh, sh, padding, dh)
    pl, pr = tf_pads(wd, kw, sw, padding, dw)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr)))
    keh, kew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    oh, ow = (xp.shape[1] - keh) // sh + 1, (xp.shape[2] - kew) // sw + 1
    out = np.zeros((f, oh, ow))
    for o in range(f):
        for r in range(oh):
            for q in range(ow):
                patch = xp[:, r * sh : r * sh + keh : dh, q * sw : q * sw + kew : dw]
                out[o, r, q] = np.sum(patch * w[o]) + (0.0 if b is None else b[o])
    return out


def keras_deconv_length(i: int, k: int, s: int, padding: str, output_padding, d: int = 1) -> int:
    """Keras ``deconv_output_length`` (keras/src/utils/conv_utils / backend_utils)."""
    ke = (k - 1) * d + 1
    if output_padding is None:
        return i * s + max(ke - s, 0) if padding == "valid" else i * s
    pad = ke // 2 if padding == "same" else 0
    return (i - 1) * s + ke - 2 * pad + output_padding


def conv2d_transpose(x, w, b, stride, padding, output_padding=None, dilation=(1, 1)):
    """x (C, H, W), w (C, F, kh, kw) -> Keras Conv2DTranspose output, by scatter-add then crop."""
    c, h, wd = x.shape
    _, f, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    full = np.zeros((f, (h - 1) * sh + (kh - 1) * dh + 1, (wd - 1) * sw + (kw - 1) * dw + 1))
    for ci in range(c):
        for r in range(h):
            for q in range(wd):
                for a in range(kh):
                    for e in range(kw):
                        full[:, r * sh + a * dh, q * sw + e * dw] += x[ci, r, q] * w[ci, :, a, e]
    ops = output_padding or (None, None)
    nh = keras_deconv_length(h, kh, sh, padding, ops[0], dh)
    nw = keras_deconv_length(wd, kw, sw, padding, ops[1], dw)
    out = np.zeros((f, nh, nw))
    top = max(full.shape[1] - nh, 0) // 2
    left = max(full.shape[2] - nw, 0) // 2
    part = full[:, top : top + nh, left : left + nw]
    out[:, : part.shape[1], : part.shape[2]] = part  # Keras's missing tail stays zero
    return out + (0.0 if b is None else np.asarray(b)[:, None, None])


def pool2d(x, k, s, padding, mode):
    """x (C, H, W); 'max' ignores the padding, 'avg' averages the real pixels of each window."""
    c, h, w = x.shape
    pt, pb = tf_pads(h, k[0], s[0], padding)
    pl, pr = tf_pads(w, k[1], s[1], padding)
    oh, ow = (h + pt + pb - k[0]) // s[0] + 1, (w + pl + pr - k[1]) // s[1] + 1
    out = np.zeros((c, oh, ow))
    switches = np.zeros((c, oh, ow), dtype=np.int64)
    for ch in range(c):
        for r in range(oh):
            for q in range(ow):
                r0, q0 = r * s[0] - pt, q * s[1] - pl
                rows = range(max(r0, 0), min(r0 + k[0], h))
                cols = range(max(q0, 0), min(q0 + k[1], w))
                vals = [(x[ch, i, j], i * w + j) for i in rows for j in cols]
                if mode == "max":
                    best = max(v for v, _ in vals)
                    out[ch, r, q] = best
                    switches[ch, r, q] = next(p for v, p in vals if v == best)
                else:
                    out[ch, r, q] = sum(v for v, _ in vals) / len(vals)
    return out, switches


def resize_bilinear_half_pixel(x, sh, sw):
    """TF ``resize_bilinear(half_pixel_centers=True)``: in = (out + 0.5) / s - 0.5, lower = max(floor, 0),
    upper = min(ceil, n - 1), weight = in - floor(in)."""

    def axis_weights(n, s):
        m = np.zeros((n * s, n))
        for u in range(n * s):
            src = (u + 0.5) / s - 0.5
            lo, hi = max(math.floor(src), 0), min(math.ceil(src), n - 1)
            t = src - math.floor(src)
            m[u, lo] += 1 - t
            m[u, hi] += t
        return m

    _, h, w = x.shape
    mh, mw = axis_weights(h, sh), axis_weights(w, sw)
    return np.einsum("uh,chw,vw->cuv", mh, x, mw)


def unpool(x, switches, out_hw):
    """Values to flat switch positions, row-major window order, the last write wins."""
    c = x.shape[0]
    out = np.zeros((c, out_hw[0] * out_hw[1]))
    for ch in range(c):
        for v, p in zip(x[ch].ravel(), switches[ch].ravel(), strict=True):
            out[ch, p] = v
    return out.reshape(c, *out_hw)
