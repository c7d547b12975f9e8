"""Bjøntegaard delta rate (BD-rate): the average rate difference between two rate-quality
curves at equal quality, in percent (negative: the test codec needs fewer bits).

Interpolation: piecewise cubic Hermite (PCHIP, Fritsch-Carlson monotone slopes, as
`scipy.interpolate.PchipInterpolator` computes them) of log10(rate) as a function of the
quality, integrated exactly over the quality range both curves cover:

    BD-rate = 10 ** ( (∫ log10 R_test(Q) dQ - ∫ log10 R_anchor(Q) dQ) / (Q_hi - Q_lo) ) - 1

This is the method of the JCT-VC / JVET common-test-conditions Excel sheets (JCTVC-L1100,
JVET-T2010), which replaced the single cubic polynomial fit of the original proposal
(G. Bjøntegaard, VCEG-M33, 2001) because that fit overshoots on some curves; `method="cubic"`
gives the VCEG-M33 polynomial for comparison. Checked against the JCTVC-E137 worked examples
in tests/test_bdrate.py.

Any number of points >= 2 per curve is accepted (two points: linear in log-rate). The quality
must rise strictly with the rate on both curves, otherwise the interpolation is not a function
and `bd_rate` reports why instead of a number. For metrics where lower is better (E_warp,
LPIPS, DISTS) pass `higher_is_better=False`: the quality is negated first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INTERPOLATION = ("PCHIP (piecewise cubic Hermite) of log10(rate) over quality, integrated over "
                 "the overlapping quality range, as in the JCT-VC/JVET CTC Excel sheets "
                 "(JCTVC-L1100, JVET-T2010)")


@dataclass(frozen=True)
class BDResult:
    """A BD-rate in percent, or None with the reason it could not be computed."""

    value: float | None
    reason: str | None = None


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test, *,
            higher_is_better: bool = True, method: str = "pchip",
            names: tuple[str, str] = ("anchor", "test")) -> BDResult:
    """BD-rate (%) of the test curve against the anchor; see the module docstring.
    `names` name the two curves in the reason given when there is no number."""
    try:
        ra, qa = _curve(rate_anchor, quality_anchor, higher_is_better, names[0])
        rt, qt = _curve(rate_test, quality_test, higher_is_better, names[1])
    except ValueError as e:
        return BDResult(None, str(e))
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if not hi > lo:
        return BDResult(None, "the two curves do not overlap in quality")
    ia = _integral(qa, np.log10(ra), lo, hi, method)
    it = _integral(qt, np.log10(rt), lo, hi, method)
    return BDResult(float((10 ** ((it - ia) / (hi - lo)) - 1) * 100))


def bd_quality(rate_anchor, quality_anchor, rate_test, quality_test, *,
               higher_is_better: bool = True) -> BDResult:
    """BD-quality (e.g. BD-PSNR in dB): the mean quality difference at equal log-rate."""
    try:
        ra, qa = _curve(rate_anchor, quality_anchor, higher_is_better, "anchor")
        rt, qt = _curve(rate_test, quality_test, higher_is_better, "test")
    except ValueError as e:
        return BDResult(None, str(e))
    la, lt = np.log10(ra), np.log10(rt)
    lo, hi = max(la[0], lt[0]), min(la[-1], lt[-1])
    if not hi > lo:
        return BDResult(None, "the two curves do not overlap in rate")
    diff = _integral(lt, qt, lo, hi, "pchip") - _integral(la, qa, lo, hi, "pchip")
    sign = 1 if higher_is_better else -1  # back to the metric's own direction
    return BDResult(float(sign * diff / (hi - lo)))


def _curve(rate, quality, higher_is_better: bool, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by rate, quality negated when lower is better; ValueError when unusable."""
    r = np.asarray(rate, dtype=float)
    q = np.asarray(quality, dtype=float)
    if r.shape != q.shape or r.ndim != 1:
        raise ValueError(f"{name}: rates and qualities differ in length")
    keep = np.isfinite(r) & np.isfinite(q)
    r, q = r[keep], q[keep]
    if len(r) < 2:
        raise ValueError(f"{name}: fewer than 2 points with a finite value")
    if np.any(r <= 0):
        raise ValueError(f"{name}: rates must be positive")
    if not higher_is_better:
        q = -q
    order = np.argsort(r)
    r, q = r[order], q[order]
    if np.any(np.diff(r) <= 0) or np.any(np.diff(q) <= 0):
        raise ValueError(f"{name}: quality does not rise strictly with rate")
    return r, q


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    if method == "pchip":
        from scipy.interpolate import PchipInterpolator

        return float(PchipInterpolator(x, y).integrate(lo, hi))
    if method == "cubic":  # VCEG-M33: one polynomial of degree min(3, n-1), least squares
        p = np.polyint(np.polyfit(x, y, min(3, len(x) - 1)))
        return float(np.polyval(p, hi) - np.polyval(p, lo))
    raise ValueError(f"unknown BD interpolation {method!r} (pchip or cubic)")

