"""Probability tables of the motion codec: discretized Laplace laws and 3-way mode laws.

Built once, in float64, when weights are exported and then stored in the STEM weights as
integer CDFs (like the intra model's Gaussian tables), so every machine codes with the same
integers. Layout is that of `entropy.CdfTable`: table i covers symbols offset_i .. offset_i +
n_i - 1 and its last interval is the escape symbol for values outside that range.

    Laplace(b): p(k) = F(k + 1/2) - F(k - 1/2) on k in [-R, R], R = clamp(ceil(10 b), 2, 255),
    the tail mass 1 - sum p(k) goes to the escape symbol.
"""

from __future__ import annotations

import math

import numpy as np

PRECISION = 16  # CDF totals are 2^16
MAX_RADIUS = 255

# Scales of the Laplace tables: 0.12 * 1.45^i, i = 0..15 (0.12 .. 31 in quantized MV units).
LAPLACE_SCALES = tuple(0.12 * 1.45**i for i in range(16))
# Probability of "blend" in the mode tables; "forward only" and "backward only" share the rest.
MODE_P_BLEND = (0.5, 0.7, 0.85, 0.93, 0.97, 0.99)
# Probability of "non-zero" in the significance tables of sparse fields.
SIG_P1 = (0.003, 0.007, 0.015, 0.03, 0.05, 0.08, 0.12, 0.18, 0.26, 0.36, 0.5, 0.65)


def quantize_pmf(pmf: np.ndarray, escape: float) -> list[int]:
    """CDF with total 2^16 for pmf + [escape]; every symbol gets a frequency of at least 1."""
    probs = np.append(np.asarray(pmf, np.float64), max(escape, 0.0))
    total = 1 << PRECISION
    n = probs.size
    freq = np.maximum(1, np.floor(probs / probs.sum() * (total - n) + 0.5).astype(np.int64))
    freq[np.argmax(freq)] += total - int(freq.sum())  # the largest absorbs the rounding
    if freq.min() < 1:
        raise ValueError("table too large for 16-bit precision")
    return [0] + np.cumsum(freq).tolist()


def laplace_table(scale: float) -> tuple[list[int], int]:
    """(CDF, offset) of the discretized Laplace law of `scale` (see module docstring)."""
    r = min(max(math.ceil(10 * scale), 2), MAX_RADIUS)
    k = np.arange(-r, r + 1, dtype=np.float64)

    def cdf(x):
        return np.where(x < 0, 0.5 * np.exp(x / scale), 1 - 0.5 * np.exp(-x / scale))

    pmf = cdf(k + 0.5) - cdf(k - 0.5)
    return quantize_pmf(pmf, 1.0 - pmf.sum()), -r


def mode_table(p_blend: float) -> tuple[list[int], int]:
    rest = (1 - p_blend) / 2
    return quantize_pmf(np.array([p_blend, rest, rest]), 1e-6), 0


def sig_table(p1: float) -> tuple[list[int], int]:
    return quantize_pmf(np.array([1 - p1, p1]), 1e-6), 0


def build_tables() -> dict[str, np.ndarray]:
    """All motion tables as padded int32 arrays: {name}_cdf (T, L), _length (T,), _offset (T,)."""
    out = {}
    for name, tables in (("mv", [laplace_table(s) for s in LAPLACE_SCALES]),
                         ("mode", [mode_table(p) for p in MODE_P_BLEND]),
                         ("sig", [sig_table(p) for p in SIG_P1])):
        width = max(len(c) for c, _ in tables)
        cdf = np.zeros((len(tables), width), np.int32)
        for i, (c, _) in enumerate(tables):
            cdf[i, :len(c)] = c
        out[f"{name}_cdf"] = cdf
        out[f"{name}_length"] = np.array([len(c) for c, _ in tables], np.int32)
        out[f"{name}_offset"] = np.array([o for _, o in tables], np.int32)
    return out
