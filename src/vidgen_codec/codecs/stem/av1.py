"""STEM with the `av1` backbone: one GOP at a time, its structure chosen by measurement.

    frames --scene cut? / GOP full?--> GOP buffer (padded uint8 frames)
    per GOP, for each candidate (backbone interval B, backbone scale s):
        backbones 0, B, 2B, .., last  --downscale s--> SVT-AV1, one closed sequence, CRF
            fitted to (GOP budget - motion bytes)                              [pictures.fit]
        frames between backbones: motion only (the learned path's MV coder, encoder.py)
        the candidate's chunks are decoded by the real decoder, measured against the originals
    and synthesised GOPs (backbones every 2 .. 32 frames at scale 1, 2 or 4, nothing sent
    between them but one mode bit per interval: `_synth_candidates`, `decoder.synthesise_gop`;
    the chosen one may add a backbone at each interval's worst rebuilt frame (`_split`), and
    have backbones under SLOWER_FROM apart coded again at the slower preset (`_slower`), each
    kept where it scores higher; then block mode maps, where they pay: `_mapped`)
    keep the candidate with the best `score` (a fast luma SSIM over the GOP, in dB) among
    those within the budget whose predictions did not fail (no frame > FAIL_DB below the mean
    of its backbones, in luma PSNR); B = 1 (every frame an AV1 frame, no motion frames) is
    always a candidate, and at full scale it keeps a near tie (`FULL_MARGIN`).

The measure (issue 30, part 2): every candidate of 23 GOPs (tuning and held-out clips, 0.0025
to 0.01 bpp) scored by ColorVideoVDP (`benchmarks/search_measure.py`, benchmarks/RESULTS.md):
luma PSNR picked ColorVideoVDP's best candidate in 10 and gave away 0.073 JOD on average; the
fast luma SSIM of `pictures/ssim.py` (8x8 windows, one scale) 15 and 0.036, at a twelfth of
luma PSNR's cost; its five-scale MS-SSIM 14 and 0.051, and 0.69 JOD lost on a held-out clip.
It also chooses the upsampler (`_upsampled`) and is the gate's.

A GOP is one BACKBONE_FRAME chunk (`stem_gop`: header, the AV1 units, the motion streams in
decode order; bitstream_spec.md, stem). The encoder holds one GOP of frames, as uint8. Rate
control: `common/rate.py` budgets per GOP, carrying surplus or deficit to the next GOP of the same
span (`vgc encode` codes spans of whole GOPs, each with its own budget: parallel/plan.py); each
candidate is fitted to the budget with `pictures.fit` (CRF in quarter steps), once with the
motion bytes estimated and once more with the real ones when they missed by over REFIT.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np

from ... import metrics
from ...bitstream import FramePayload
from ...bitstream.ids import ChunkType, FrameType
from ...frames import as_tensor, picture, to_tensor, to_uint8
from ...motion.mv_coding import FieldFormat, encode_field
from ...pictures.av1 import Av1Settings, encode_sequence
from ...pictures import ssim
from ...pictures.yuv420 import rgb_to_yuv420
from ...pictures.fit import BUDGET_SLACK, choose_within_budget
from . import backbone as bb
from . import block_maps
from . import extra_backbones
from . import decoder as sd
from . import motion as sm
from ..base import CodedChunk
from ...bitstream.framing import chunk_bytes
from ...stem_gop import BLEND, MAX_GOP_FRAMES, MOTION
from ...pictures.cuts import CutDetector
from ...threads import map_threads
from .plan import StemPlan
from .rate_fit import Ledger, fit_backbones
from ..common.rate import GopRate, open_gop, spend
from .speed import FULL_AV1_CRF, Speed, speed_named

log = logging.getLogger(__name__)

FAIL_DB = 4.0  # a motion frame this far below its backbones' mean (luma PSNR) has failed
MOTION_SLOPE = 0.03  # see _lambda
REFIT = 0.02  # refit the backbones when the motion bytes miss their estimate by this share
FULL_MARGIN = 0.1  # dB of `score`: a frame-by-frame measure, blind to what synthesised
# frames and a changing scale do over time, so a near tie goes to every frame AV1 at full
# scale (cup720 at 0.0025 bpp: half scale, interval 2, scored 0.03 dB more and 0.08 JOD less
# than every frame AV1: benchmarks/RESULTS.md, issue 30, "near ties")


@dataclass
class Av1EncoderState:
    plan: StemPlan
    rate: GopRate | None
    crf_fixed: float | None
    settings: Av1Settings
    width: int
    height: int
    expected_frames: int | None
    intervals: tuple[int, ...]  # candidate backbone intervals (1 always among them)
    scales: tuple[int, ...]  # candidate backbone scales (1 full, 2 half per side)
    cuts: CutDetector | None
    refiner: object = None  # the refiner the file names: the encoder gates its windows
    seed: int = 0
    index: int = 0
    gop: list = field(default_factory=list)  # [(t, padded HxWx3 uint8)] of the open GOP
    chosen: list = field(default_factory=list)  # [(first frame, B, s, crf, bytes)] per GOP
    crf_last: float | None = None
    refined: bool | None = None  # a GOP so far has a refine mask bit set (None: no GOP yet)
    refine_bytes: int = 0  # size of the file's REFINE chunk
    synth: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())  # synthesised GOPs' candidate
    # (intervals, scales); none: no synthesised candidate
    speed: Speed = field(default_factory=lambda: speed_named(None))  # search, gate, rate fit
    keyint: int = MAX_GOP_FRAMES  # the longest GOP: a key frame at least this often
    complexity: float | None = None  # the first pass's measure of the span (first CRF guess)
    codings: int = 0  # AV1 codings made so far (the tests count them)
    priors: tuple = ()  # ((id, module, tag), ..): pretrained upsamplers to try (`upsamplers`)
    split: bool = True  # extra backbones may join a synthesised GOP's interval (`_split`):
    # the speed's choice, and never when the user fixed the interval


def encode_frame(codec, st: Av1EncoderState, x):
    """x: the frame, HxWx3 uint8 (padded here), or (3,H',W') float padded to the stride."""
    t = st.index
    st = replace(st, index=t + 1)
    if isinstance(x, np.ndarray):
        ph, pw = (-x.shape[0]) % codec.stride, (-x.shape[1]) % codec.stride
        frame = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else x
    else:
        frame = to_uint8(x)[0]  # exact: x came from uint8 frames
    cut = st.cuts is not None and st.cuts.is_cut(t, frame[: st.height, : st.width])
    chunks = []
    if st.gop and (cut or len(st.gop) >= _gop_len(st, st.gop[0][0])):
        chunks, st = _code_gop(codec, st)
    return chunks, replace(st, gop=st.gop + [(t, frame)])


def flush(codec, st: Av1EncoderState):
    if st.gop:
        return _code_gop(codec, st)
    return [], st


def _gop_len(st: Av1EncoderState, t: int) -> int:
    """The key frame interval; a stub of less than half a GOP at the clip's end joins it. At
    most MAX_GOP_FRAMES (the GOP header's limit)."""
    n = min(st.keyint, MAX_GOP_FRAMES)
    if st.expected_frames is not None and t < st.expected_frames:
        left = st.expected_frames - t
        if 2 * (left - n) < n:
            return min(left, MAX_GOP_FRAMES)
    return n


# -- one GOP -------------------------------------------------------------------------------
def _code_gop(codec, st: Av1EncoderState):
    """The GOP's chunk: every frame an AV1 frame at full scale when that coding's CRF shows
    the rate is above the floor (`speed.FULL_AV1_CRF`) or no search is asked for; else the
    structure search, and the refinement gate when the speed runs it."""
    frames = st.gop
    n = len(frames)
    originals = [f for _, f in frames]  # padded, hp x wp
    rate = open_gop(st.rate, n) if st.rate is not None else None
    budget = rate.gop_budget if rate is not None else None
    flows: dict = {}
    ledger = Ledger()
    full = None
    search = st.speed.search
    if 1 in st.intervals and 1 in st.scales and search != "always":
        full = _candidate(codec, st, frames, originals, 1, 1, budget, flows, ledger,
                          measure=False)
    alone = len(st.intervals) * len(st.scales) == 1 and not st.synth[0]
    gate = st.refiner is not None and st.speed.gate
    if full is not None and (alone or search == "none" or full.crf <= FULL_AV1_CRF):
        best, results = full, [full]
        if alone and gate:  # the user's one structure: gated as a searched GOP would be
            best = _gated(codec, st, best, frames, originals, budget, flows, ledger)
    else:
        ledger.searching = True
        results = [] if full is None else [_measured(codec, st, full, originals)]
        for s in st.scales:
            for b in sorted({min(i, max(n - 1, 1)) for i in st.intervals}):
                if full is None or (b, s) != (1, 1):
                    results.append(_candidate(codec, st, frames, originals, b, s, budget,
                                              flows, ledger))
        results += _synth_candidates(codec, st, frames, originals, budget, ledger)
        # the structure is chosen on Lanczos alone; a prior may then only replace the chosen
        # structure's upsampler, so a file with priors has the structure and bytes of one
        # without (issue 33: a prior's candidate chosen across structures lost 0.53 JOD on
        # the talking head at 0.0025 bpp)
        best = _split(codec, st, _choose(results, budget), frames, originals, budget, ledger)
        best = _slower(codec, st, best, frames, originals, budget, ledger)
        best = _mapped(codec, st, best, frames, originals, budget, ledger)
        best = _upsampled(st, best, originals)
        if gate:
            best = _gated(codec, st, best, frames, originals, budget, flows, ledger)
    chunks = [CodedChunk(ChunkType.BACKBONE_FRAME, best.payload, gop_start=True)]
    if rate is not None:
        rate = replace(spend(rate, best.bytes, frames=n), q_i=best.crf)
    chosen = st.chosen + [(frames[0][0], best.interval, best.scale, best.crf, best.bytes)]
    log.debug("GOP at %d, budget %s: %s", frames[0][0], budget,
              [(c.interval, c.scale, c.synth, c.crf, c.bytes, round(c.score, 2), c.failed)
               for c in results])
    refined = bool(st.refined) or best.refine_mask != 0
    return chunks, replace(st, rate=rate, gop=[], chosen=chosen, crf_last=best.crf,
                           refined=refined, codings=st.codings + ledger.codings)


def _gated(codec, st, best, frames, originals, budget, flows, ledger):
    """The chosen candidate with the gate's refine mask (`_gate`)."""
    chosen = best  # refine mask 0
    best = _gate(codec, st, best, frames[0][0], originals)
    if budget is not None and st.refine_bytes and not st.refined and best.refine_mask:
        # the first refined GOP keeps the file's REFINE chunk, which the budgets did not
        # reserve (a file without refined windows drops it): code this GOP again without
        # its bytes, so that the file still meets its target (only the first span of a
        # chunked encode pays for it: refine_bytes is 0 in the others)
        again = (_synth_candidate(codec, st, frames, originals, best.interval, best.scale,
                                  budget - st.refine_bytes, ledger, best.extra, best.slower)
                 if best.synth else
                 _candidate(codec, st, frames, originals, best.interval, best.scale,
                            budget - st.refine_bytes, flows, ledger))
        again = _mapped(codec, st, again, frames, originals, budget - st.refine_bytes, ledger)
        again = _upsampled(st, again, originals)
        best = _gate(codec, st, again, frames[0][0], originals)
        if not best.refine_mask:
            # the smaller coding gained nothing from the refiner: the file drops its REFINE
            # chunk, so the coding at the whole budget is the one to keep (keeping the smaller
            # one left the talking head at 0.0025 bpp 13 % under its target)
            best = chosen
    return best


@dataclass
class _Candidate:
    interval: int
    scale: int
    crf: float
    payload: FramePayload  # the GOP chunk's
    bytes: int
    score: float  # `score` over the GOP
    failed: bool
    refine_mask: int = 0  # set by _gate
    synth: bool = False  # frames between backbones rebuilt by the decoder
    upsampled: bool = False  # the priors were tried on it (`_upsampled`)
    extra: tuple[int, ...] = ()  # a synthesised GOP's backbones off its interval's grid
    frame_db: tuple[float, ...] = ()  # a synthesised GOP's luma PSNR per frame (`_split`)
    slower: bool = False  # its backbones at the slower preset whatever its interval (`_slower`)


def _gate(codec, st: Av1EncoderState, best: _Candidate, t0: int, originals) -> _Candidate:
    """The candidate with its refine mask set (`refine/gate.py`). Decoded once more: the
    candidates do not keep their frames (a GOP of 1080p float frames is a gigabyte)."""
    from ...refine.gate import choose_mask

    hp, wp = originals[0].shape[:2]
    real = [o[: st.height, : st.width] for o in originals]
    decoded = [as_tensor(d) for d in sd.decode_gop(codec, best.payload, st, hp, wp)]
    head, parts = bb.unpack_gop(best.payload)
    types = [0] * head.frames
    for p in parts:
        types[p.frame_index - t0] = int(p.frame_type)

    def window_score(frames, offset):
        return score([f[: st.height, : st.width] for f in frames],
                      real[offset:offset + len(frames)])

    by_frame = bb.gop_levels(best.payload, head, parts, st.height, st.width)
    levels = [by_frame[t0 + i] for i in range(head.frames)]
    mask = choose_mask(st.refiner, decoded, types, t0, st.seed, window_score, levels)
    payload = bb.pack_gop(t0, replace(head, refine_mask=mask), parts)
    return replace(best, payload=payload, bytes=chunk_bytes(payload), refine_mask=mask)


def _choose(results: list[_Candidate], budget: float | None) -> _Candidate:
    """The best score within the budget; every frame AV1 at full scale, when it is within the
    budget too, unless another structure scores FULL_MARGIN more (at a fixed CRF, with no
    budget, the candidates' bytes differ too much for a tie to mean anything)."""
    ok = [c for c in results if not c.failed or c.interval == 1] or results
    best = choose_within_budget(ok, budget, lambda c: c.score, lambda c: c.bytes)
    if budget is None:
        return best
    full = [c for c in ok if (c.interval, c.scale, c.synth) == (1, 1, False)
            and c.bytes <= BUDGET_SLACK * budget]
    if full and best.score - full[0].score < FULL_MARGIN:
        return full[0]
    return best


def _candidate(codec, st, frames, originals, b: int, s: int, budget, flows, ledger, *,
               measure: bool = True) -> _Candidate:
    """Backbones every b frames at scale s, motion frames between them; `measure` False
    leaves its score at 0 (`_measured` fills it in) and decodes nothing."""
    n = len(frames)
    t0 = frames[0][0]
    head = bb.GopHeader(s, n, b)
    pos = head.positions()
    pics = [bb.downscale(originals[i][: bb.even(st.height), : bb.even(st.width)], s)
            for i in pos]
    hp, wp = originals[0].shape[:2]
    fmt = FieldFormat(st.plan.block, st.plan.step)
    mv_frames = n - len(pos)
    # motion fields of the P backbones: from originals only, so fixed for every rate
    fields = {}
    for k in range(1, len(pos)):
        if pos[k] - pos[k - 1] > 1:
            fields[pos[k]] = _field(flows, originals, pos[k], pos[k - 1], fmt)
    p_mv = {}
    prev = None
    for k in range(1, len(pos)):
        i1, i0 = pos[k], pos[k - 1]
        if i1 in fields:
            shape = sm.field_shape(fmt, hp, wp)
            pred = sm.predict_p_field(prev, t0 + i0, t0 + i1, fmt, shape)
            p_mv[i1] = encode_field(fields[i1], pred, fmt, codec.backend, codec.motion_tables)
            prev = (fields[i1], fmt, t0 + i0, t0 + i1)
        else:
            prev = None

    def payloads(units, m_payloads):
        """Per-frame payloads in decode order: I, then per interval P and its MV frames."""
        out = [FramePayload(t0, FrameType.I, 0, [units[0]])]
        for k in range(1, len(pos)):
            i0, i1 = pos[k - 1], pos[k]
            out.append(FramePayload(t0 + i1, FrameType.P, 0,
                                    ([p_mv[i1]] if i1 in p_mv else []) + [units[k]]))
            out += [m_payloads[i] for i in range(i0 + 1, i1)]
        return out

    # until the motion frames are coded, placeholders of the expected size stand for them
    guess = max(int(st.rate.mv_mean if st.rate is not None else 40) // 3 - 1, 0)
    m_est = {i: FramePayload(t0 + i, FrameType.M, 0, [b"\0" * guess] * 3)
             for i in range(n) if i not in pos}

    def gop(units, m_payloads) -> tuple[list[bytes], FramePayload]:
        return units, bb.pack_gop(t0, head, payloads(units, m_payloads))

    planes = [rgb_to_yuv420(p) for p in pics]  # converted once for every CRF tried

    def fit(target, m_payloads):
        """(crf, (AV1 units, GOP payload)) at the budget, or at the fixed CRF."""
        def code(c):
            ledger.codings += 1
            return gop(encode_sequence(planes, c, st.settings), m_payloads)

        if st.crf_fixed is not None:
            return st.crf_fixed, code(st.crf_fixed)
        return fit_backbones(st, code, lambda coded: chunk_bytes(coded[1]), target, pics, s,
                             ledger, b, carry=not mv_frames)

    crf, (units, payload) = fit(budget, m_est)
    if mv_frames:
        recon = dict(zip(pos, bb.decode_backbones(units, s, st, hp, wp)))
        m_payloads = _code_motion_frames(codec, st, frames, originals, pos, recon, fields,
                                         flows, fmt)
        _, payload = gop(units, m_payloads)
        if budget is not None and abs(chunk_bytes(payload) - budget) > REFIT * budget \
                and st.crf_fixed is None:
            crf, (units, payload) = fit(budget, m_payloads)
    c = _Candidate(b, s, crf, payload, chunk_bytes(payload), 0.0, False)
    return _measured(codec, st, c, originals) if measure else c


def _measured(codec, st, c: _Candidate, originals) -> _Candidate:
    """The candidate with its score and failure test, from its decoded frames."""
    if c.score:
        return c
    hp, wp = originals[0].shape[:2]
    decoded = sd.decode_gop(codec, c.payload, st, hp, wp)
    real = [o[: st.height, : st.width] for o in originals]
    rec = [picture(d, st.height, st.width) for d in decoded]
    pos = bb.GopHeader(c.scale, len(originals), c.interval).positions()
    return replace(c, score=score(rec, real), failed=_failed(rec, real, pos))


def _synth_candidates(codec, st, frames, originals, budget, ledger) -> list[_Candidate]:
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
                c = _synth_candidate(codec, st, frames, originals, b, s, budget, ledger)
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


def _synth_candidate(codec, st, frames, originals, b: int, s: int, budget,
                     ledger, extra: tuple[int, ...] = (), slower: bool = False) -> _Candidate:
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
    modes, rec = _rebuild(st, backs, pos, originals)
    head = replace(head, modes=modes)
    payload = bb.pack_gop(t0, head, _synth_parts(t0, pos, parts))
    real = [o[: st.height, : st.width] for o in originals]
    # never "failed": the motion frames' 4 dB rule, tried here, cost 0.14 JOD on cup at 0.0025
    # bpp (it threw out the interval-2 GOP that ColorVideoVDP prefers) and 0.01 on cut at 0.01
    # what `_split` measures, on the candidates of the search only
    frame_db = tuple(map(extra_backbones.luma_psnr, rec, real)) \
        if st.split and not extra and not slower else ()
    return _Candidate(b, s, crf, payload, chunk_bytes(payload), score(rec, real), False,
                      synth=True, extra=extra, frame_db=frame_db, slower=slower)


def _split(codec, st, best: _Candidate, frames, originals, budget, ledger) -> _Candidate:
    """The chosen synthesised candidate with one more backbone in each interval whose worst
    rebuilt frame is more than `extra_backbones.SPLIT_DB` under its two backbones' mean (luma
    PSNR): that frame, coded by AV1 with the others (the interval's grid stays; the header
    lists the extra backbones). Kept as the search keeps a coding
    (`pictures.fit.choose_within_budget`: the better score within the budget). Once: a
    second and third round, kept while the score rose, added 4 more backbones on vtest360 at
    0.005 bpp for +2.2 dB of PSNR and -0.005 JOD, and cost a fit each (benchmarks/RESULTS.md,
    tenth session)."""
    if not (st.split and best.synth and best.frame_db):
        return best
    pos = bb.GopHeader(best.scale, len(frames), best.interval).positions()
    add = extra_backbones.split_points(best.frame_db, pos)
    if not add:
        return best
    got = _synth_candidate(codec, st, frames, originals, best.interval, best.scale, budget,
                           ledger, tuple(add))
    log.debug("GOP at %d: split %s: %s against %s", frames[0][0], add,
              (got.bytes, round(got.score, 3)), (best.bytes, round(best.score, 3)))
    return choose_within_budget([best, got], budget, lambda c: c.score, lambda c: c.bytes)


def _slower(codec, st, best: _Candidate, frames, originals, budget, ledger) -> _Candidate:
    """The chosen synthesised candidate coded again with its backbones at the preset that
    intervals from SLOWER_FROM get (`synth_settings`: 4 below the file's, not below 4), where
    its own interval is shorter; kept as the search keeps a coding (the better score within
    the budget; at a fixed CRF, with no budget, the better score whatever its bytes, as
    `_split` keeps one). One fit of the chosen structure, not every short interval's candidate:
    with the search's candidates of intervals 2 and 3 coded that way, cup360 at 0.0025 bpp
    went from interval 4 to interval 2 at 0.12 JOD less, and at 0.005 it scored 0.03 JOD under
    this re-code (benchmarks/RESULTS.md, eleventh session)."""
    if not (st.speed.short_slower and best.synth) or best.interval >= SLOWER_FROM \
            or synth_settings(st.settings, SLOWER_FROM) == st.settings:
        return best
    got = _synth_candidate(codec, st, frames, originals, best.interval, best.scale, budget,
                           ledger, best.extra, slower=True)
    log.debug("GOP at %d: slower preset %s against %s", frames[0][0],
              (got.bytes, round(got.score, 3)), (best.bytes, round(best.score, 3)))
    return choose_within_budget([best, got], budget, lambda c: c.score, lambda c: c.bytes)


def _rebuild(st, backs: list, pos: list[int], originals) -> tuple[tuple[int, ...], list]:
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


def _upsampled(st, best: _Candidate, originals) -> _Candidate:
    """A synthesised reduced-scale candidate rebuilt with each pretrained upsampler the state
    tries (issue 33): the one whose GOP scores best by the search's measure, where it beats
    the header's own upsampler (Lanczos), so a GOP is never worse than Lanczos on it. The AV1
    units and the block mode maps stay (they were chosen with Lanczos: `_mapped` runs first);
    the header names the prior (PRIOR_TAG more bytes, charged to the GOP's rate)."""
    if not (st.priors and best.synth and best.scale > 1) or best.upsampled:
        return best
    best = replace(best, upsampled=True)
    head, parts = bb.unpack_gop(best.payload)
    t0 = best.payload.frame_index
    units = [p.streams[-1] for p in parts if p.frame_type != FrameType.M]
    hp, wp = originals[0].shape[:2]
    real = [o[: st.height, : st.width] for o in originals]
    pos = head.positions()
    coded = bb.coded_pictures(units, head.scale, st)  # dav1d once, each prior upsamples
    for pid, module, tag in st.priors:
        backs = [bb.to_picture(p, head.scale, st.height, st.width, hp, wp, prior=module)
                 for p in coded]
        named = replace(head, lanczos=False, prior=pid, prior_tag=tag)
        if head.maps:  # the maps (and the mode bits they count from) stay as chosen
            rec = block_maps.rebuilt(named, backs, st.height, st.width)
        else:
            modes, rec = _rebuild(st, backs, pos, originals)
            named = replace(named, modes=modes)
        got = score(rec, real)
        log.debug("GOP at %d, prior %d: %.3f (best so far %.3f)", t0, pid, got, best.score)
        if got > best.score:
            payload = bb.pack_gop(t0, named, parts)
            best = replace(best, payload=payload, bytes=chunk_bytes(payload), score=got)
    return best


def _mapped(codec, st, best: _Candidate, frames, originals, budget, ledger) -> _Candidate:
    """A synthesised candidate with block mode maps (`block_maps`, issue 30 part 1) where
    they score better by the search's measure. The maps are chosen on its backbones (with
    Lanczos: a prior is tried after, `_upsampled`); when the GOP would then be over its budget,
    the structure is coded again with the maps' bytes taken from the budget, and the maps
    chosen anew on those backbones."""
    if not (st.speed.maps and best.synth):
        return best
    got = _with_maps(st, best, originals)
    if got is not None and budget is not None and got.bytes > BUDGET_SLACK * budget:
        room = budget - (got.bytes - best.bytes)
        got = None
        if room > budget / 2:  # maps worth half the budget never pay
            again = _synth_candidate(codec, st, frames, originals, best.interval, best.scale,
                                     room, ledger, best.extra, best.slower)
            got = _with_maps(st, again, originals)
            if got is not None and got.bytes > BUDGET_SLACK * budget:
                got = None
    log.debug("GOP at %d: maps %s", frames[0][0],
              None if got is None else (got.bytes, round(got.score, 3), round(best.score, 3)))
    return got if got is not None and got.score > best.score else best


def _with_maps(st, c: _Candidate, originals) -> _Candidate | None:
    """The candidate with the block mode maps `block_maps.choose` makes for its decoded
    backbones, scored; None when no block would leave its interval's mode."""
    head, parts = bb.unpack_gop(c.payload)
    units = [p.streams[-1] for p in parts if p.frame_type != FrameType.M]
    hp, wp = originals[0].shape[:2]
    backs = bb.backbone_pictures(units, head.scale, st, hp, wp, head.lanczos)  # no prior yet
    h, w = st.height, st.width
    sym, fields = block_maps.choose(backs, head.positions(), head.modes, originals, h, w,
                                    c.bytes)
    if sym is None:
        return None
    head = replace(head, maps=block_maps.section(sym))
    payload = bb.pack_gop(c.payload.frame_index, head, parts)
    real = [o[:h, :w] for o in originals]
    return replace(c, payload=payload, bytes=chunk_bytes(payload),
                   score=score(block_maps.rebuilt(head, backs, h, w, fields), real))


SLOWER_FROM = 4  # backbone interval from which a synthesised GOP codes at a slower preset
# (a shorter one may be coded again at that preset once chosen: `_slower`)


def synth_settings(settings: Av1Settings, interval: int) -> Av1Settings:
    """The SVT-AV1 settings of a synthesised GOP's backbones: from SLOWER_FROM frames apart,
    4 presets slower (not below 4, unless the file's preset already is): coding a quarter of
    the frames or fewer at preset p - 4 (about 4.5x slower a frame) costs about what coding
    every frame at p does, and the interval's rebuilt frames inherit the backbones' quality.
    (The codec config's preset stays the file's: informative.)"""
    if interval < SLOWER_FROM:
        return settings
    return replace(settings, preset=min(settings.preset, max(settings.preset - 4, 4)))


def _synth_parts(t0: int, pos: list[int], backbone_parts: list) -> list:
    out = [backbone_parts[0]]
    for k in range(1, len(pos)):
        out += [FramePayload(t0 + i, FrameType.M, 0, []) for i in range(pos[k - 1] + 1, pos[k])]
        out.append(backbone_parts[k])
    return out


def _field(flows: dict, originals, i: int, j: int, fmt: FieldFormat) -> np.ndarray:
    """Quantised block field of frame i against frame j (cached: candidates share them)."""
    key = (i, j, fmt.block, fmt.step)
    if key not in flows:
        from . import encoder as se  # the learned backbone's (torch): motion GOPs only

        flows[key] = se.quantized_field(originals[i], originals[j], fmt)
    return flows[key]


def _code_motion_frames(codec, st, frames, originals, pos, recon, fields, flows, fmt):
    """MV payloads of the frames between backbones, against the decoded backbones `recon`."""
    from . import encoder as se  # the learned backbone's motion coder (torch)
    from ...torch_env import torch

    out = {}
    lam = _lambda(recon, originals)
    for k in range(1, len(pos)):
        i0, i1 = pos[k - 1], pos[k]
        if i1 - i0 < 2:
            continue
        ctx = se.MotionContext(t0=frames[i0][0], b0=recon[i0], o0=originals[i0],
                               t1=frames[i1][0], b1=recon[i1], o1=originals[i1],
                               v1=fields[i1], fmt=fmt,
                               flow=lambda i, j: _field(flows, originals, i - frames[0][0],
                                                        j - frames[0][0], fmt))
        for i in range(i0 + 1, i1):
            x = to_tensor(originals[i]).to(codec.device)
            with torch.no_grad():
                out[i] = se.code_motion_frame(codec, ctx, frames[i][0], x, lam, 1.0)
    return out


def _lambda(recon: dict, originals) -> float:
    """Lagrangian of the motion choices, in bits per unit of squared error (frames in [0,1]):
    the high-rate slope of the backbones' rate-distortion curve, 1 / (2 ln 2 * MSE), scaled by
    MOTION_SLOPE (chosen so that at the learned backbone's middle rate it gives that rate's
    training lambda, which the learned path uses)."""
    mse = np.mean([np.mean((recon[i].double().cpu().numpy() - originals[i].transpose(2, 0, 1)
                            [None] / 255.0) ** 2) for i in recon])
    return MOTION_SLOPE / (2 * math.log(2) * max(float(mse), 1e-6))


def score(rec: list[np.ndarray], real: list[np.ndarray]) -> float:
    """The structure search's, the upsampler choice's and the refinement gate's measure: the
    fast luma SSIM (`pictures.ssim.ssim_y`, 8x8 windows) of decoded frames against the
    originals (uint8 RGB), averaged over the frames, as -10 log10(1 - SSIM), capped at 99.
    Frames with a side under 8 pixels, which it cannot measure, score their luma PSNR."""
    h, w = real[0].shape[:2]
    if min(h, w) < ssim.WINDOW:
        return min(metrics.psnr_y(np.stack(rec), np.stack(real)), 99.0)
    return ssim.db(ssim.mean_ssim_y(rec, real))


def _failed(rec, real, pos) -> bool:
    """A motion frame more than FAIL_DB below the mean of its GOP's backbones (luma PSNR)."""
    if len(pos) == len(rec):
        return False
    q = [min(metrics.psnr_y(r[None], o[None]), 99.0) for r, o in zip(rec, real)]
    ref = float(np.mean([q[i] for i in pos]))
    return any(q[i] < ref - FAIL_DB for i in range(len(rec)) if i not in pos)
