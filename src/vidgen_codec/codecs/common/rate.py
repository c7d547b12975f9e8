"""GOP rate control (stem's backbones, s2vc's GOPs): byte budgets for backbones, after what
motion (or conditional frames) is expected to cost.

    clip target: `per_frame` bytes per frame (bpp * W * H / 8, less container framing)
    GOP start:   GOP budget = frames in GOP * per_frame + carry (clip-level surplus/deficit,
                 spread over 2 GOPs), less the expected motion bytes of its MV frames
                 I budget = i_weight / (i_weight + P count) of what is left
    each P:      what is left of the GOP budget, less the expected motion bytes still to
                 come, split evenly over the P-frames still to come
The caller says what its motion frames are expected to take (stem: a trial coding of the
segment's MV frames, `stem.encoder`). All budgets are payload bytes (what the codec's streams
take); framing is accounted per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...ratecontrol import FILE_OVERHEAD


@dataclass(frozen=True)
class GopRate:
    per_frame: float  # target bytes per frame, whole chunks included
    frames: int = 0  # frames coded so far
    spent: int = 0  # bytes of whole chunks so far
    mv_frames: int = 0
    mv_bytes: int = 0
    gop_budget: float = 0.0  # bytes left for the open GOP (backbones and motion)
    mv_guess: float = 40.0  # expected bytes of an MV frame before any was coded
    q_i: float | None = None  # last rate parameters (search guesses)
    q_p: float | None = None

    @property
    def mv_mean(self) -> float:
        return self.mv_bytes / self.mv_frames if self.mv_frames else self.mv_guess


def init_gop_rate(bpp: float, width: int, height: int, expected_frames: int | None,
                   mv_guess: float, extra_bytes: int = 0) -> GopRate:
    """`extra_bytes`: file-level chunks beyond FILE_OVERHEAD (CODEC_CONFIG, REFINE)."""
    n = expected_frames if expected_frames else 300
    per_frame = bpp * width * height / 8 - (FILE_OVERHEAD + extra_bytes) / n
    return GopRate(per_frame=max(per_frame, 1.0), mv_guess=mv_guess)


def span_rate(span, mv_guess: float) -> GopRate | None:
    """The rate state of a chunked encode's span (codecs.base.Span): its budget over its
    frames (the file's own chunks were taken off before the budget was split). None: not a
    span, or a fixed rate."""
    if span is None or span.budget is None:
        return None
    return GopRate(per_frame=max(span.budget / span.frames, 1.0), mv_guess=mv_guess)


def open_gop(st: GopRate, gop_frames: int) -> GopRate:
    carry = st.frames * st.per_frame - st.spent
    budget = gop_frames * st.per_frame + 0.5 * carry
    return replace(st, gop_budget=max(budget, 0.25 * gop_frames * st.per_frame))


def backbone_budget(st: GopRate, weight: float, weights_left: float,
                    mv_reserve: float) -> float:
    """Bytes for the next backbone chunk: its weight's share of the GOP budget left after
    `mv_reserve`, the bytes the GOP's motion frames still to come are expected to take."""
    avail = st.gop_budget - mv_reserve
    floor = 0.1 * st.per_frame * weight
    return max(avail * weight / max(weights_left, 1e-9), floor)


def spend(st: GopRate, nbytes: int, *, frames: int = 1, mv: bool = False) -> GopRate:
    return replace(st, frames=st.frames + frames, spent=st.spent + nbytes,
                   gop_budget=st.gop_budget - nbytes,
                   mv_frames=st.mv_frames + (frames if mv else 0),
                   mv_bytes=st.mv_bytes + (nbytes if mv else 0))
