"""A fast luma SSIM and MS-SSIM; the single-scale one is the structure search's measure
(issue 30, part 2).

SSIM and MS-SSIM (Wang, Bovik, Sheikh, Simoncelli 2004; Wang, Simoncelli, Bovik, "Multi-scale
structural similarity for image quality assessment", 2003, its scales' exponents) over BT.601
luma, computed the way x264 computes its SSIM: on 8x8 windows at a stride of 4, each the sum of
2x2 blocks of 4x4 sums, rather than on 11x11 Gaussian windows at every pixel. Each coarser scale
is the 2x2 sum of the one before (kept as integers: the window sums are exact), so a 640x360
frame costs about 1 ms on one core, against about 12 ms for luma PSNR (`metrics.psnr_y`).

    luma Y = (16829 R + 33039 G + 6416 B + 2^15) >> 16        (yuv420's, without its +16)
    scale 0: Y; scale k+1: 2x2 sums of scale k (sides floored to even)
    per scale, per 8x8 window (stride 4) of N = 64 samples, each a sum of 4^k luma values:
        mx = Sx / N, vx = Sxx / N - mx^2, cxy = Sxy / N - mx my   (in units of 4^k luma)
        l = (2 mx my + C1) / (mx^2 + my^2 + C1), cs = (2 cxy + C2) / (vx + vy + C2)
        with C1 = (0.01 * 255 * 4^k)^2, C2 = (0.03 * 255 * 4^k)^2
    SSIM = mean (l cs) at scale 0
    MS-SSIM = prod_{k < M-1} max(mean cs_k, 0)^w_k * max(mean (l cs)_{M-1}, 0)^w_{M-1}
M is 5, or fewer while the coarsest scale's short side would be under 8; the exponents are then
renormalised to sum to 1. Frames are used as they are (no padding).

Why single-scale SSIM: over 23 GOPs of the search's candidates scored by ColorVideoVDP
(benchmarks/search_measure.py, benchmarks/RESULTS.md), choosing by luma PSNR gave away 0.073
JOD on average against the best candidate, by this MS-SSIM 0.051, by this SSIM 0.036. MS-SSIM's
coarse scales, two thirds of its weight, do not see how blurred a quarter-scale backbone of a
176x144 clip is (44x36 pictures): it cost 0.69 JOD on the talking head at 0.0025 bpp.
"""

from __future__ import annotations

import math

import numpy as np

from ..jit import njit

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, scales fine to coarse
WINDOW = 8  # window side; the stride (4) and the block sums are the kernels'


def scales(height: int, width: int) -> int:
    """How many scales a frame of this size gets (at least 1; frames under 8 px have none)."""
    side = min(height, width)
    if side < WINDOW:
        raise ValueError(f"SSIM needs frames of at least {WINDOW}x{WINDOW}, got {width}x{height}")
    m = 1
    while m < len(WEIGHTS) and side >> m >= WINDOW:
        m += 1
    return m


def scale_terms(a: np.ndarray, b: np.ndarray, m: int | None = None) -> list[tuple[float, float]]:
    """(mean of l * cs, mean of cs) over the windows of each scale, fine to coarse: all the
    frame's scales (`scales`), or the first m."""
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"need two HxWx3 frames of one shape, got {a.shape} and {b.shape}")
    return _luma_terms(luma(a), luma(b), min(scales(*a.shape[:2]), m or len(WEIGHTS)))


def _luma_terms(x: np.ndarray, y: np.ndarray, m: int) -> list[tuple[float, float]]:
    """`scale_terms` of two frames' `luma` planes, its first m scales."""
    out = []
    for k in range(m):
        out.append(_windows(x, y, float((0.01 * 255 * 4 ** k) ** 2),
                            float((0.03 * 255 * 4 ** k) ** 2)))
        if k < m - 1:
            x, y = _down(x), _down(y)
    return out


def ms_ssim_from_terms(terms: list[tuple[float, float]]) -> float:
    """MS-SSIM from one frame's `scale_terms` (all its scales), in [0, 1]."""
    m = len(terms)
    w = np.array(WEIGHTS[:m]) / sum(WEIGHTS[:m])
    out = 1.0
    for k, (lcs, cs) in enumerate(terms):
        out *= max(lcs if k == m - 1 else cs, 0.0) ** w[k]
    return float(out)


def ms_ssim_y(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM of two HxWx3 uint8 RGB frames' luma, in [0, 1] (1.0 when they are equal)."""
    return ms_ssim_from_terms(scale_terms(a, b))


def ssim_y(a: np.ndarray, b: np.ndarray) -> float:
    """Single-scale SSIM of two HxWx3 uint8 RGB frames' luma: the mean of l * cs over the
    finest scale's 8x8 windows (the search's measure, `codecs/stem/candidate.score`)."""
    return float(scale_terms(a, b, 1)[0][0])


def ssim_luma(x: np.ndarray, y: np.ndarray) -> float:
    """`ssim_y` of two frames given as their `luma` planes (a caller that measures them
    otherwise too computes each plane once)."""
    return float(_luma_terms(x, y, 1)[0][0])


def mean_ssim_y(rec, real) -> float:
    """The mean over frames of `ssim_y` (two sequences of HxWx3 uint8 frames)."""
    return _mean(ssim_y, rec, real)


def mean_ms_ssim_y(rec, real) -> float:
    """The mean over frames of `ms_ssim_y` (two sequences of HxWx3 uint8 frames)."""
    return _mean(ms_ssim_y, rec, real)


def _mean(measure, rec, real) -> float:
    values = [measure(r, o) for r, o in zip(rec, real, strict=True)]
    if not values:
        raise ValueError("no frames to compare")
    return float(np.mean(values))


def db(value: float, cap: float = 99.0) -> float:
    """-10 log10(1 - value), capped: (MS-)SSIM on a scale that reads like PSNR."""
    return cap if value >= 1.0 else min(-10.0 * math.log10(1.0 - value), cap)


def luma(rgb: np.ndarray) -> np.ndarray:
    """The measures' luma of an HxWx3 uint8 RGB frame: (16829 R + 33039 G + 6416 B + 2^15) >> 16
    (BT.601 limited-range weights, without the offset of 16), int64."""
    return _luma(np.ascontiguousarray(rgb))


@njit
def _luma(rgb):
    h, w = rgb.shape[0], rgb.shape[1]
    out = np.empty((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            out[i, j] = (16829 * np.int64(rgb[i, j, 0]) + 33039 * np.int64(rgb[i, j, 1])
                         + 6416 * np.int64(rgb[i, j, 2]) + 32768) >> 16
    return out


@njit
def _down(x):
    h, w = x.shape[0] // 2, x.shape[1] // 2
    out = np.empty((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            out[i, j] = (x[2 * i, 2 * j] + x[2 * i + 1, 2 * j] + x[2 * i, 2 * j + 1]
                         + x[2 * i + 1, 2 * j + 1])
    return out


@njit
def _windows(x, y, c1, c2):
    """(mean of l * cs, mean of cs) over the 8x8 windows at stride 4 (see the module)."""
    bh, bw = x.shape[0] // 4, x.shape[1] // 4
    sums = np.zeros((5, bh, bw), np.int64)  # 4x4 block sums of x, y, xx, yy, xy
    for i in range(bh * 4):
        for j in range(bw * 4):
            p, q = x[i, j], y[i, j]
            bi, bj = i >> 2, j >> 2
            sums[0, bi, bj] += p
            sums[1, bi, bj] += q
            sums[2, bi, bj] += p * p
            sums[3, bi, bj] += q * q
            sums[4, bi, bj] += p * q
    n = 64.0
    lcs_sum, cs_sum, count = 0.0, 0.0, 0
    for i in range(bh - 1):
        for j in range(bw - 1):
            s = np.zeros(5, np.int64)
            for c in range(5):
                s[c] = (sums[c, i, j] + sums[c, i + 1, j] + sums[c, i, j + 1]
                        + sums[c, i + 1, j + 1])
            mx, my = s[0] / n, s[1] / n
            vx = s[2] / n - mx * mx
            vy = s[3] / n - my * my
            cxy = s[4] / n - mx * my
            cs = (2.0 * cxy + c2) / (vx + vy + c2)
            lum = (2.0 * mx * my + c1) / (mx * mx + my * my + c1)
            lcs_sum += lum * cs
            cs_sum += cs
            count += 1
    return lcs_sum / count, cs_sum / count
