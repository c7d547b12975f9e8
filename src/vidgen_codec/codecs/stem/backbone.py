"""STEM's backbone coders: how a backbone picture becomes bytes and comes back.

    learned  the intra model (I) and motion + learned residual (P): `encoder.py`,
             `decoder.py`; what files without a CODEC_CONFIG chunk use
    av1      each GOP's backbones are one SVT-AV1 sequence (`pictures.av1`), at full, half or
             (synthesised GOPs) quarter resolution per side (the GOP header says which); the
             decoder upsamples a reduced-scale backbone before anything uses it (motion or
             synthesised frames, the refiner)

The backbone coder and its fixed settings are in the CODEC_CONFIG chunk (bitstream_spec.md,
section 15, "stem"), the scale in each GOP's header (`stem_gop`, which `vgc info` reads
without torch). This module holds what the av1 encoder and decoder share: the scale
arithmetic and the backbones' own decoder (`decoder.decode_gop` decodes a whole GOP the way
the decoder does, so that the encoder measures what the decoder will show).
"""

from __future__ import annotations

import bisect

import numpy as np

from ...bitstream import FramePayload
from ...bitstream.ids import FrameType
from ...stem_gop import (AV1, BackboneConfig, GopHeader, backbone_qindex,  # noqa: F401
                         pack_gop, unpack_gop)
from ...frames import to_tensor
from ..base import BackboneLevel
from ..common.av1_backbone import (Av1BackboneDecoder, coded_size, downscale,  # noqa: F401
                                   even, to_picture)


def backbone_pictures(units: list[bytes], scale: int, st, hp: int, wp: int,
                      lanczos: bool = False, prior=None) -> list[np.ndarray]:
    """The hp x wp x 3 uint8 backbones of a GOP's units, as the decoder makes them."""
    dec = Av1BackboneDecoder(scale, st.height, st.width, lanczos, prior)
    return [dec.picture(u, hp, wp) for u in units]


def coded_pictures(units: list[bytes], scale: int, st) -> list[np.ndarray]:
    """A GOP's backbones as coded (at `scale`, before any upsampling): decoded once, for a
    caller that upsamples them several ways (`chosen_gop.upsampled`)."""
    dec = Av1BackboneDecoder(scale, st.height, st.width)
    return [dec.coded(u) for u in units]


def decode_backbones(units: list[bytes], scale: int, st, hp: int, wp: int) -> list:
    """(1,3,hp,wp) frames of a GOP's backbone units, as the decoder makes them."""
    return [to_tensor(p) for p in backbone_pictures(units, scale, st, hp, wp)]


def gop_levels(payload: FramePayload, head: GopHeader, parts, height: int,
               width: int) -> dict[int, BackboneLevel]:
    """The refiner's level of each frame of an av1 GOP chunk (bitstream_spec.md, stem,
    "Levels"): bpp, the same for every frame, is its AV1 units' bits per backbone pixel (8 x
    bytes of the units / (backbones x coded height x coded width), at the GOP's scale); qindex
    is a backbone's base_q_idx (its AV1 frame header, `pictures.av1_headers`) and a motion
    frame's the rounded mean of its two backbones'. A sequence whose headers the reader
    refuses, or a unit that shows no frame, gives -1 (unknown)."""
    shown = backbone_qindex(parts)
    at = sorted(p.frame_index for p in parts if p.frame_type != FrameType.M)
    h, w = coded_size(height, width, head.scale)
    bpp = 8 * len(payload.streams[1]) / max(len(at) * h * w, 1)
    q = {i: -1 if shown is None or shown[i] is None else shown[i] for i in at}
    for p in parts:
        if p.frame_type == FrameType.M:
            k = bisect.bisect(at, p.frame_index)
            a, b = q[at[k - 1]], q[at[k]]
            q[p.frame_index] = -1 if min(a, b) < 0 else (a + b + 1) // 2
    return {p.frame_index: BackboneLevel(bpp, q[p.frame_index]) for p in parts}


def frame_level(payload: FramePayload, height: int, width: int) -> BackboneLevel:
    """The refiner's level of a learned-backbone chunk's frame: the bits per pixel of its
    streams for a backbone (I, P), 0 (unknown) for a motion-only frame; no quantiser."""
    if payload.frame_type == FrameType.M:
        return BackboneLevel()
    return BackboneLevel(8 * sum(len(s) for s in payload.streams) / max(height * width, 1))
