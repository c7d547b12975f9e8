"""What every codec hands to the API, and what the API hands back, per frame."""

from __future__ import annotations

from dataclasses import dataclass

from ..bitstream import FramePayload
from ..bitstream.ids import ChunkType


@dataclass
class CodedChunk:
    """One frame chunk to write: its type, its payload, and whether a GOP starts there."""

    chunk_type: ChunkType
    payload: FramePayload
    gop_start: bool


@dataclass(frozen=True)
class RateTarget:
    """How the encoder picks its rate: a bits-per-pixel target, or a fixed rate parameter."""

    bpp: float | None = None
    q: float | None = None


@dataclass(frozen=True)
class Structure:
    """GOP length and backbone interval in frames, the backbone coder ("learned", "av1") and
    the backbone scale (1 full, 2 half per side); None: the codec chooses. `search` False is
    the fast preset: no structure search (the av1 backbone codes every frame at full scale
    unless told otherwise) and no refinement gate (so no refinement)."""

    gop: int | None = None
    backbone_interval: int | None = None
    backbone: str | None = None
    backbone_scale: int | None = None
    search: bool = True
