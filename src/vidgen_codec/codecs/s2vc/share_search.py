"""s2vc's encoder-side search of the I-frame's share of a GOP's bytes (informative: the decoder
does not see it).

    GOP frames (held as uint8) --for each share w in i_weight x SHARES-->
        I-frame at w shares of the GOP budget against 1 per P-frame, then the P-frames
        (`S2vcCodec.code_frame`, the streaming path's own coding), from the same encoder state
        the coder's frames (what `vgc decode --no-generate` outputs) scored against the GOP's
        frames by Y'CbCr PSNR (`metrics.psnr_yuv`, 6:1:1)
    keep the best candidate within the budget (its chunks and its encoder state)

Why: the conditional coder keeps the I-frame's colour and corrects little of it, so how much
of the budget the I-frame gets decides the colour of the whole GOP, and the share that pays
differs from clip to clip. On the held-out clips at the config's share (4) against 16: cup at
0.02 bpp gains 1.9 dB of chroma PSNR and 0.47 JOD (ColorVideoVDP); tree at 0.05 loses 0.16
JOD at 16 but gains at 8 (benchmarks/RESULTS.md, 2026-12-06). Luma PSNR, the stem structure
search's measure, barely moves between shares (0.1 dB), so it would choose by noise; the 6:1:1
weighting is the one JVET's common test conditions use for a single Y'CbCr figure.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch

from ... import metrics
from ...frames import to_uint8
from ..stem.encoder import chunk_bytes
from ..stem.rate import open_gop

log = logging.getLogger(__name__)

SHARES = (1.0, 2.0, 4.0)  # candidate I-frame shares, in units of the config's i_weight
BUDGET_SLACK = 1.03  # a candidate over the GOP budget by more than this is not within it


def code_gop(codec, st):
    """(chunks, state) of the GOP held in `st.pending`: the best share's coding."""
    frames = st.pending
    start = replace(st, pending=[], gop_len=0)
    n = len(frames)
    budget = open_gop(st.rate, n).gop_budget
    originals = [f[0].permute(1, 2, 0).numpy()[: st.height, : st.width] for f in frames]
    results = []
    for k in SHARES if n > 1 else SHARES[:1]:
        chunks, end, decoded = _code_share(codec, start, frames, codec.cfg.i_weight * k)
        score = metrics.psnr_yuv(decoded, originals) if n > 1 else 0.0
        nbytes = sum(chunk_bytes(c.payload) for c in chunks)
        results.append((k, min(score, 99.0), nbytes, chunks, end))
    fits = [r for r in results if r[2] <= BUDGET_SLACK * budget]
    best = max(fits, key=lambda r: (r[1], -r[2])) if fits else min(results, key=lambda r: r[2])
    log.debug("s2vc GOP at %d, budget %.0f: shares %s, chose %g", st.index, budget,
              [(r[0], round(r[1], 3), r[2]) for r in results], best[0])
    return best[3], best[4]


def _code_share(codec, st, frames: list[torch.Tensor], i_weight: float):
    """Code uint8 frames (1,3,Hp,Wp) as one GOP at this I-frame share: (chunks, the encoder
    state after it, the coder's frames as uint8 HxWx3)."""
    chunks, decoded = [], []
    for f in frames:
        x = f.to(codec.device, torch.float32) / 255
        out, st = codec.code_frame(st, x, i_weight, gop_frames=len(frames))
        chunks += out
        decoded.append(to_uint8(st.frame.clamp(0, 1))[0][: st.height, : st.width])
    return chunks, st, decoded

