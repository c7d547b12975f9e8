"""Rate control: per-frame byte budgets that add up to a clip-level bits-per-pixel target.

The budget of frame i is what keeps the running total on target,
    budget_i = target_per_frame * (i + 1) - spent_so_far,
clamped to [0.5, 2] x target_per_frame so one hard frame cannot starve the next ones. The
rate parameter of a frame is then found by bisection on the real coded size (monotone in q).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

# Bytes of container framing around one frame's streams (chunk header + CRC + frame header +
# two stream lengths + index entry), used to turn a bpp target into a payload budget.
FRAME_OVERHEAD = 24
# File header + sequence header + END chunk, amortized over the expected frame count.
FILE_OVERHEAD = 140


@dataclass(frozen=True)
class RateState:
    """Explicit rate-control state, passed in and returned per frame."""

    target_per_frame: float  # payload bytes per frame (streams only)
    frames: int = 0
    spent: int = 0
    q_last: float | None = None


def init_rate(bpp: float, width: int, height: int, expected_frames: int | None) -> RateState:
    n = max(1, expected_frames or 30)
    per_frame = bpp * width * height / 8 - FRAME_OVERHEAD - FILE_OVERHEAD / n
    return RateState(target_per_frame=max(per_frame, 1.0))


def frame_budget(st: RateState) -> float:
    b = st.target_per_frame * (st.frames + 1) - st.spent
    return min(max(b, 0.5 * st.target_per_frame), 2.0 * st.target_per_frame)


def update_rate(st: RateState, spent: int, q: float) -> RateState:
    return replace(st, frames=st.frames + 1, spent=st.spent + spent, q_last=q)


def search_q(size_at: Callable[[float], int], budget: float, lo: float, hi: float,
             *, steps: int = 9, step_q: float = 1e-3) -> tuple[float, int]:
    """Largest q in [lo, hi] whose coded size fits the budget (or lo if none does).

    q is snapped to multiples of `step_q` (the resolution stored in the bitstream) so the
    size measured is exactly the size written. Returns (q, size).
    """
    snap = lambda v: round(v / step_q) * step_q  # noqa: E731
    lo, hi = snap(lo), snap(hi)
    s_hi = size_at(hi)
    if s_hi <= budget:
        return hi, s_hi
    s_lo = size_at(lo)
    if s_lo > budget:
        return lo, s_lo
    best = (lo, s_lo)
    for _ in range(steps):
        mid = snap((lo + hi) / 2)
        if mid in (lo, hi):
            break
        s = size_at(mid)
        if s <= budget:
            lo, best = mid, (mid, s)
        else:
            hi = mid
    return best
