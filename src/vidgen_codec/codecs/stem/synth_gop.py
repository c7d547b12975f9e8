"""The av1 backbone's synthesised GOP candidates (issue 30): backbones every b frames at scale s
(and at extra offsets), coded by SVT-AV1 and fitted to the GOP's budget, and nothing sent for
the frames between them but one mode bit per interval; the encoder rebuilds them as the decoder
does (`decoder.interval_frames`) and scores the GOP (`candidate.score`).

    candidates: intervals from the longest down, per scale, pruned (`candidates`' docstring)
    candidate:  one structure --rate fit (`rate_fit.fit_backbones`)--> AV1 units
                --decoded, per interval BLEND or MOTION, the nearer the originals (`rebuild`)-->
                the GOP's payload and score
"""

from __future__ import annotations

import math
from dataclasses import replace

from ... import metrics
from ...bitstream import FramePayload
from ...bitstream.framing import chunk_bytes
from ...bitstream.ids import FrameType
from ...pictures.av1 import Av1Settings, encode_sequence
from ...pictures import ssim
from ...pictures.fit import BUDGET_SLACK
from ...pictures.yuv420 import rgb_to_yuv420
from ...stem_gop import BLEND, MOTION
from ...threads import map_threads
from . import backbone as bb
from . import decoder as sd
from . import extra_backbones
from .candidate import Candidate, score
from .rate_fit import fit_backbones

SLOWER_FROM = 4  # backbone interval from which a synthesised GOP codes at a slower preset
# (a shorter one may be coded again at that preset once chosen: `chosen_gop.slower`)


def candidates(codec, st, frames, originals, budget, ledger) -> list[Candidate]:
    """Synthesised GOPs at each candidate scale, intervals from the longest down. At a scale,
    shorter intervals are not tried once one is over the budget at the highest CRF (more
    backbones cost more); within the intervals that share a preset (`synth_settings`),
    shorter ones are not tried once one scores below the longer one before it (the score is
    taken as unimodal there: halving the interval doubles the backbones, each coarser). A
    pruned search (`speed`) takes the scales as unimodal too: it stops before a scale when the
    best of the one before it scored below the best of the one before that."""
    n = len(frames)
    intervals, scales = st.synth
    # B = 1 is the other search's, unless it has no scale (--backbone-scale 4)
    ordered = [b for b in sorted({max(min(i, n - 1), 1) for i in intervals}, reverse=True)
               if b >= 2 or not (st.scales or n > 2)]
    groups = [[b for b in ordered if b >= SLOWER_FROM], [b for b in ordered if b < SLOWER_FROM]]
    out, bests = [], []
    for s in scales:
        if st.speed.pruned and len(bests) >= 2 and -math.inf < bests[-1] < bests[-2]:
            break
        bests.append(-math.inf)
        for group in groups:
            prev, over = None, False
            for b in group:
                c = candidate(codec, st, frames, originals, b, s, budget, ledger)
                out.append(c)
                if budget is None or c.bytes <= BUDGET_SLACK * budget:
                    bests[-1] = max(bests[-1], c.score)
                over = budget is not None and c.bytes > BUDGET_SLACK * budget
                if over or (prev is not None and c.score < prev.score):
                    break
                prev = c
            if over:
                break
    return out


def candidate(codec, st, frames, originals, b: int, s: int, budget, ledger,
              extra: tuple[int, ...] = (), slower: bool = False) -> Candidate:
    """Backbones every b frames at scale s (and at the offsets `extra`), the frames between
    them rebuilt by the decoder; per interval the encoder signals the rebuild (BLEND or
    MOTION) nearer the originals. `slower`: the backbones at the preset of intervals from
    SLOWER_FROM (`synth_settings`) whatever b is."""
    n = len(frames)
    t0 = frames[0][0]
    head = bb.GopHeader(s, n, b, synth=True, lanczos=s > 1, extra=extra)
    pos = head.positions()
    head = replace(head, modes=(BLEND,) * head.gaps())  # the mode bits' size is fixed
    pics = [bb.downscale(originals[i][: bb.even(st.height), : bb.even(st.width)], s)
            for i in pos]
    hp, wp = originals[0].shape[:2]

    settings = synth_settings(st.settings, max(b, SLOWER_FROM) if slower else b)

    planes = [rgb_to_yuv420(p) for p in pics]  # converted once for every CRF tried

    def code(crf):
        ledger.codings += 1
        units = encode_sequence(planes, crf, settings)
        parts = [FramePayload(t0 + i, FrameType.I if k == 0 else FrameType.P, 0, [u])
                 for k, (i, u) in enumerate(zip(pos, units))]
        return units, parts

    def size(coded):
        return chunk_bytes(bb.pack_gop(t0, head, coded[1]))

    if st.crf_fixed is not None:
        crf, (units, parts) = st.crf_fixed, code(st.crf_fixed)
    else:  # extra backbones shorten the interval the fit's guess assumes, in proportion
        grid = len(bb.GopHeader(s, n, b).positions())
        spacing = b * (grid - 1) / (len(pos) - 1) if extra else b
        crf, (units, parts) = fit_backbones(st, code, size, budget, pics, s, ledger, spacing,
                                            preset=settings.preset)
    backs = bb.backbone_pictures(units, s, st, hp, wp, head.lanczos)
    modes, rec = rebuild(st, backs, pos, originals)
    head = replace(head, modes=modes)
    payload = bb.pack_gop(t0, head, _parts(t0, pos, parts))
    real = [o[: st.height, : st.width] for o in originals]
    # never "failed": the motion frames' 4 dB rule, tried here, cost 0.14 JOD on cup at 0.0025
    # bpp (it threw out the interval-2 GOP that ColorVideoVDP prefers) and 0.01 on cut at 0.01
    # what `chosen_gop.split` measures, on the candidates of the search only
    lumas = [(ssim.luma(r), ssim.luma(o)) for r, o in zip(rec, real)]  # each plane once
    frame_db = tuple(extra_backbones.luma_psnr(x, y) for x, y in lumas) \
        if st.split and not extra and not slower else ()
    return Candidate(b, s, crf, payload, chunk_bytes(payload), score(rec, real, lumas), False,
                     synth=True, extra=extra, frame_db=frame_db, slower=slower)


def rebuild(st, backs: list, pos: list[int], originals) -> tuple[tuple[int, ...], list]:
    """(modes, frames) of a synthesised GOP from its decoded backbones (hp x wp x 3 uint8):
    per interval the rebuild (BLEND or MOTION) nearer the originals, and the frames cropped."""
    h, w = st.height, st.width

    def nearer(gap):  # (mode, frames) of one interval, backbones a < e, both decoded
        j, a, e = gap
        tries = {m: sd.interval_frames(backs[j], backs[j + 1], e - a, m) for m in (BLEND, MOTION)}
        sse = {m: sum(metrics.sse(f[:h, :w], originals[a + k][:h, :w])
                      for k, f in enumerate(fs, 1)) for m, fs in tries.items()}
        mode = MOTION if sse[MOTION] < sse[BLEND] else BLEND
        return mode, tries[mode]

    gaps = [(j, a, e) for j, (a, e) in enumerate(zip(pos, pos[1:])) if e - a > 1]
    chosen = dict(zip((j for j, _, _ in gaps), map_threads(nearer, gaps)))
    rec = [backs[0][:h, :w]]
    modes = []
    for j in range(len(pos) - 1):
        if j in chosen:
            modes.append(chosen[j][0])
            rec += [f[:h, :w] for f in chosen[j][1]]
        rec.append(backs[j + 1][:h, :w])
    return tuple(modes), rec


def synth_settings(settings: Av1Settings, interval: int) -> Av1Settings:
    """The SVT-AV1 settings of a synthesised GOP's backbones: from SLOWER_FROM frames apart,
    4 presets slower (not below 4, unless the file's preset already is): coding a quarter of
    the frames or fewer at preset p - 4 (about 4.5x slower a frame) costs about what coding
    every frame at p does, and the interval's rebuilt frames inherit the backbones' quality.
    (The codec config's preset stays the file's: informative.)"""
    if interval < SLOWER_FROM:
        return settings
    return replace(settings, preset=min(settings.preset, max(settings.preset - 4, 4)))


def _parts(t0: int, pos: list[int], backbone_parts: list) -> list:
    out = [backbone_parts[0]]
    for k in range(1, len(pos)):
        out += [FramePayload(t0 + i, FrameType.M, 0, []) for i in range(pos[k - 1] + 1, pos[k])]
        out.append(backbone_parts[k])
    return out
