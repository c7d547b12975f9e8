"""2x upsampling of an RGB picture with integer Lanczos-3 taps (centre-sited), exact.

The reduced-scale backbones of a synthesised stem GOP (bitstream_spec.md, stem, "GOP header")
come back to full size through this filter: sharper than the (9, 3, 3, 1) / 16 rule of
`yuv420.upsample2x` that older GOPs use. Output sample 2i sits at input coordinate i - 1/4 and
2i + 1 at i + 1/4; the 6 taps are the Lanczos kernel (a = 3, Duchon 1979) at those distances,
normalised and rounded to sum 128:

    phase +1/4 (2i + 1): inputs i-2 .. i+3, weights  4 -17 114  35  -9   1
    phase -1/4 (2i):     inputs i-3 .. i+2, weights  1  -9  35 114 -17   4

Columns first (sums kept, no rounding), then rows, (sum + 2^13) >> 14, clipped to 0..255;
input indexes are clamped to the picture (edges replicated). Integer-only: every machine and
thread count gives the same samples. Compiled by Numba (`vidgen_codec.jit`).
"""

from __future__ import annotations

import numpy as np

from ..jit import njit

TAPS_ODD = np.array([4, -17, 114, 35, -9, 1], np.int32)  # inputs i-2 .. i+3
TAPS_EVEN = TAPS_ODD[::-1].copy()  # inputs i-3 .. i+2


@njit
def _up_plane(src, out):
    h, w = src.shape
    tmp = np.empty((2 * h, w), np.int32)
    for y in range(2 * h):
        i = y >> 1
        for x in range(w):
            acc = 0
            for k in range(6):
                if y & 1:
                    r = i - 2 + k
                    t = TAPS_ODD[k]
                else:
                    r = i - 3 + k
                    t = TAPS_EVEN[k]
                r = min(max(r, 0), h - 1)
                acc += t * np.int32(src[r, x])
            tmp[y, x] = acc
    for y in range(2 * h):
        for x in range(2 * w):
            j = x >> 1
            acc = 0
            for k in range(6):
                if x & 1:
                    c = j - 2 + k
                    t = TAPS_ODD[k]
                else:
                    c = j - 3 + k
                    t = TAPS_EVEN[k]
                c = min(max(c, 0), w - 1)
                acc += t * tmp[y, c]
            v = (acc + 8192) >> 14
            out[y, x] = min(max(v, 0), 255)


def upsample2x_rgb(pic: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> 2Hx2Wx3 uint8."""
    h, w = pic.shape[:2]
    out = np.empty((2 * h, 2 * w, 3), np.uint8)
    for c in range(3):
        plane = np.empty((2 * h, 2 * w), np.uint8)
        _up_plane(np.ascontiguousarray(pic[..., c]), plane)
        out[..., c] = plane
    return out
