"""Stable numeric identifiers written into .vgc files (bitstream_spec.md, section "Identifiers").

These numbers are part of the format: never renumber, never derive them from registration order.
"""

from __future__ import annotations

from enum import IntEnum


class CodecId(IntEnum):
    INTRA = 1  # every frame a backbone I-frame, learned image codec
    STEM = 2  # Diff-SIT sparse temporal encoding
    S2VC = 3  # S2VC conditional coding (Xue et al., CVPR 2026)


class EntropyCoderId(IntEnum):
    COMPRESSAI_RANS = 1  # compressai.ans RansEncoder (64-bit state): files written before VGC_RANS
    VGC_RANS = 2  # vgc's lane-interleaved rANS (bitstream_spec.md section 16): what vgc writes


class FrameType(IntEnum):
    I = 0  # backbone intra frame  # noqa: E741
    P = 1  # backbone predicted frame
    M = 2  # motion-vectors-only frame
    R = 3  # motion vectors + latent residual


FRAME_TYPE_LETTERS = {FrameType.I: "I", FrameType.P: "P", FrameType.M: "M", FrameType.R: "R"}


class PixelFormat(IntEnum):
    RGB24 = 0  # 8-bit RGB, what the codecs reconstruct


class ChunkType(IntEnum):
    """Chunk types. Bit 15 set = ancillary (a reader may skip it); clear = critical."""

    SEQUENCE_HEADER = 0x0001
    BACKBONE_FRAME = 0x0002
    MV_PAYLOAD = 0x0003
    LATENT_RESIDUAL = 0x0004
    END = 0x0005
    CODEC_CONFIG = 0x0006  # critical (format 1.1): codec settings a decoder must understand
    INDEX = 0x8001  # ancillary: only seeking needs it
    REFINE = 0x8002  # ancillary: the refiner the decoder should run, and its seed
    TIMESTAMPS = 0x8003  # ancillary: per-frame times of a variable-frame-rate input


ANCILLARY_BIT = 0x8000


def is_ancillary(chunk_type: int) -> bool:
    return bool(chunk_type & ANCILLARY_BIT)


# Chunk types whose payload is a frame payload (bitstream_spec.md, section 7.2).
FRAME_CHUNK_TYPES = frozenset(
    {ChunkType.BACKBONE_FRAME, ChunkType.MV_PAYLOAD, ChunkType.LATENT_RESIDUAL}
)
