"""Discretized Gaussian and Laplace CDF tables that come out bit-identical on every machine.

For codecs whose tables are not stored with their weights (the intra codec's are: compressai's
`_quantized_cdf` buffers in model.safetensors). A table for scale s codes the integers
-h .. h (h from the scale) plus an escape symbol holding the mass outside them:

    scales -> probability masses in float64               (_gaussian_masses, _laplace_masses)
           -> quantize_masses: integer frequencies >= 1 summing to 2^16
           -> CdfTable(cdfs, cdf_lengths, offsets = -h)

Why the same bits everywhere: the masses use only float64 +, -, *, / (IEEE 754 requires them
correctly rounded, so every conforming CPU or GPU gives the same result for the same operands),
floor and ldexp (exact). Each operation is a separate numpy call in a fixed order, so nothing
is contracted into a fused multiply-add. exp and erf, whose last bits differ between C
libraries, are replaced by fixed-length series written here (`_exp_neg`, `_gauss_upper_tail`).
Quantization after that is integer arithmetic with index-ordered tie breaks.
"""

from __future__ import annotations

import numpy as np

from .backend import CdfTable
from .rans_format import TOTAL

GAUSS_HALF_WIDTH = 5.0  # h = ceil(5 * scale): the escape mass is 2 Q(5 + 0.5 / s) < 6e-7
LAPLACE_HALF_WIDTH = 12.0  # h = ceil(12 * b): the escape mass is exp(-(h + 0.5) / b) < 7e-6
MAX_HALF_WIDTH = 16383  # at most 32767 values per table (all frequencies must be >= 1)

_LN2_HI = 0.693145751953125  # ln 2 split so that k * _LN2_HI is exact for k < 2^11
_LN2_LO = 1.4286068203094173e-06
_INV_LN2 = 1.4426950408889634
_INV_SQRT2 = 0.7071067811865476
_TWO_OVER_SQRT_PI = 1.1283791670955126


def gaussian_table(scales) -> CdfTable:
    """Zero-mean Gaussians of standard deviation `scales[k]`, discretized to the integers
    (the mass of [v - 0.5, v + 0.5], as compressai's GaussianConditional), one table each."""
    return _build(scales, GAUSS_HALF_WIDTH, _gaussian_masses)


def laplace_table(scales) -> CdfTable:
    """Zero-mean Laplace distributions of scale b = `scales[k]` (std sqrt(2) b), discretized to
    the integers, one table each (e.g. for motion-vector differences)."""
    return _build(scales, LAPLACE_HALF_WIDTH, _laplace_masses)


def quantize_masses(masses: np.ndarray) -> np.ndarray:
    """Integer frequencies >= 1 summing to 2^16 for probability masses (float64, sum ~ 1).

    floor(p * 2^16), raised to 1; a shortfall goes +1 at a time to the largest remainders, an
    excess -1 at a time to the largest frequencies (ties: lower index first).
    """
    p = np.asarray(masses, np.float64) * TOTAL
    base = np.floor(p)
    freq = np.maximum(base.astype(np.int64), 1)
    m = freq.size
    if m > TOTAL:
        raise ValueError(f"{m} symbols cannot all have a frequency >= 1 at 16-bit precision")
    order_idx = np.arange(m)
    rem = p - base
    while (short := TOTAL - int(freq.sum())) != 0:
        if short > 0:
            order = np.lexsort((order_idx, -rem))[:short]
            freq[order] += 1
            rem[order] = -1.0  # one round per entry before any gets a second
            if np.all(rem < 0):
                rem[:] = 0.0
        else:
            order = np.lexsort((order_idx, -freq))[:min(-short, int(np.count_nonzero(freq > 1)))]
            freq[order] -= 1
    return freq


def _build(scales, width: float, masses_fn) -> CdfTable:
    scales = np.asarray(scales, np.float64).reshape(-1)
    if scales.size == 0 or not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise ValueError("scales must be finite and > 0")
    cdfs, lengths, offsets = [], [], []
    for s in scales:
        h = int(min(np.ceil(s * width), MAX_HALF_WIDTH))
        values, tail = masses_fn(float(s), h)
        freq = quantize_masses(np.concatenate([values, [tail]]))
        cdfs.append([0] + np.cumsum(freq).tolist())
        lengths.append(freq.size + 1)
        offsets.append(-h)
    return CdfTable(cdfs, lengths, offsets)


def _gaussian_masses(s: float, h: int) -> tuple[np.ndarray, float]:
    """Masses of -h .. h and of the outside, for N(0, s^2)."""
    k = np.arange(0, h + 1, dtype=np.float64)
    q = _gauss_upper_tail((k + 0.5) / s)  # q[k] = P(X > k + 0.5), X ~ N(0, s^2)
    half = q[:-1] - q[1:]  # P(v - 0.5 < X < v + 0.5) for v = 1 .. h
    center = 1.0 - 2.0 * q[0]
    return np.concatenate([half[::-1], [center], half]), 2.0 * q[h]


def _laplace_masses(b: float, h: int) -> tuple[np.ndarray, float]:
    """Masses of -h .. h and of the outside, for Laplace(0, b)."""
    k = np.arange(0, h + 1, dtype=np.float64)
    q = 0.5 * _exp_neg((k + 0.5) / b)  # P(X > k + 0.5)
    half = q[:-1] - q[1:]  # v = 1 .. h
    center = 1.0 - 2.0 * q[0]
    return np.concatenate([half[::-1], [center], half]), 2.0 * q[h]


def _exp_neg(w: np.ndarray) -> np.ndarray:
    """exp(-w) for 0 <= w < 700 with +, -, *, /, floor and ldexp only.

    w = k ln2 + r with 0 <= r < ln2 (Cody-Waite split of ln 2), exp(-r) by its Taylor
    series (Horner, 27 terms: the remainder is below 1e-30), then scaled by 2^-k exactly.
    """
    w = np.asarray(w, np.float64)
    k = np.floor(w * _INV_LN2)
    r = (w - k * _LN2_HI) - k * _LN2_LO
    p = np.ones_like(r)
    for i in range(27, 0, -1):
        p = 1.0 - (r * p) / float(i)
    return np.ldexp(p, -k.astype(np.int64))


def _gauss_upper_tail(a: np.ndarray) -> np.ndarray:
    """Q(a) = P(X > a) for a standard normal X and a >= 0 (0 where a / sqrt 2 >= 6).

    erf(u) = 2/sqrt(pi) exp(-u^2) sum_n (2u^2)^n u / (1 3 5 ... (2n+1)), a series of positive
    terms (no cancellation), summed over 150 terms (enough for u < 6), and Q = (1 - erf) / 2.
    """
    u = np.minimum(np.asarray(a, np.float64) * _INV_SQRT2, 6.0)
    two_u2 = 2.0 * (u * u)
    term = u.copy()
    total = u.copy()
    for n in range(1, 150):
        term = (term * two_u2) / float(2 * n + 1)
        total = total + term
    erf = (_TWO_OVER_SQRT_PI * _exp_neg(u * u)) * total
    q = 0.5 * (1.0 - erf)
    return np.where(u >= 6.0, 0.0, np.maximum(q, 0.0))
