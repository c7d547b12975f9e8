"""What the learned backbone's GOP rate control gives its MV frames (issue 31): the reserve a
backbone's budget leaves for them, the bytes expected of each, the q whose lambda they are coded
at, the price of a motion bit, and the cap after a GOP's last P-frame. `encoder.py` tells the
whole scheme; these are its numbers, kept apart from the coding.
"""

from __future__ import annotations

from ..common.chunks import Q_START
from ..common.rate import GopRate
from .plan import StemPlan

MV_MAX_SHARE = 0.5  # of a GOP's bytes left, the most its MV frames to come are given


def reserve(rate: GopRate, wanted: float, floor: float) -> float:
    """What a backbone's budget leaves for the GOP's MV frames still to come: what they are
    expected to take, at most MV_MAX_SHARE of the GOP's bytes left (a scene change on mega
    wanted more than all of them and would have left its backbone 37 bytes), and never less
    than `floor`."""
    return max(min(wanted, MV_MAX_SHARE * max(rate.gop_budget, 0.0)), floor)


def mean_after(rate: GopRate, trial: list[int]) -> float:
    """The bytes expected of each MV frame after this segment: the clip's mean so far, else
    this segment's trial mean (one segment's motion says little of the next: on mega, segments
    of 100 and of 6,600 bytes alternate)."""
    if rate.mv_frames or not trial:
        return rate.mv_mean
    return sum(trial) / len(trial)


def last_q(rate: GopRate) -> float:
    """The last P-frame's q, else the last I-frame's, else Q_START: the q of the trial's and,
    so that they spend about what the trial said, the MV frames' lambda."""
    return next((q for q in (rate.q_p, rate.q_i) if q is not None), Q_START)


def pressure(rate: GopRate | None, plan: StemPlan) -> float:
    """Price of a motion bit relative to a backbone bit: above 1 while MV frames cost more
    than their share (plan.mv_share) of the per-frame budget, so they fall back on the
    decoder's predictions."""
    if rate is None or not rate.mv_frames:
        return 1.0
    return min(max(rate.mv_mean / max(plan.mv_share * rate.per_frame, 1.0), 1.0), 64.0)


def cap(allowed: float, frames_left: int) -> float:
    """Most bytes the next MV frame may take: its share of what its segment may still spend.
    (Capping the other segments' MV frames at their trial's bytes cost 1.7 dB on mega at
    0.02 bpp: there, motion is worth more than the P-frame after it.)"""
    return max(allowed, 0.0) / max(frames_left, 1)
