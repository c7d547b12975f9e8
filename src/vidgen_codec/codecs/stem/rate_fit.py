"""The av1 backbone's rate fit of one candidate structure to a GOP's budget (issue 31).

    the backbone pictures of a candidate (interval, scale) + the GOP's budget
        --guess: from the first pass's model (`pictures.av1_rate`) until a fit of the GOP
          has landed near its budget, then from the nearest such fit, carried to the
          candidate's structure (`predicted`)-->
        `pictures.fit.fit_from_guess` (a few SVT-AV1 codings), or a bisection at veryslow
        --> (CRF, coding); the ledger keeps what later candidates start from

`Ledger` is one GOP's bookkeeping, passed explicitly to every candidate (`av1._code_gop`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...pictures.av1 import CRF_MAX, CRF_MIN, CRF_STEP
from ...pictures.av1_rate import guess_crf, slope, small_step
from ...pictures.fit import BUDGET_SLACK, NEAR, fit_from_guess, fit_to_budget


@dataclass
class Ledger:
    """One GOP's rate-fit bookkeeping, passed to every candidate."""

    codings: int = 0  # AV1 codings made
    searching: bool = False  # past the full-rate coding: candidates compared with each other
    fits: list = field(default_factory=list)  # [Fitted] of the GOP's candidates so far


@dataclass(frozen=True)
class Fitted:
    """A candidate's fit that landed near its budget: what `predicted` starts others from."""

    interval: float  # the backbone interval (with extra backbones, scaled by the count of
    # intervals: `synth_gop.candidate`)
    scale: int
    backbones: int
    pixels: int  # per backbone, as coded
    crf: float
    bytes: int
    preset: int = 8  # SVT-AV1's: a GOP's fits at one structure may be at two presets
    # (`chosen_gop.slower`)


SPACING = 0.5  # a backbone's bytes at one CRF grow as (frames since the last one) ** SPACING
# (vtest360 at 0.005 bpp, intervals 32 .. 2 at full scale: 0.26-0.73, mean 0.47)


def predicted(known: list, interval: float, scale: int, backbones: int, pixels: int,
               budget: float, preset: int = 8) -> float | None:
    """The CRF at which a candidate's backbones should take `budget` bytes, from the nearest
    fit of the GOP (the same scale first, then the nearest interval; at the very interval, the
    same preset; else the latest among equals): each backbone's bytes at a CRF taken as
    pixels x interval ** SPACING x exp(-slope x CRF)."""
    if not known:
        return None
    k = min(reversed(known), key=lambda f: (f.scale != scale,
                                            abs(math.log(f.interval / interval)),
                                            f.interval == interval and f.preset != preset))
    grow = math.log(backbones * pixels * interval ** SPACING
                    / (k.backbones * k.pixels * k.interval ** SPACING))
    return k.crf + (grow - math.log(max(budget, 1.0) / k.bytes)) / slope(k.crf)


def fit_backbones(st, code, size, budget, pics, s: int, ledger: Ledger, interval: float, *,
                  carry: bool = True, preset: int | None = None):
    """(crf, coding) of the backbone pictures `pics` (scale s, one every `interval` frames) at
    the budget: from a guess with the speed's number of codings, or by bisection. The guess:
    the first pass's model until a fit of the GOP has landed near its budget, and from then on
    the nearest such fit carried to this structure (`predicted`: on vtest360, cut and tree at
    0.005-0.01 bpp the model alone was off by up to 36 CRF for synthesised GOPs, whose
    backbones are far apart). `carry` False: this fit is not one to start others from (its
    bytes are not all backbones': a GOP with motion frames). `preset`: the coding's SVT-AV1
    preset, when it is not the file's (`st.settings`). Candidates of a search are fitted
    closer (within NEAR, up to 3 more codings): one that lands further under its budget than
    the others would be judged on fewer bytes (on cut at 0.01 bpp a 3-coding fit cost
    0.58 dB)."""
    fits = st.speed.fit_codes
    if not fits:
        return fit_to_budget(code, size, budget, CRF_MIN, CRF_MAX, CRF_STEP, falling=True,
                             guess=st.crf_last, over=BUDGET_SLACK - 1)
    h, w = pics[0].shape[:2]
    preset = st.settings.preset if preset is None else preset
    guess = predicted(ledger.fits, interval, s, len(pics), h * w, budget, preset)
    if guess is None:
        # the first pass measured full frames at its step: a picture downscaled by s stands
        # at step / s (the table is per coded pixel)
        target = max(budget, 1.0) / (len(pics) * h * w)
        guess = guess_crf(target, st.complexity, max(small_step(st.width) / s, 1))
    tight = dict(miss=NEAR, extra=3) if ledger.searching else {}
    (crf, coded), _ = fit_from_guess(code, size, budget, CRF_MIN, CRF_MAX, CRF_STEP,
                                     guess=guess, slope=slope, falling=True, max_codes=fits,
                                     over=BUDGET_SLACK - 1, **tight)
    if carry and CRF_MIN < crf < CRF_MAX and abs(size(coded) - budget) <= 0.05 * budget:
        ledger.fits.append(Fitted(interval, s, len(pics), h * w, crf, size(coded), preset))
    return crf, coded
