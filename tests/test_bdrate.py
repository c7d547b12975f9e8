"""BD-rate: published worked examples, exact analytic cases, and the refusals.

Worked examples: the two rate/PSNR curve pairs of JCT-VC document JCTVC-E137 (5th meeting,
Geneva, 2011) with their BD-rates, -0.4652 % and -1.8780 %, as published in the test suite of
Netflix's VMAF (python/test/bd_rate_calculator_test.py, `BDrateCalculatorJCTVCTest`, which
states that its PCHIP calculator is validated against JCTVC-E137; the values there are
fractions, -0.00465215420752807 and -0.018779823450567612, checked to 4 places, i.e. to
0.005 percentage points).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vidgen_codec.eval.bdrate import bd_quality, bd_rate

E137 = [
    (  # anchor (rate, PSNR), test (rate, PSNR), published BD-rate in %
        [(108048.8736, 43.6471), (61279.976, 40.3953), (33905.6656, 37.247),
         (18883.6928, 34.2911)],
        [(108061.2784, 43.6768), (61299.9936, 40.4232), (33928.7472, 37.2761),
         (18910.912, 34.3147)],
        -0.00465215420752807 * 100,
    ),
    (
        [(40433.8848, 37.5761), (7622.7456, 35.3756), (2394.488, 33.8977),
         (1017.6184, 32.0603)],
        [(40370.12, 37.5982), (7587.0024, 35.4025), (2390.0944, 33.9194),
         (1017.0984, 32.0822)],
        -0.018779823450567612 * 100,
    ),
]


def split(points):
    return [r for r, _ in points], [q for _, q in points]


@pytest.mark.parametrize("anchor,test,published", E137)
def test_jctvc_e137_worked_examples(anchor, test, published):
    r = bd_rate(*split(anchor), *split(test))
    assert r.reason is None
    assert r.value == pytest.approx(published, abs=0.005)


@pytest.mark.parametrize("anchor,test,published", E137)
def test_cubic_vceg_m33_is_close_on_well_behaved_curves(anchor, test, published):
    r = bd_rate(*split(anchor), *split(test), method="cubic")
    assert r.value == pytest.approx(published, abs=0.1)


def test_identical_curves_are_zero():
    rates, q = split(E137[0][0])
    assert bd_rate(rates, q, rates, q).value == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("scale", [0.5, 0.8, 1.25])
def test_constant_rate_ratio_is_exact(scale):
    """A test curve that needs `scale` times the anchor's bits everywhere: BD-rate = scale - 1."""
    rates, q = split(E137[1][0])
    r = bd_rate(rates, q, [x * scale for x in rates], q)
    assert r.value == pytest.approx((scale - 1) * 100, abs=1e-9)


def test_analytic_pair_against_numerical_integration():
    """Anchor log10 R = g(Q), test log10 R = g(Q) - 0.05 (1 + sin(Q/4) / 4): the exact BD-rate is
    10**mean(delta) - 1 over the overlap; 6 points per curve must get within 0.2 %."""
    def g(q):
        return 0.002 * (q - 25) ** 3 / 3 + 0.05 * q - 0.5

    def delta(q):
        return -0.05 * (1 + np.sin(q / 4) / 4)

    qa, qt = np.linspace(28, 42, 6), np.linspace(29, 43, 6)
    dense = np.linspace(29, 42, 200001)
    exact = (10 ** np.mean(delta(dense)) - 1) * 100
    r = bd_rate(10 ** g(qa), qa, 10 ** (g(qt) + delta(qt)), qt)
    assert r.value == pytest.approx(exact, abs=0.2)
    assert exact == pytest.approx(-11.7, abs=0.5)  # the case is not trivially zero


def test_lower_is_better_metric():
    rates = np.array([100.0, 200, 400, 800])
    err_anchor = 1 / np.log(rates)  # falls as the rate rises
    r = bd_rate(rates, err_anchor, rates * 0.8, err_anchor, higher_is_better=False)
    assert r.value == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(rates, err_anchor, rates * 0.8, err_anchor).value is None  # wrong direction


def test_bd_quality_linear_shift():
    rates = [100, 200, 400, 800]
    q = [30 + 10 * math.log10(x) for x in rates]
    assert bd_quality(rates, q, rates, [v + 1 for v in q]).value == pytest.approx(1.0)


def test_refusals_name_the_reason():
    rates = [100, 200, 400, 800]
    good = [30, 33, 35, 37]
    r = bd_rate(rates, good, rates, [30, 34, 33, 37], names=("x264", "intra"))
    assert r.value is None and r.reason.startswith("intra: quality does not rise")
    r = bd_rate(rates, good, rates, [40, 41, 42, 43])
    assert r.value is None and "do not overlap" in r.reason
    r = bd_rate(rates[:1], good[:1], rates, good)
    assert r.value is None and "fewer than 2" in r.reason
    r = bd_rate(rates, [30, 33, float("nan"), 37], rates, good)
    assert r.value is not None  # a missing value leaves 3 points
