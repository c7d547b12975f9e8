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
import torch

from ...bitstream import FramePayload
from ...bitstream.ids import FrameType
from ...errors import FormatError
from ...stem_gop import (AV1, BackboneConfig, GopHeader, backbone_qindex,  # noqa: F401
                         pack_gop, unpack_gop)
from ...frames import to_tensor
from ...pictures.av1 import Av1Decoder
from ..base import BackboneLevel
from ...pictures.lanczos import upsample2x_rgb
from ...pictures.yuv420 import upsample2x


def even(n: int) -> int:
    return n + n % 2


def coded_size(height: int, width: int, scale: int) -> tuple[int, int]:
    """(h, w) of a backbone picture at `scale` for a frame of height x width."""
    h, w = even(height), even(width)
    return even(-(-h // scale)), even(-(-w // scale))


def downscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    """An even-sided HxWx3 uint8 picture at `scale` (2: 2x2 means, edges replicated; 4: that
    twice)."""
    if scale == 1:
        return rgb
    if scale == 4:
        return downscale(downscale(rgb, 2), 2)
    hh, wh = coded_size(*rgb.shape[:2], 2)
    p = np.pad(rgb, ((0, 2 * hh - rgb.shape[0]), (0, 2 * wh - rgb.shape[1]), (0, 0)),
               mode="edge").astype(np.int32)
    s = p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]
    return ((s + 2) >> 2).astype(np.uint8)


def to_picture(pic: np.ndarray, scale: int, height: int, width: int, hp: int,
               wp: int, lanczos: bool = False) -> np.ndarray:
    """A decoded backbone picture -> the backbone b as hp x wp x 3 uint8: upsampled 2x per
    side, once when scale is 2, twice when 4 (integer (3/4, 1/4) taps, `pictures.yuv420`, or
    Lanczos-3 taps, `pictures.lanczos`, as the GOP header says), cropped to the frame and
    edge-replicated to the padded size, as the encoder pads its input."""
    for _ in range(scale.bit_length() - 1):
        if lanczos:
            pic = upsample2x_rgb(pic)
        else:
            pic = np.stack([upsample2x(pic[..., c].astype(np.int32)) for c in range(3)], -1)
            pic = pic.astype(np.uint8)
    pic = pic[:height, :width]
    return np.pad(pic, ((0, hp - pic.shape[0]), (0, wp - pic.shape[1]), (0, 0)), mode="edge")


class Av1BackboneDecoder:
    """One GOP's AV1 sequence: a new dav1d context at each I-frame."""

    def __init__(self, scale: int, height: int, width: int, lanczos: bool = False):
        self.scale, self.height, self.width, self.lanczos = scale, height, width, lanczos
        self.dec = Av1Decoder()

    def picture(self, unit: bytes, hp: int, wp: int, *, chunk=None) -> np.ndarray:
        """The backbone b as hp x wp x 3 uint8 (`to_picture`)."""
        pic = self.dec.decode(unit)
        want = coded_size(self.height, self.width, self.scale)
        if pic is None or pic.shape[:2] != want:
            raise FormatError("AV1 backbone does not decode to a "
                              f"{want[1]}x{want[0]} picture", chunk=chunk)
        return to_picture(pic, self.scale, self.height, self.width, hp, wp, self.lanczos)

    def decode(self, unit: bytes, hp: int, wp: int, *, chunk=None) -> torch.Tensor:
        """The backbone as a (1,3,hp,wp) float frame."""
        return to_tensor(self.picture(unit, hp, wp, chunk=chunk))


def backbone_pictures(units: list[bytes], scale: int, st, hp: int, wp: int,
                      lanczos: bool = False) -> list[np.ndarray]:
    """The hp x wp x 3 uint8 backbones of a GOP's units, as the decoder makes them."""
    dec = Av1BackboneDecoder(scale, st.height, st.width, lanczos)
    return [dec.picture(u, hp, wp) for u in units]


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
