"""RGB24 <-> Y'CbCr 4:2:0, 8 bits, BT.601 limited range, in integer arithmetic (numpy).

What the `av1` backbone codes and decodes (bitstream_spec.md, section 15, "stem", "AV1
backbone"). The decoder side is integer arithmetic, so every machine reconstructs the same RGB
samples from the same planes. Coefficients are BT.601 (ITU-R BT.601, limited range) scaled
by 2^16 and rounded:

    Y  = (( 16829 R + 33039 G +  6416 B + 2^15) >> 16) + 16
    Cb = 2x2 sum of ( -9714 R - 19071 G + 28784 B), then (sum + 2^17) >> 18, + 128
    Cr = 2x2 sum of ( 28784 R - 24103 G -  4681 B), then (sum + 2^17) >> 18, + 128

    C = Y - 16, D = Cb - 128, E = Cr - 128 (Cb, Cr upsampled first)
    R = clip((76309 C             + 104597 E + 2^15) >> 16)
    G = clip((76309 C -  25675 D -  53279 E + 2^15) >> 16)
    B = clip((76309 C + 132201 D             + 2^15) >> 16)

Chroma is sited at the centre of each 2x2 block (box filter down); up, each output sample is
(9 a + 3 b + 3 c + d + 8) >> 4 of its four nearest chroma samples, edges replicated.
Frame sides must be even (callers pad). The decoder side runs compiled by Numba when it is
installed (`yuv420_jit`, the same integers), and so does the encoder's (3.3 -> 0.5 ms a
640x360 frame); the numpy code here is the fallback and the reference the tests compare it
with.
"""

from __future__ import annotations

import numpy as np

from . import yuv420_jit


def rgb_to_yuv420(rgb: np.ndarray, compiled: bool = True) -> np.ndarray:
    """HxWx3 uint8 (H, W even) -> (3H/2)xW uint8 planes Y, then U, then V (PyAV's yuv420p)."""
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"yuv420 needs even sides, got {w}x{h}")
    if compiled and yuv420_jit.AVAILABLE and rgb.dtype == np.uint8:
        return yuv420_jit.rgb_to_yuv420_kernel(rgb)
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    y = ((16829 * r + 33039 * g + 6416 * b + (1 << 15)) >> 16) + 16
    u = _down(-9714 * r - 19071 * g + 28784 * b)
    v = _down(28784 * r - 24103 * g - 4681 * b)
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = np.clip(y, 0, 255)
    out[h:] = np.concatenate([u.reshape(-1), v.reshape(-1)]).reshape(h // 2, w)
    return out


def _down(c: np.ndarray) -> np.ndarray:
    s = c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]
    return np.clip(((s + (1 << 17)) >> 18) + 128, 0, 255).astype(np.uint8)


def yuv420_to_rgb(planes: np.ndarray, h: int, w: int, compiled: bool = True) -> np.ndarray:
    """(3H/2)xW planes (as `rgb_to_yuv420` writes them) -> HxWx3 uint8, exact."""
    chroma = planes[h:].reshape(-1)
    n = (h // 2) * (w // 2)
    u = chroma[:n].reshape(h // 2, w // 2)
    v = chroma[n:2 * n].reshape(h // 2, w // 2)
    if compiled and yuv420_jit.AVAILABLE:
        return yuv420_jit.yuv420_to_rgb_kernel(np.ascontiguousarray(planes[:h]), u, v)
    y, u, v = planes[:h].astype(np.int64), u.astype(np.int64), v.astype(np.int64)
    d, e = upsample2x(u) - 128, upsample2x(v) - 128
    c = 76309 * (y - 16)
    half = 1 << 15
    rgb = np.stack([(c + 104597 * e + half) >> 16,
                    (c - 25675 * d - 53279 * e + half) >> 16,
                    (c + 132201 * d + half) >> 16], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def upsample2x(c: np.ndarray, compiled: bool = True) -> np.ndarray:
    """2x upsampling of a plane (integers 0..255), centre-sited, (3/4, 1/4) taps in each
    direction."""
    if compiled and yuv420_jit.AVAILABLE:
        return yuv420_jit.upsample2x_kernel(np.ascontiguousarray(c))
    c = c.astype(np.int64)
    p = np.pad(c, 1, mode="edge")
    hc, wc = c.shape
    out = np.empty((2 * hc, 2 * wc), np.int64)
    mid = p[1:-1, 1:-1]
    for dy in (0, 1):
        ny = p[2 * dy:2 * dy + hc, 1:-1]  # the row above (dy = 0) or below (dy = 1)
        for dx in (0, 1):
            nx = p[1:-1, 2 * dx:2 * dx + wc]
            nd = p[2 * dy:2 * dy + hc, 2 * dx:2 * dx + wc]
            out[dy::2, dx::2] = (9 * mid + 3 * ny + 3 * nx + nd + 8) >> 4
    return out
