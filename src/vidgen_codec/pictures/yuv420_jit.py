"""Y'CbCr 4:2:0 -> RGB24 compiled by Numba (issue 17: decoding at interactive speed).

The same integer arithmetic as `yuv420.yuv420_to_rgb` and `yuv420.upsample2x` (their numpy
code is the fallback and the reference), one output sample at a time in machine code: one
pass over the planes instead of a dozen int64 temporaries, about 15 ms -> 1 ms per 640x360
frame. Integer-only, so every path gives the same samples on every machine. Compiled on first
use and cached on disk (`vidgen_codec.jit`); without Numba `AVAILABLE` is False.
"""

from __future__ import annotations

import numpy as np

from ..jit import AVAILABLE, njit

__all__ = ["AVAILABLE", "upsample2x_kernel", "yuv420_to_rgb_kernel"]


@njit
def _tap(c, i, j, di, dj):
    """(9 a + 3 b + 3 c + d + 8) >> 4 around chroma sample (i, j) toward (i+di, j+dj), edges
    replicated."""
    hc, wc = c.shape
    i2 = min(max(i + di, 0), hc - 1)
    j2 = min(max(j + dj, 0), wc - 1)
    return (9 * np.int32(c[i, j]) + 3 * np.int32(c[i2, j]) + 3 * np.int32(c[i, j2])
            + np.int32(c[i2, j2]) + 8) >> 4


@njit
def upsample2x_kernel(c):  # pragma: no cover - compiled
    hc, wc = c.shape
    out = np.empty((2 * hc, 2 * wc), np.int32)
    for i in range(hc):
        for j in range(wc):
            for dy in range(2):
                for dx in range(2):
                    out[2 * i + dy, 2 * j + dx] = _tap(c, i, j, 2 * dy - 1, 2 * dx - 1)
    return out


@njit
def yuv420_to_rgb_kernel(y, u, v):  # pragma: no cover - compiled
    h, w = y.shape
    rgb = np.empty((h, w, 3), np.uint8)
    half = 1 << 15
    for i in range(h):
        ci, di = i >> 1, 2 * (i & 1) - 1
        for j in range(w):
            cj, dj = j >> 1, 2 * (j & 1) - 1
            d = _tap(u, ci, cj, di, dj) - 128
            e = _tap(v, ci, cj, di, dj) - 128
            c = 76309 * (np.int32(y[i, j]) - 16)
            r = (c + 104597 * e + half) >> 16
            g = (c - 25675 * d - 53279 * e + half) >> 16
            b = (c + 132201 * d + half) >> 16
            rgb[i, j, 0] = min(max(r, 0), 255)
            rgb[i, j, 1] = min(max(g, 0), 255)
            rgb[i, j, 2] = min(max(b, 0), 255)
    return rgb


@njit
def rgb_to_yuv420_kernel(rgb):  # pragma: no cover - compiled
    """The encoder's direction (`yuv420.rgb_to_yuv420`): (3H/2)xW planes, the same integers."""
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.empty((h * 3 // 2, w), np.uint8)
    hc, wc = h // 2, w // 2
    for i in range(h):
        for j in range(w):
            r, g, b = np.int64(rgb[i, j, 0]), np.int64(rgb[i, j, 1]), np.int64(rgb[i, j, 2])
            out[i, j] = min(max(((16829 * r + 33039 * g + 6416 * b + (1 << 15)) >> 16) + 16,
                                0), 255)
    for i in range(hc):
        for j in range(wc):
            su = np.int64(0)
            sv = np.int64(0)
            for dy in range(2):
                for dx in range(2):
                    r = np.int64(rgb[2 * i + dy, 2 * j + dx, 0])
                    g = np.int64(rgb[2 * i + dy, 2 * j + dx, 1])
                    b = np.int64(rgb[2 * i + dy, 2 * j + dx, 2])
                    su += -9714 * r - 19071 * g + 28784 * b
                    sv += 28784 * r - 24103 * g - 4681 * b
            k = i * wc + j  # U then V, each hc x wc, row-major, packed into rows of w
            ku, kv = k, hc * wc + k
            out[h + ku // w, ku % w] = min(max(((su + (1 << 17)) >> 18) + 128, 0), 255)
            out[h + kv // w, kv % w] = min(max(((sv + (1 << 17)) >> 18) + 128, 0), 255)
    return out
