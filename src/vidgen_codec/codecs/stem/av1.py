"""STEM with the `av1` backbone: one GOP at a time, its structure chosen by measurement.

    frames --scene cut? / GOP full?--> GOP buffer (padded uint8 frames)
    per GOP, for each candidate (backbone interval B, backbone scale s):
        backbones 0, B, 2B, .., last  --downscale s--> SVT-AV1, one closed sequence, CRF
            fitted to (GOP budget - motion bytes)                              [pictures.fit]
        frames between backbones: motion only (the learned path's MV coder, encoder.py)
        the candidate's chunks are decoded by the real decoder, measured against the originals
    and synthesised GOPs (backbones every 2 .. 32 frames at scale 1, 2 or 4, nothing sent
    between them but one mode bit per interval: `synth_gop`, `decoder.synthesise_gop`)
    keep the candidate with the best `score` (`candidate`: a fast luma SSIM over the GOP, in
    dB) among those within the budget whose predictions did not fail (no frame > FAIL_DB below
    the mean of its backbones, in luma PSNR); B = 1 (every frame an AV1 frame, no motion frames) is
    always a candidate, and at full scale it keeps a near tie (`FULL_MARGIN`)
    a chosen synthesised GOP may then take extra backbones, a slower preset, block mode maps and
    a pretrained upsampler, each where it scores higher (`chosen_gop`)

The measure (issue 30, part 2): every candidate of 23 GOPs (tuning and held-out clips, 0.0025
to 0.01 bpp) scored by ColorVideoVDP (`benchmarks/search_measure.py`, benchmarks/RESULTS.md):
luma PSNR picked ColorVideoVDP's best candidate in 10 and gave away 0.073 JOD on average; the
fast luma SSIM of `pictures/ssim.py` (8x8 windows, one scale) 15 and 0.036, at a twelfth of
luma PSNR's cost; its five-scale MS-SSIM 14 and 0.051, and 0.69 JOD lost on a held-out clip.
It also chooses the upsampler (`chosen_gop.upsampled`) and is the gate's.

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
from ...bitstream.framing import chunk_bytes
from ...bitstream.ids import ChunkType, FrameType
from ...frames import as_tensor, picture, to_tensor, to_uint8
from ...motion.mv_coding import FieldFormat, encode_field
from ...pictures.av1 import Av1Settings, encode_sequence
from ...pictures.cuts import CutDetector
from ...pictures.fit import BUDGET_SLACK, choose_within_budget
from ...pictures.yuv420 import rgb_to_yuv420
from ...stem_gop import MAX_GOP_FRAMES
from ..base import CodedChunk
from ..common.rate import GopRate, open_gop, spend
from . import backbone as bb
from . import chosen_gop
from . import decoder as sd
from . import motion as sm
from . import synth_gop
from .candidate import Candidate, score
from .plan import StemPlan
from .rate_fit import Ledger, fit_backbones
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
    split: bool = True  # extra backbones may join a synthesised GOP's interval
    # (`chosen_gop.split`): the speed's choice, and never when the user fixed the interval


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
        results += synth_gop.candidates(codec, st, frames, originals, budget, ledger)
        # the structure is chosen on Lanczos alone; a prior may then only replace the chosen
        # structure's upsampler, so a file with priors has the structure and bytes of one
        # without (issue 33: a prior's candidate chosen across structures lost 0.53 JOD on
        # the talking head at 0.0025 bpp)
        best = chosen_gop.split(codec, st, _choose(results, budget), frames, originals, budget,
                                ledger)
        best = chosen_gop.slower(codec, st, best, frames, originals, budget, ledger)
        best = chosen_gop.mapped(codec, st, best, frames, originals, budget, ledger)
        best = chosen_gop.upsampled(st, best, originals)
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
        again = (synth_gop.candidate(codec, st, frames, originals, best.interval, best.scale,
                                     budget - st.refine_bytes, ledger, best.extra, best.slower)
                 if best.synth else
                 _candidate(codec, st, frames, originals, best.interval, best.scale,
                            budget - st.refine_bytes, flows, ledger))
        again = chosen_gop.mapped(codec, st, again, frames, originals,
                                  budget - st.refine_bytes, ledger)
        again = chosen_gop.upsampled(st, again, originals)
        best = _gate(codec, st, again, frames[0][0], originals)
        if not best.refine_mask:
            # the smaller coding gained nothing from the refiner: the file drops its REFINE
            # chunk, so the coding at the whole budget is the one to keep (keeping the smaller
            # one left the talking head at 0.0025 bpp 13 % under its target)
            best = chosen
    return best


def _gate(codec, st: Av1EncoderState, best: Candidate, t0: int, originals) -> Candidate:
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


def _choose(results: list[Candidate], budget: float | None) -> Candidate:
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
               measure: bool = True) -> Candidate:
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
    c = Candidate(b, s, crf, payload, chunk_bytes(payload), 0.0, False)
    return _measured(codec, st, c, originals) if measure else c


def _measured(codec, st, c: Candidate, originals) -> Candidate:
    """The candidate with its score and failure test, from its decoded frames."""
    if c.score:
        return c
    hp, wp = originals[0].shape[:2]
    decoded = sd.decode_gop(codec, c.payload, st, hp, wp)
    real = [o[: st.height, : st.width] for o in originals]
    rec = [picture(d, st.height, st.width) for d in decoded]
    pos = bb.GopHeader(c.scale, len(originals), c.interval).positions()
    return replace(c, score=score(rec, real), failed=_failed(rec, real, pos))


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


def _failed(rec, real, pos) -> bool:
    """A motion frame more than FAIL_DB below the mean of its GOP's backbones (luma PSNR)."""
    if len(pos) == len(rec):
        return False
    q = [min(metrics.psnr_y(r[None], o[None]), 99.0) for r, o in zip(rec, real)]
    ref = float(np.mean([q[i] for i in pos]))
    return any(q[i] < ref - FAIL_DB for i in range(len(rec)) if i not in pos)
