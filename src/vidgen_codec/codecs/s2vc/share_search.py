"""s2vc's encoder-side search of the I-frame's share of a GOP's bytes (informative: the decoder
does not see it).

    GOP frames (held as uint8) --for each share w in i_weight x SHARES-->
        I-frame at w shares of the GOP budget against 1 per P-frame, then the P-frames
        (`S2vcCodec.code_frame`, the streaming path's own coding), from the same encoder state
        the coder's frames (what `vgc decode --no-generate` outputs) scored against the GOP's
        frames by Y'CbCr PSNR (`metrics.psnr_yuv`, 6:1:1)
    keep the best candidate within the budget (`pictures.fit.choose_within_budget`): its chunks
    and its encoder state

Why: the conditional coder keeps the I-frame's colour and corrects little of it, so how much
of the budget the I-frame gets decides the colour of the whole GOP, and the share that pays
differs from clip to clip. On held-out cup at 0.02 bpp, share 16 against the config's 4 gains
2.2 dB of chroma PSNR and 0.47 JOD (ColorVideoVDP); on tree at 0.05, share 16 loses 0.16 JOD
and share 8 gains 0.02 (benchmarks/RESULTS.md, 2026-12-06). Luma PSNR, the stem structure
search's measure, moves by 0.1 dB at most between shares, so it would choose by noise; the
6:1:1 weighting is the one JVET's common test conditions use for a single Y'CbCr figure.
A GOP of one frame, or one whose frames would take more than HOLD_LIMIT bytes, is not held:
it streams at the config's share.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ... import metrics
from ...frames import to_tensor, to_uint8
from ...pictures.fit import choose_within_budget
from ...bitstream.framing import chunk_bytes
from ..common.rate import open_gop

log = logging.getLogger(__name__)

SHARES = (1.0, 2.0, 4.0)  # candidate I-frame shares, in units of the config's i_weight
HOLD_LIMIT = 1 << 30  # bytes of 8-bit frames a searched GOP may hold (1080p: 170 frames)


def searchable(frames: int, hp: int, wp: int) -> bool:
    """Whether a GOP of `frames` frames of hp x wp is held and searched."""
    return frames > 1 and frames * hp * wp * 3 <= HOLD_LIMIT


def code_gop(codec, st):
    """(chunks, state) of the GOP held in `st.pending` (HxWx3 uint8, padded): the coding at
    the best share."""
    frames = st.pending
    start = replace(st, pending=[])
    budget = open_gop(st.rate, len(frames)).gop_budget
    results = []
    for k in SHARES if len(frames) > 1 else SHARES[:1]:
        chunks, end, score = _code_share(codec, start, frames, codec.cfg.i_weight * k)
        results.append((k, score, sum(chunk_bytes(c.payload) for c in chunks), chunks, end))
    best = choose_within_budget(results, budget, lambda r: r[1], lambda r: r[2])
    log.debug("s2vc GOP at %d, budget %.0f: shares %s, chose %g", st.index, budget,
              [(r[0], round(r[1], 3), r[2]) for r in results], best[0])
    return best[3], best[4]


def _code_share(codec, st, frames: list, i_weight: float):
    """Code padded HxWx3 uint8 frames as one GOP at this I-frame share: (chunks, the encoder
    state after it, Y'CbCr PSNR of the coder's frames against them)."""
    chunks, sse, count = [], (0.0, 0.0, 0.0), 0
    for f in frames:
        out, st = codec.code_frame(st, to_tensor(f), i_weight, gop_frames=len(frames))
        chunks += out
        decoded = to_uint8(st.frame.clamp(0, 1))[0][: st.height, : st.width]
        part, n = metrics.ycbcr_sse(decoded, f[: st.height, : st.width])
        sse, count = tuple(a + b for a, b in zip(sse, part)), count + n
    return chunks, st, metrics.psnr_yuv_from_sse(sse, count)
