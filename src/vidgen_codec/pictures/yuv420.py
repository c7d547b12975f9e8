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
Frame sides must be even (callers pad).

Two paths give the same samples: the numpy code here, in int16 and int32 (every intermediate
is below 2^26 in magnitude), the fallback and the reference the tests compare with; and
`yuv420_jit`, the same integers compiled by Numba. At 640x360 numpy takes 1.7-3.6 and 1.5-4.9
ms a frame (RGB to 4:2:0, and back; this machine's speed drifts 2x), the kernels 0.8 and 1.8
ms; but a fresh process spends 0.4-1 s importing Numba and loading the cached kernels
(`benchmarks/colour.py`), which a 60-frame command would wait for (issue 31). So a process
converts with numpy until it has converted TIER_PIXELS pixels, about where the kernels would
have paid for their start on the slower measurement, or until another kernel has loaded
Numba, and with the kernels from then on (`jit.Tier`, process-wide state that only ever
changes speed). A job that knows its size says it first (`expect`: `api.encode` counts its
frames at full size, `api.decode` the frames it decodes), so a long one starts with the
kernels; worker processes (`--workers`) count their own conversions.
"""

from __future__ import annotations

import numpy as np

from .. import jit
from . import yuv420_jit

TIER_PIXELS = 30_000_000  # about 130 frames of 640x360 or 32 of 1280x720, then compiled
_TIER = jit.Tier(TIER_PIXELS)
_Y = ((16829, 33039, 6416),)
_UV = ((-9714, -19071, 28784), (28784, -24103, -4681))
_RGB = ((0, 104597), (-25675, -53279), (132201, 0))  # (D, E) coefficients of R, G, B


def rgb_to_yuv420(rgb: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """HxWx3 uint8 (H, W even) -> (3H/2)xW uint8 planes Y, then U, then V (PyAV's yuv420p).
    `compiled`: True the Numba kernel (when installed), False numpy, None as the tier says."""
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"yuv420 needs even sides, got {w}x{h}")
    if _compiled(compiled, h * w) and rgb.dtype == np.uint8:
        return yuv420_jit.rgb_to_yuv420_kernel(rgb)
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = _weighted(rgb, _Y, 1 << 15, 16, 16)[0]
    # the 2x2 sums of R, G and B (at most 1020): the chroma rows are linear, so summing
    # before weighting is exact
    sums = rgb[0::2, 0::2].astype(np.int16)
    for dy, dx in ((1, 0), (0, 1), (1, 1)):
        sums += rgb[dy::2, dx::2]
    u, v = _weighted(sums, _UV, 1 << 17, 18, 128)
    out[h:] = np.concatenate([u.reshape(-1), v.reshape(-1)]).reshape(h // 2, w)
    return out


def _weighted(pix: np.ndarray, rows, half: int, shift: int, offset: int) -> list[np.ndarray]:
    """For each row (kr, kg, kb) of weights: clip(((kr R + kg G + kb B + half) >> shift) +
    offset, 0, 255) as uint8, R, G, B the last axis of `pix`, summed in int32."""
    acc = np.empty(pix.shape[:2], np.int32)
    term = np.empty_like(acc)
    out = []
    for weights in rows:
        np.multiply(pix[..., 0], weights[0], out=acc, dtype=np.int32)
        for c in (1, 2):
            np.multiply(pix[..., c], weights[c], out=term, dtype=np.int32)
            acc += term
        out.append(_clip(acc, half, shift, offset).astype(np.uint8))  # acc is reused
    return out


def _clip(acc: np.ndarray, half: int, shift: int, offset: int) -> np.ndarray:
    """clip(((acc + half) >> shift) + offset, 0, 255), in place in `acc` (returned)."""
    acc += half
    acc >>= shift
    acc += offset
    return np.clip(acc, 0, 255, out=acc)


def yuv420_to_rgb(planes: np.ndarray, h: int, w: int, compiled: bool | None = None) -> np.ndarray:
    """(3H/2)xW planes (as `rgb_to_yuv420` writes them) -> HxWx3 uint8, exact. `compiled` as
    for `rgb_to_yuv420`."""
    chroma = planes[h:].reshape(-1)
    n = (h // 2) * (w // 2)
    u = chroma[:n].reshape(h // 2, w // 2)
    v = chroma[n:2 * n].reshape(h // 2, w // 2)
    if _compiled(compiled, h * w):
        return yuv420_jit.yuv420_to_rgb_kernel(np.ascontiguousarray(planes[:h]), u, v)
    d = _up16(u)
    d -= 128
    e = _up16(v)
    e -= 128
    c = planes[:h].astype(np.int32)
    c -= 16
    c *= 76309
    rgb = np.empty((h, w, 3), np.uint8)
    acc = np.empty_like(c)
    term = np.empty_like(c)
    for i, (kd, ke) in enumerate(_RGB):
        np.copyto(acc, c)
        for k, x in ((kd, d), (ke, e)):
            if k:
                np.multiply(x, k, out=term, dtype=np.int32)
                acc += term
        rgb[..., i] = _clip(acc, 1 << 15, 16, 0)
    return rgb


def upsample2x(c: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """2x upsampling of a plane (integers 0..255: the int16 numpy path wraps outside them, so
    the two paths agree only there) to int32, centre-sited, (3/4, 1/4) taps in each
    direction. `compiled` as for `rgb_to_yuv420`."""
    if _compiled(compiled, 4 * c.size):
        return yuv420_jit.upsample2x_kernel(np.ascontiguousarray(c))
    return _up16(c).astype(np.int32)


def _up16(c: np.ndarray) -> np.ndarray:
    """`upsample2x` in int16 (every sum is at most 16 x 255 + 8): 16 x an output sample is
    9 a + 3 b + 3 c + d, the (3, 1) taps down the columns, then the same along the rows."""
    p = np.pad(c.astype(np.int16), 1, mode="edge")
    hc, wc = c.shape
    out = np.empty((2 * hc, 2 * wc), np.int16)
    mid = 3 * p[1:-1]
    for dy, near in ((0, p[:-2]), (1, p[2:])):  # toward the row above, then below
        col = mid + near  # every column of the padding
        col_mid = 3 * col[:, 1:-1]
        rows = out[dy::2]
        np.add(col_mid, col[:, :-2], out=rows[:, 0::2])
        np.add(col_mid, col[:, 2:], out=rows[:, 1::2])
    out += 8
    out >>= 4
    return out


def expect(pixels: int) -> None:
    """A job that will convert about `pixels` pixels says so before its first frame, so that a
    long one uses the kernels from the start (`jit.Tier.expect`)."""
    _TIER.expect(pixels)


def _compiled(asked: bool | None, pixels: int) -> bool:
    if asked is None:
        return _TIER.compiled(pixels)
    return asked and yuv420_jit.AVAILABLE
