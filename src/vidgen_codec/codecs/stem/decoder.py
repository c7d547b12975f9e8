"""STEM decoder: chunks in, frames out in display order.

    I (BACKBONE_FRAME)  -> intra model -> output at once; it becomes backbone b0
    P (BACKBONE_FRAME)  -> motion field (+ prediction) -> warp b0 -> + residual -> b1, held
    M (MV_PAYLOAD)      -> fields + modes -> blend of warped b0 and b1 -> output;
                           after the last M before b1 (or at once if none), b1 is output and
                           becomes b0
    av1 GOP (one chunk) -> its backbones through dav1d, and between them either the M frames
                           above or, in a synthesised GOP, frames rebuilt from the two
                           backbones around them (`synthesise_gop`, `motion.bilateral`),
                           block by block where the GOP sends block mode maps
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ...bitstream import FramePayload
from ...bitstream.ids import EntropyCoderId, FrameType
from ...entropy.select import get_backend
from ...errors import FormatError
from ...motion import bilateral, block_modes
from ...motion.mv_coding import decode_field, decode_modes, peek_format
from ...threads import map_threads
from . import motion as sm
from ...stem_gop import MOTION
from .backbone import AV1, Av1BackboneDecoder, BackboneConfig, unpack_gop
from .upsamplers import decoder_prior

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass
class StemDecoderState:
    t0: int = -1
    b0: "torch.Tensor | np.ndarray | None" = None  # av1 GOPs without motion frames: uint8
    next_t: int = 0  # display index of the next frame to output
    held: tuple | None = None  # (t1, b1, v1, fmt): a decoded P backbone not yet output
    prev_field: tuple | None = None  # (V, fmt, tp, t0) of the last P backbone
    backbone: BackboneConfig = BackboneConfig()  # from the CODEC_CONFIG chunk
    width: int = 0  # frame size (the av1 backbone codes the frame, not its padding)
    height: int = 0
    av1: Av1BackboneDecoder | None = None  # the open GOP's AV1 sequence


def decode_frame(codec, st: StemDecoderState, payload: FramePayload, hp: int, wp: int,
                 chunk=None):
    """Frames [(t, frame)] in display order: (1,3,hp,wp) float tensors, or hp x wp x 3 uint8
    pictures from an av1 GOP without motion frames (no torch: `frames.picture` takes both)."""
    ftype = payload.frame_type
    if st.backbone.coder == AV1:
        if ftype != FrameType.I:
            raise FormatError("an av1-backbone stem file holds one I chunk per GOP",
                              chunk=chunk)
        return _decode_gop_av1(codec, st, payload, hp, wp, chunk)
    with _no_grad():
        if ftype == FrameType.I:
            return _decode_i(codec, st, payload, hp, wp, chunk)
        if ftype == FrameType.P:
            return _decode_p(codec, st, payload, hp, wp, chunk)
        if ftype == FrameType.M:
            return _decode_m(codec, st, payload, hp, wp, chunk)
    raise FormatError(f"stem does not use frame type {ftype}", chunk=chunk)


def _no_grad():
    """torch.no_grad(), torch imported here: the learned backbone's and motion frames' path."""
    from ...torch_env import torch

    return torch.no_grad()


def flush(codec, st: StemDecoderState):
    if st.held is not None:
        raise FormatError(f"stream ends before the MV frames ahead of backbone {st.held[0]}")
    return [], st


def _decode_i(codec, st, payload, hp, wp, chunk):
    from ..intra import Q_STEP

    t = payload.frame_index
    if st.held is not None or len(payload.streams) != 2 or (st.b0 is not None
                                                             and t != st.next_t):
        raise FormatError("misplaced or malformed I-frame", chunk=chunk)
    b = codec.intra.decode_streams(payload.streams, payload.rate_code * Q_STEP, hp, wp)
    return [(t, b)], replace(st, t0=t, b0=b, next_t=t + 1, prev_field=None)


def _decode_gop_av1(codec, st, payload, hp, wp, chunk):
    t = payload.frame_index
    if st.held is not None or (st.b0 is not None and t != st.next_t):
        raise FormatError("misplaced av1 GOP chunk", chunk=chunk)
    head, frames = unpack_gop(payload, chunk=chunk)
    # motion frames warp float backbones; without them the pictures stay uint8 (no torch)
    motion = not head.synth and any(fp.frame_type == FrameType.M for fp in frames)
    av1 = Av1BackboneDecoder(head.scale, st.height, st.width, head.lanczos,
                             decoder_prior(head, codec.device), tensors=motion)
    if head.synth:
        out = synthesise_gop(head, t, [av1.picture(fp.streams[0], hp, wp, chunk=chunk)
                                       for fp in frames if fp.frame_type != FrameType.M],
                             chunk=chunk)
        return out, replace(st, t0=out[-1][0], b0=out[-1][1], next_t=out[-1][0] + 1,
                            prev_field=None)
    with _no_grad() if motion else contextlib.nullcontext():
        b = av1.frame(frames[0].streams[0], hp, wp, chunk=chunk)
        out = [(t, b)]
        st = replace(st, t0=t, b0=b, next_t=t + 1, prev_field=None, av1=av1)
        for fp in frames[1:]:
            step = _decode_p_av1 if fp.frame_type == FrameType.P else _decode_m
            more, st = step(codec, st, fp, hp, wp, chunk)
            out += more
    if st.held is not None:
        raise FormatError("av1 GOP chunk ends before its last backbone is output", chunk=chunk)
    return out, replace(st, av1=None)


def synthesise_gop(head, t0: int, pics: list, *, chunk=None) -> list:
    """A synthesised GOP's frames [(t, hp x wp x 3 uint8)] in display order from its decoded
    backbones (hp x wp x 3 uint8): `synthesised_frames`."""
    return list(enumerate(synthesised_frames(head, pics, chunk=chunk), t0))


def synthesised_frames(head, pics: list, fields: list | None = None, *, chunk=None) -> list:
    """A synthesised GOP's frames (hp x wp x 3 uint8, display order) from its decoded
    backbones: each interval's frames between them by `head.modes`, and per block by its block
    mode maps when it has them (bitstream_spec.md, stem, "Synthesised frames", "Block mode
    maps"); the intervals on threads (`threads.map_threads`). `fields`: the intervals' motion
    fields, when the caller has them (the encoder's map choice)."""
    pos = head.positions()
    block, maps = 0, None
    if head.maps:
        hp, wp = pics[0].shape[:2]
        block, maps = block_modes.unpack(head.maps, head.gaps(), hp, wp,
                                         get_backend(EntropyCoderId.VGC_RANS), chunk=chunk)
    gaps = [(j, b - a) for j, (a, b) in enumerate(zip(pos, pos[1:])) if b - a > 1]

    def rebuild(item):  # interval k: its own backbones, mode and map (independent)
        k, (j, n) = item
        modes = None if maps is None else block_modes.absolute(maps[k], head.modes[k])
        return interval_frames(pics[j], pics[j + 1], n, head.modes[k], modes, block,
                               None if fields is None else fields[k])

    between = dict(zip((j for j, _ in gaps), map_threads(rebuild, enumerate(gaps))))
    out = [pics[0]]
    for j in range(len(pos) - 1):
        out += between.get(j, [])
        out.append(pics[j + 1])
    return out


def interval_frames(p0, p1, n: int, mode: int, blocks=None, block: int = 0,
                    field=None) -> list:
    """The n - 1 frames (HxWx3 uint8) between backbones p0 and p1, n frames apart: by the
    interval's mode, or with `blocks` (hb x wb absolute modes, `block_modes`) block by block.
    `field`: their `motion_field`, when the caller has it."""
    if blocks is not None and (blocks != block_modes.A_BLEND).any():
        field = motion_field(p0, p1) if field is None else field
        return [bilateral.rebuild_blocks(p0, p1, field, m, n, blocks, block)
                for m in range(1, n)]
    if mode == MOTION and blocks is None:
        field = motion_field(p0, p1) if field is None else field
        return [bilateral.interpolate(p0, p1, field, m, n) for m in range(1, n)]
    return [bilateral.blend(p0, p1, m, n) for m in range(1, n)]


def motion_field(p0, p1):
    """The smoothed half-motion field S between two backbones (`bilateral`)."""
    return bilateral.smooth_sum(bilateral.estimate(p0, p1), *p0.shape[:2])


def _decode_p_av1(codec, st, payload, hp, wp, chunk):
    """[motion field, AV1 unit] before motion frames, [AV1 unit] right after a backbone."""
    t1 = payload.frame_index
    n = len(payload.streams)
    if st.av1 is None or st.held is not None or n not in (1, 2) or t1 <= st.t0 \
            or (n == 1) != (t1 == st.t0 + 1):
        raise FormatError("av1 P-frame malformed, or without its GOP's I-frame", chunk=chunk)
    v1 = fmt = None
    if n == 2:
        v1, fmt = _p_field(codec, st, payload.streams[0], t1, hp, wp, chunk)
    b1 = st.av1.frame(payload.streams[-1], hp, wp, chunk=chunk)
    st = replace(st, held=(t1, b1, v1, fmt))
    if t1 == st.t0 + 1:
        return _release(st)
    return [], st


def _p_field(codec, st, stream: bytes, t1: int, hp: int, wp: int, chunk):
    """(V1, its format): a P backbone's motion field t1 -> t0, decoded against its
    prediction from the previous P field (both backbones use it)."""
    fmt = peek_format(stream, chunk=chunk)
    if hp % fmt.block or wp % fmt.block:
        raise FormatError("motion block size does not divide the frame", chunk=chunk)
    v_pred = sm.predict_p_field(st.prev_field, st.t0, t1, fmt, sm.field_shape(fmt, hp, wp))
    v1, _ = decode_field(stream, v_pred, codec.backend, codec.motion_tables, chunk=chunk)
    return v1, fmt


def _decode_p(codec, st, payload, hp, wp, chunk):
    t1 = payload.frame_index
    if st.b0 is None or st.held is not None or t1 <= st.t0 or len(payload.streams) not in (1, 3):
        raise FormatError("P-frame without a decoded backbone before it, or malformed",
                          chunk=chunk)
    v1, fmt = _p_field(codec, st, payload.streams[0], t1, hp, wp, chunk)
    pred = sm.p_prediction(st.b0, v1, fmt)
    if len(payload.streams) == 3:
        from ..intra import Q_STEP

        r_hat = codec.residual.decode_streams(payload.streams[1:], payload.rate_code * Q_STEP,
                                              hp, wp)
        b1 = sm.add_residual(pred, r_hat)
    else:
        b1 = pred.clamp(0, 1)
    st = replace(st, held=(t1, b1, v1, fmt))
    if t1 == st.t0 + 1:
        return _release(st)
    return [], st


def _decode_m(codec, st, payload, hp, wp, chunk):
    t = payload.frame_index
    if st.held is None or t != st.next_t or len(payload.streams) != 3:
        raise FormatError("MV frame out of order, without its backbones, or malformed",
                          chunk=chunk)
    t1, b1, v1, fmt = st.held
    if not st.t0 < t < t1:
        raise FormatError("MV frame outside its backbone interval", chunk=chunk)
    pf, pb = sm.predict_m_fields(v1, st.t0, t, t1)
    vf, ff = decode_field(payload.streams[0], pf, codec.backend, codec.motion_tables, chunk=chunk)
    vb, fb = decode_field(payload.streams[1], pb, codec.backend, codec.motion_tables, chunk=chunk)
    if ff != fmt or fb != fmt:
        raise FormatError("MV frame fields differ in format from their backbone's", chunk=chunk)
    modes = decode_modes(payload.streams[2], v1.shape[1:], codec.backend, codec.motion_tables,
                         chunk=chunk)
    w0 = sm.warp(st.b0, sm.pixels(vf, fmt, hp, wp, st.b0.device))
    w1 = sm.warp(b1, sm.pixels(vb, fmt, hp, wp, b1.device))
    frame = sm.blend(w0, w1, modes, (t - st.t0) / (t1 - st.t0))
    out = [(t, frame)]
    st = replace(st, next_t=t + 1)
    if t == t1 - 1:
        more, st = _release(st)
        out += more
    return out, st


def _release(st: StemDecoderState):
    """Output the held backbone; it becomes b0."""
    t1, b1, v1, fmt = st.held
    prev = None if v1 is None else (v1, fmt, st.t0, t1)
    return [(t1, b1)], replace(st, t0=t1, b0=b1, held=None, next_t=t1 + 1, prev_field=prev)


def decode_gop(codec, payload: FramePayload, st, hp: int, wp: int) -> list:
    """An av1 GOP chunk through the real decoder (the encoder's measure): its frames in display
    order, as `decode_frame` gives them. `st`: the encoder state (its settings, frame size)."""
    ds = codec.new_decoder(BackboneConfig(AV1, st.settings).pack(), st.width, st.height)
    out, ds = decode_frame(codec, ds, payload, hp, wp)
    return [f for _, f in out]
