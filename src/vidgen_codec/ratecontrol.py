"""Rate control: per-frame byte budgets that add up to a clip-level bits-per-pixel target.

The budget of frame i is what keeps the running total on target,
    budget_i = target_per_frame * (i + 1) - spent_so_far,
clamped to [0.5, 2] x target_per_frame so one hard frame cannot starve the next ones. The
rate parameter of a frame is then found by bisection on the real coded size (monotone in q).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

# Bytes of container framing around one frame's streams in format 2 (chunk type, length and
# CRC, frame header, two stream lengths, index entry), to turn a bpp target into a payload budget.
FRAME_OVERHEAD = 16
# File header + sequence header + END chunk (format 2), amortized over the expected frame count.
FILE_OVERHEAD = 72


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
             *, step_q: float = 1e-3, guess: float | None = None,
             resolution: float = 0.01) -> tuple[float, int]:
    """Largest q in [lo, hi] whose coded size fits the budget (or lo if none does).

    q is snapped to multiples of `step_q` (the resolution stored in the bitstream) so the
    size measured is exactly the size written. With a `guess` (the previous frame's q) a
    bracket is grown from it (0.25, 0.5, 1, ... wide), which usually needs 2-3 sizes instead
    of the 2 ends of the whole range; then bisection down to `resolution`. Returns (q, size).
    """
    snap = lambda v: round(v / step_q) * step_q  # noqa: E731
    lo, hi = snap(lo), snap(hi)
    a = snap(min(max(guess, lo), hi)) if guess is not None else hi
    sa = size_at(a)
    d = 0.25
    if sa <= budget:  # grow upwards until a size exceeds the budget
        best = (a, sa)
        while True:
            b = snap(min(a + d, hi))
            if b == a:
                return best
            sb = size_at(b)
            if sb > budget:
                lo_, hi_ = a, b
                break
            a, best, d = b, (b, sb), d * 2
    else:  # grow downwards until a size fits
        while True:
            b = snap(max(a - d, lo))
            if b == a:
                return a, sa
            sb = size_at(b)
            if sb <= budget:
                lo_, hi_, best = b, a, (b, sb)
                break
            a, sa, d = b, sb, d * 2
    while hi_ - lo_ > resolution:
        mid = snap((lo_ + hi_) / 2)
        if mid in (lo_, hi_):
            break
        s = size_at(mid)
        if s <= budget:
            lo_, best = mid, (mid, s)
        else:
            hi_ = mid
    return best
