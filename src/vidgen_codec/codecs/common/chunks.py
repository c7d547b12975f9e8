"""Frame chunks at a byte budget, shared by stem's learned backbone and s2vc: a chunk's size
with its framing, the search of the learned coder's q for a chunk budget, and the learned
I-frame (intra model, then a mean-error trim, `dc_trim`)."""

from __future__ import annotations

from functools import partial

import torch

from ...bitstream import FramePayload
from ...bitstream.framing import chunk_size
from ...bitstream.ids import FrameType
from ...ratecontrol import search_q
from ..dc_trim import trimmed
from ...models.intra_model import Q_MIN, q_max
from ..intra import Q_STEP, rate_code, snap_q

# The learned coders' q is searched to this resolution: the GOP-level budget absorbs the rest,
# and each step of the search codes the frame once more.
SEARCH_RESOLUTION = 0.05


def fit_chunk(payload, budget: float, levels: int, guess: float | None):
    """(q, payload(q)) for the largest q whose whole chunk fits `budget` (else the lowest q)."""
    cache = {}

    def size(q):
        if q not in cache:
            cache[q] = payload(q)
        return chunk_bytes(cache[q])

    q, _ = search_q(size, budget, Q_MIN, q_max(levels), step_q=Q_STEP, guess=guess,
                    resolution=SEARCH_RESOLUTION)
    return q, cache[q]


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
                      lambda p: intra.decode_streams(p.streams, q, *x.shape[-2:]), chunk_bytes)
    return pl, rec, q
