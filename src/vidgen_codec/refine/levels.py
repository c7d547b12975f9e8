"""What the refiner conditions on besides the frames: each frame's backbone level. The codecs
compute it (`codecs/base.py` hands it on), the refiner reads it (`windows.py`)."""

from __future__ import annotations

from typing import NamedTuple


class BackboneLevel(NamedTuple):
    """What the decoder knows of how hard a frame's backbone was quantised, for the refiner
    (bitstream_spec.md, stem, "Levels"): the backbone's bits per pixel (0: unknown) and its
    AV1 base_q_idx (-1: unknown, or not an AV1 backbone)."""

    bpp: float = 0.0
    qindex: int = -1
