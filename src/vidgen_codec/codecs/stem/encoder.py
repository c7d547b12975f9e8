"""STEM encoder: frames in, chunks out, one segment (backbone interval) at a time.

    frame t --(GOP start)--> held until the GOP's first segment is in (rate control), then
                             I-frame: intra model, budget from GopRate
    frames t0+1 .. t1 buffered; at t1 (or at the clip's end):
        P backbone t1: DIS flow(t1 -> t0) -> block field V1 -> motion stream
                       pred = warp(decoded b0, V1) -> residual image -> residual model (q searched)
        MV frames t:   DIS flows to t0 and t1 -> fields, each sent coded or left to the decoder's
                       prediction, and block modes: whichever minimises bits + lambda * SSE
Each backbone is coded once more at the chosen rate when its first coding's mean error is
visible (`dc_trim`: the second coding shifts the frame against that error).
Rate control (issue 31): before a backbone is coded, the MV frames of its segment are coded on
trial (`_trial_motion`: against the P-frame's motion-compensated prediction in place of its
decoded picture). What a P-frame's budget leaves for motion is the trial's bytes plus the
clip's mean MV frame for the rest of the GOP (before any, the trial's mean); an I-frame's
leaves that mean for each MV frame of its GOP. Either is at most MV_MAX_SHARE of the GOP's bytes
left and never less than the rest of the GOP at the trial's cheapest frame (`mv_budget`). A P-frame
whose residual does not fit (a scene change) tries smaller reserves: the clip's mean for every
MV frame left (the same bounds), then the floor. The MV frames are coded at the lambda of the
last P-frame's q (else the I-frame's), as the trial was, so that they spend about what it
said (a clip's or span's first segment is tried at Q_START, before its I-frame has a q); the
P-frames after them take up the difference, and after the GOP's last P-frame they are capped
at what is left of it. Before this, a GOP's I-frame reserved a guessed 24-40 bytes per MV
frame and the last segment's motion went unaccounted: files came out 9-22 % over their target
at 0.01-0.02 bpp.
Memory holds one segment of frames (and a GOP's I-frame until its first segment is in), so it
does not grow with the clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
from ...torch_env import torch

from ...bitstream import FramePayload
from ...bitstream.ids import ChunkType, FrameType
from ...frames import to_uint8
from ...motion.estimate import block_field, dense_flow
from ...motion.mv_coding import (BACKWARD, BLEND, FORWARD, FieldFormat, encode_field,
                                encode_modes)
from ...motion.warp import warp
from . import motion as sm
from . import mv_budget as mvb
from ..base import CodedChunk
from ...bitstream.framing import chunk_bytes
from ..common.chunks import code_learned_i, fit_chunk
from ..dc_trim import trimmed
from ..intra import rate_code, snap_q
from .plan import StemPlan
from ..common.rate import GopRate, backbone_budget, open_gop, spend

MODE_BITS = 3.0  # bits a non-blend mode is assumed to cost when choosing modes


@dataclass
class StemEncoderState:
    plan: StemPlan
    rate: GopRate | None
    q_fixed: float | None
    expected_frames: int | None
    index: int = 0  # display index of the next input frame
    pending: list = field(default_factory=list)  # [(t, x)] after the last backbone
    t0: int = -1
    b0: torch.Tensor | None = None  # decoded last backbone
    o0: np.ndarray | None = None  # its original, uint8
    prev_field: tuple | None = None  # (V, fmt, tp, t0) of the last P backbone
    p_left: int = 0  # P-frames (segments) / MV frames still to code in the open GOP
    m_left: int = 0
    pending_i: tuple | None = None  # (t, x): a GOP's I-frame, held for its first segment


@torch.no_grad()
def encode_frame(codec, st: StemEncoderState, x: torch.Tensor):
    t = st.index
    st = replace(st, index=t + 1)
    if st.pending_i is None and (st.b0 is None or (st.p_left == 0 and not st.pending)):
        if st.rate is None or _gop_shape(st, t)[1] == 0:  # nothing to wait for
            return _code_i(codec, st, t, x)
        return [], replace(st, pending_i=(t, x))
    st = replace(st, pending=st.pending + [(t, x)])
    if len(st.pending) == st.plan.backbone_interval:
        return _code_segment(codec, st)
    return [], st


@torch.no_grad()
def flush(codec, st: StemEncoderState):
    if st.expected_frames is None:  # the clip's length is known now: a GOP still to be
        # budgeted (its I-frame held) ends here, not a whole GOP later
        st = replace(st, expected_frames=st.index)
    if st.pending:
        return _code_segment(codec, st)
    if st.pending_i is not None:
        return _code_i(codec, replace(st, pending_i=None), *st.pending_i)
    return [], st


# -- backbones -----------------------------------------------------------------------------
def _gop_shape(st: StemEncoderState, t: int) -> tuple[int, int, int]:
    """(frames, P-frames, MV frames) of the GOP that starts at t. When the clip's length is
    known, a GOP that would leave a stub of less than half a GOP takes the stub in."""
    n = st.plan.gop_size
    if st.expected_frames is not None and t < st.expected_frames:
        left = st.expected_frames - t
        n = left if 2 * (left - n) < n else n  # a stub under half a GOP joins this one
    b = st.plan.backbone_interval
    p = -(-(n - 1) // b) if n > 1 and st.plan.segments else 0
    return (n, p, n - 1 - p) if p else (1, 0, 0)


def _code_i(codec, st: StemEncoderState, t: int, x: torch.Tensor,
            mv_mean: float | None = None, mv_floor: float = 0.0):
    """`mv_mean`: the bytes an MV frame of this GOP is expected to take
    (`mv_budget.mean_after`), else the running mean of the clip's MV frames; `mv_floor`: the
    fewest it can take."""
    n, n_p, n_m = _gop_shape(st, t)
    rate, budget = st.rate, None
    if st.q_fixed is None:
        rate = open_gop(rate, n)
        w = st.plan.i_weight
        budget = backbone_budget(rate, w, w + n_p, mvb.reserve(
            rate, n_m * (rate.mv_mean if mv_mean is None else mv_mean), n_m * mv_floor))
    pl, b0, q = code_learned_i(codec.intra, x, t, budget, st.q_fixed,
                               rate.q_i if rate else None)
    if st.q_fixed is None:
        rate = replace(spend(rate, chunk_bytes(pl)), q_i=q)
    chunk = CodedChunk(ChunkType.BACKBONE_FRAME, pl, gop_start=True)
    st = replace(st, rate=rate, t0=t, b0=b0, o0=_u8(x), prev_field=None,
                 p_left=n_p, m_left=n_m)
    return [chunk], st


def _code_segment(codec, st: StemEncoderState):
    frames = st.pending
    t1, x1 = frames[-1]
    hp, wp = x1.shape[-2:]
    fmt = FieldFormat(st.plan.block, st.plan.step)
    o1 = _u8(x1)
    chunks, trial, held = [], None, st.pending_i
    if held is not None:  # the GOP's I-frame, now that its first segment is known
        st = replace(st, pending_i=None, t0=held[0], b0=held[1], o0=_u8(held[1]),
                     prev_field=None)
    # the segment's originals, converted once, and their fields, each estimated once: shared
    # by the trial and the coding
    flow = _FieldCache({st.t0: st.o0, t1: o1, **{t: _u8(x) for t, x in frames[:-1]}}, fmt)
    if held is not None:
        trial = _trial_motion(codec, st, frames, fmt, flow, None)
        chunks, st = _code_i(codec, st, *held, mvb.mean_after(st.rate, trial),
                             min(trial, default=0))
    v1 = flow(t1, st.t0)
    v1_pred = sm.predict_p_field(st.prev_field, st.t0, t1, fmt, sm.field_shape(fmt, hp, wp))
    mv = encode_field(v1, v1_pred, fmt, codec.backend, codec.motion_tables)
    pred = sm.p_prediction(st.b0, v1, fmt)
    reserves = allowed = None
    if st.rate is not None:
        if trial is None:  # (the I-frame's trial stands for the GOP's first segment)
            trial = _trial_motion(codec, st, frames, fmt, flow, pred)
        wanted = sum(trial) + max(st.m_left - len(trial), 0) * mvb.mean_after(st.rate, trial)
        floor = st.m_left * min(trial, default=0)  # an MV frame takes its trial's fewest
        reserves = (mvb.reserve(st.rate, wanted, floor),  # then: the clip's mean MV frame,
                    mvb.reserve(st.rate, st.m_left * st.rate.mv_mean, floor), floor)  # floor
    p_payload, b1, q, rate = _code_p_residual(codec, st, t1, x1, pred, mv, reserves)
    chunks.append(CodedChunk(ChunkType.BACKBONE_FRAME, p_payload, gop_start=False))
    lam = _mv_lambda(codec, q if rate is None else mvb.last_q(st.rate))
    last = rate is not None and st.p_left <= 1
    if last:  # after the GOP's last P-frame, its MV frames may take all that is left of it,
        # and no more: the P-frames after the others take up what they over- or underspend
        allowed = rate.gop_budget
    mu = mvb.pressure(rate, st.plan)
    for k, (t, x) in enumerate(frames[:-1]):
        cap = mvb.cap(allowed, len(frames) - 1 - k) if last else None
        payload = _code_m(codec, st, t, x, t1, o1, b1, v1, fmt, lam, mu, flow, cap)
        chunks.append(CodedChunk(ChunkType.MV_PAYLOAD, payload, gop_start=False))
        if rate is not None:
            rate = spend(rate, chunk_bytes(payload), mv=True)
        if last:
            allowed -= chunk_bytes(payload)
    st = replace(st, rate=rate, pending=[], t0=t1, b0=b1, o0=o1,
                 prev_field=(v1, fmt, st.t0, t1), p_left=max(st.p_left - 1, 0),
                 m_left=max(st.m_left - (len(frames) - 1), 0))
    return chunks, st


def _trial_motion(codec, st: StemEncoderState, frames, fmt: FieldFormat, flow,
                  pred: torch.Tensor | None) -> list[int]:
    """Chunk bytes of the segment's MV frames coded on trial: against the backbone before
    (as decoded, or the I-frame's original before it is coded) and, for the one after, its
    motion-compensated prediction `pred` (without the residual; None: made from the backbone
    before), at `mv_budget.last_q`'s lambda and the pressure on motion bits now."""
    t1 = frames[-1][0]
    v1 = flow(t1, st.t0)
    if pred is None:
        pred = sm.p_prediction(st.b0, v1, fmt)
    lam = _mv_lambda(codec, mvb.last_q(st.rate))
    mu = mvb.pressure(st.rate, st.plan)
    o1 = flow.originals[t1]
    return [chunk_bytes(_code_m(codec, st, t, x, t1, o1, pred, v1, fmt, lam, mu, flow, None))
            for t, x in frames[:-1]]


def _mv_lambda(codec, q: float) -> float:
    """The MV frames' price of squared error (0-255 RGB): the residual model's lambda at q."""
    return sm.lambda_at(codec.residual.cfg.lambdas, q) * 255**2 / 3


class _FieldCache:
    """flow(t, t_ref): `quantized_field` of original t against original t_ref (uint8, by
    display index), each estimated once."""

    def __init__(self, originals: dict, fmt: FieldFormat):
        self.originals, self.fmt, self.fields = originals, fmt, {}

    def __call__(self, t: int, t_ref: int) -> np.ndarray:
        if (t, t_ref) not in self.fields:
            self.fields[t, t_ref] = quantized_field(self.originals[t], self.originals[t_ref],
                                                    self.fmt)
        return self.fields[t, t_ref]


def _code_p_residual(codec, st, t1, x1, pred, mv: bytes, mv_reserves: tuple | None):
    """P payload [motion, z, y] (or [motion] alone when even the lowest rate is too big).
    `mv_reserves`: what the budget leaves for the GOP's MV frames still to come, the first
    one whose budget holds the P-frame's residual (a scene change: its residual does not fit
    what its motion's trial leaves, and a bare P-frame would spoil the frames after it)."""
    y = codec.residual.analyze(sm.residual_image(x1, pred))

    def payload(q, offset=None):
        y_at = y if offset is None else codec.residual.analyze(
            sm.residual_image(x1 - offset, pred))
        return FramePayload(t1, FrameType.P, rate_code(q), [mv] + codec.residual.code_latent(y_at, q))

    def decode(p):
        r_hat = codec.residual.decode_streams(p.streams[1:], q, *x1.shape[-2:])
        return sm.add_residual(pred, r_hat)

    rate = st.rate
    if st.q_fixed is not None:
        q = snap_q(st.q_fixed)
        return (*trimmed(x1, payload(q), partial(payload, q), decode, chunk_bytes), q, rate)
    budget = None
    for reserve in mv_reserves:
        b = backbone_budget(rate, 1.0, st.p_left, reserve)
        if budget is not None and b <= budget:
            continue  # no larger than a budget that failed: it fails too
        budget = b
        q, pl = fit_chunk(payload, budget, codec.residual.cfg.levels, rate.q_p)
        if chunk_bytes(pl) <= budget:
            break
    pl, b1 = trimmed(x1, pl, partial(payload, q), decode, chunk_bytes, budget)
    s = chunk_bytes(pl)
    bare = FramePayload(t1, FrameType.P, rate_code(q), [mv])
    if s > budget and chunk_bytes(bare) < s:
        pl, b1 = bare, pred.clamp(0, 1)
    return pl, b1, q, replace(spend(rate, chunk_bytes(pl)), q_p=q)


# -- MV frames -----------------------------------------------------------------------------
@dataclass(frozen=True)
class MotionContext:
    """What an MV frame between backbones t0 and t1 is coded against: the decoded backbones
    b0, b1, their originals o0, o1 (uint8), the P backbone's field v1, and `flow(t, t_ref)`,
    the quantised block field of frame t against frame t_ref (from originals)."""

    t0: int
    b0: torch.Tensor
    o0: np.ndarray
    t1: int
    b1: torch.Tensor
    o1: np.ndarray
    v1: np.ndarray
    fmt: FieldFormat
    flow: object


def _code_m(codec, st, t, x, t1, o1, b1, v1, fmt: FieldFormat, lam: float,
            mu: float, flow, cap: float | None) -> FramePayload:
    ctx = MotionContext(st.t0, st.b0, st.o0, t1, b1, o1, v1, fmt, flow)
    return code_motion_frame(codec, ctx, t, x, lam, mu, cap)


def code_motion_frame(codec, ctx: MotionContext, t: int, x: torch.Tensor, lam: float,
                      mu: float, cap: float | None = None) -> FramePayload:
    """Each field coded or predicted, with block modes: the cheapest in mu * bits + lam * SSE
    among the variants whose chunk fits `cap` bytes (else the smallest)."""
    hp, wp = x.shape[-2:]
    fmt = ctx.fmt
    alpha = (t - ctx.t0) / (ctx.t1 - ctx.t0)
    pf, pb = sm.predict_m_fields(ctx.v1, ctx.t0, t, ctx.t1)
    vf = ctx.flow(t, ctx.t0)
    vb = ctx.flow(t, ctx.t1)
    fwd = {}  # variant -> (stream, warp of b0)
    for name, v, p in (("coded", vf, pf), ("pred", pf, pf)):
        fwd[name] = (encode_field(v, p, fmt, codec.backend, codec.motion_tables),
                     warp(ctx.b0, sm.pixels(v, fmt, hp, wp, x.device)))
    bwd = {}
    for name, v, p in (("coded", vb, pb), ("pred", pb, pb)):
        bwd[name] = (encode_field(v, p, fmt, codec.backend, codec.motion_tables),
                     warp(ctx.b1, sm.pixels(v, fmt, hp, wp, x.device)))
    best = None
    for f_stream, w0 in fwd.values():
        for b_stream, w1 in bwd.values():
            modes, sse = _choose_modes(x, w0, w1, alpha, fmt.block, lam, mu)
            m_stream = encode_modes(modes, codec.backend, codec.motion_tables)
            streams = [f_stream, b_stream, m_stream]
            bits = 8 * sum(len(s) for s in streams)
            over = cap is not None and chunk_bytes(FramePayload(t, FrameType.M, 0, streams)) > cap
            key = (over, bits if over else mu * bits + lam * sse)
            if best is None or key < best[0]:
                best = (key, streams)
    return FramePayload(t, FrameType.M, 0, best[1])


def _choose_modes(x, w0, w1, alpha: float, block: int, lam: float, mu: float):
    """Per block: BLEND unless one side alone saves more than MODE_BITS bits of SSE."""
    cands = torch.stack([(1 - alpha) * w0 + alpha * w1, w0, w1])  # BLEND, FORWARD, BACKWARD
    err = ((cands - x) ** 2).sum(dim=(1, 2))  # (3, H, W)
    k = block
    per_block = err.reshape(3, err.shape[1] // k, k, err.shape[2] // k, k).sum(dim=(2, 4))
    cost = per_block * lam
    cost[1:] += MODE_BITS * mu
    modes = cost.argmin(dim=0).cpu().numpy().astype(np.int64)
    sse = float(per_block.gather(0, torch.from_numpy(modes)[None].to(per_block.device)).sum())
    return modes, sse


def quantized_field(target: np.ndarray, reference: np.ndarray, fmt: FieldFormat) -> np.ndarray:
    """The block field of `target` against `reference` (uint8 frames: DIS flow, one vector
    per block), in units of fmt.step."""
    return np.round(block_field(dense_flow(target, reference), fmt.block) / fmt.step
                    ).astype(np.int64)


def _u8(x: torch.Tensor) -> np.ndarray:
    return to_uint8(x)[0]


__all__ = ["StemEncoderState", "MotionContext", "code_motion_frame", "quantized_field", "encode_frame", "flush", "BLEND", "FORWARD", "BACKWARD"]
