"""Frame chunks at a byte budget, shared by stem's learned backbone and s2vc: a chunk's size
with its framing, the search of the learned coder's q for a chunk budget, and the learned
I-frame (intra model, then a mean-error trim, `dc_trim`)."""

from __future__ import annotations

from functools import partial

from ...torch_env import torch

from ...bitstream import FramePayload
from ...bitstream.framing import chunk_bytes
from ...bitstream.ids import FrameType
from ...pictures.fit import fit_from_guess, snap
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
SEARCH_RESOLUTION = 0.05  # of the bisection that finishes a search that did not land


def fit_chunk(payload, budget: float, levels: int, guess: float | None):
    """(q, payload(q)) for a q whose whole chunk fits `budget` (else the lowest q): from
    `guess` (the previous frame's q) along ln(bytes) ~ Q_SLOPE q, then by the secant through
    the codings made, stopping at the first chunk within NEAR_CHUNK under the budget (issue
    31, part 1: 2-5 codings a frame where the bisection took 7-9). Sizes wobble by a few
    percent from one q to the next, so a search can end without landing: then the bracket
    its codings give (the largest q that fitted, the smallest above it that did not) is halved
    down to SEARCH_RESOLUTION by `ratecontrol.search_q`, as before, so that no frame is left
    far under its budget or without its residual."""
    cache = {}
    lo_q, hi_q = Q_MIN, q_max(levels)
    def coded(q):
        q = snap(q, Q_STEP)  # the grid fit_from_guess codes on
        if q not in cache:
            cache[q] = payload(q)
        return cache[q]

    def size(q):
        return chunk_bytes(coded(q))

    # the secant aims at the middle of the window [1 - NEAR_CHUNK, 1] x budget, not at its
    # top, where the sizes' wobble keeps putting codings just over
    aim = budget * (1 - NEAR_CHUNK / 2)
    (q, pl), _ = fit_from_guess(coded, chunk_bytes, aim, lo_q, hi_q, Q_STEP,
                                guess=Q_START if guess is None else guess,
                                slope=lambda q: Q_SLOPE, falling=False,
                                close=1 - (1 - NEAR_CHUNK) * budget / aim,
                                over=budget / aim - 1)
    if (1 - NEAR_CHUNK) * budget <= chunk_bytes(pl) <= budget:
        return q, pl
    # the bisection over the bracket the codings give: the largest q that fitted (else the
    # lowest) and the smallest above it that did not (else the highest); codings made are
    # not made again
    fits = [k for k in cache if size(k) <= budget]
    lo = max(fits) if fits else lo_q
    hi = min((k for k in cache if k > lo and size(k) > budget), default=hi_q)
    q, _ = search_q(size, budget, lo, hi, step_q=Q_STEP, guess=lo,
                    resolution=SEARCH_RESOLUTION)
    return snap(q, Q_STEP), coded(q)


def code_learned_i(intra, x: torch.Tensor, t: int, budget: float | None,
                   q_fixed: float | None, guess: float | None):
    """(payload, the decoder's frame, q) of an intra-coded I-frame: q fixed, or one whose
    chunk fits `budget` (`fit_chunk`); then coded once more against its mean error
    (`dc_trim`), within the budget.
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
