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
def _up_rows(src, out):
    """out (2h, w) int64: the taps' sums down each column of src (h, w), no rounding."""
    h, w = src.shape
    for y in range(2 * h):
        i = y >> 1
        for x in range(w):
            acc = 0
            for k in range(6):
                if y & 1:
                    r = min(max(i - 2 + k, 0), h - 1)
                    acc += TAPS_ODD[k] * np.int64(src[r, x])
                else:
                    r = min(max(i - 3 + k, 0), h - 1)
                    acc += TAPS_EVEN[k] * np.int64(src[r, x])
            out[y, x] = acc


def _up_plane(plane: np.ndarray) -> np.ndarray:
    """One plane (h, w) -> (2h, 2w) uint8: columns first, then rows on the sums, rounded."""
    h, w = plane.shape
    cols = np.empty((2 * h, w), np.int64)
    _up_rows(np.ascontiguousarray(plane, np.int64), cols)
    both = np.empty((2 * w, 2 * h), np.int64)
    _up_rows(np.ascontiguousarray(cols.T), both)
    return np.clip((both.T + 8192) >> 14, 0, 255).astype(np.uint8)


def upsample2x_rgb(pic: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> 2Hx2Wx3 uint8."""
    return np.stack([_up_plane(pic[..., c]) for c in range(3)], -1)
