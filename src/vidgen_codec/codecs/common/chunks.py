"""Frame chunks at a byte budget, shared by stem's learned backbone and s2vc: a chunk's size
with its framing, the search of the learned coder's q for a chunk budget, and the learned
I-frame (intra model, then a mean-error trim, `dc_trim`)."""

from __future__ import annotations

from functools import partial

import torch

from ...bitstream import FramePayload
from ...bitstream.framing import chunk_size
from ...bitstream.ids import FrameType
from ...pictures.fit import fit_from_guess
from ...ratecontrol import search_q
from ..dc_trim import trimmed
from ...models.intra_model import Q_MIN, q_max
from ..intra import Q_STEP, rate_code, snap_q

# The learned coders' size grows with q about as exp(Q_SLOPE q): 0.15-0.7 per unit of q on
# cup360, small and tree (intra model, q -1.5 .. 7, benchmarks/learned_rate.py), 0.25 typical.
Q_SLOPE = 0.25
Q_START = 2.0  # the first frame's guess, without an earlier q
NEAR_CHUNK = 0.05  # a chunk this far under its budget is close enough: the GOP's budget
# carries the rest to the frames after it
SEARCH_RESOLUTION = 0.05  # of the bisection when every coding from the guess was over


def fit_chunk(payload, budget: float, levels: int, guess: float | None):
    """(q, payload(q)) for a q whose whole chunk fits `budget` (else the lowest q): from
    `guess` (the previous frame's q) along ln(bytes) ~ Q_SLOPE q, then by the secant through
    the codings made, stopping at the first chunk within NEAR_CHUNK under the budget (issue
    31, part 1: about 3 codings a frame where a bisection to 0.05 took 6-9). When no coding
    fitted, a bisection from the smallest goes on down, so a frame never loses its residual
    to a search that stopped early."""
    cache = {}

    def coded(q):
        if q not in cache:
            cache[q] = payload(q)
        return cache[q]

    (q, pl), _ = fit_from_guess(coded, chunk_bytes, budget, Q_MIN, q_max(levels), Q_STEP,
                                guess=Q_START if guess is None else guess,
                                slope=lambda q: Q_SLOPE, falling=False, close=NEAR_CHUNK)
    if chunk_bytes(pl) > budget:
        q, _ = search_q(lambda q: chunk_bytes(coded(q)), budget, Q_MIN, q_max(levels),
                        step_q=Q_STEP, guess=q, resolution=SEARCH_RESOLUTION)
        pl = coded(q)
    return q, pl


def chunk_bytes(payload: FramePayload) -> int:
    return chunk_size(len(payload.pack()))


def code_learned_i(intra, x: torch.Tensor, t: int, budget: float | None,
                   q_fixed: float | None, guess: float | None):
    """(payload, the decoder's frame, q) of an intra-coded I-frame: q fixed, or the largest
    whose chunk fits `budget`; then coded once more against its mean error (`dc_trim`).
    Shared by stem's learned backbone and s2vc's learned I-frames."""
    y = intra.analyze(x)

    def payload(q, offset=None):
        y_at = y if offset is None else intra.analyze(x - offset)
        return FramePayload(t, FrameType.I, rate_code(q), intra.code_latent(y_at, q))

    if q_fixed is not None:
        q = snap_q(q_fixed)
        pl = payload(q)
    else:
        q, pl = fit_chunk(payload, budget, intra.cfg.levels, guess)
    pl, rec = trimmed(x, pl, partial(payload, q),
                      lambda p: intra.decode_streams(p.streams, q, *x.shape[-2:]), chunk_bytes,
                      budget)
    return pl, rec, q
