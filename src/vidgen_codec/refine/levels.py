"""What the refiner conditions on besides the frames: each frame's backbone level. The codecs
compute it (`codecs/base.py` hands it on), the refiner reads it (`windows.py`). And the item
the decode loop yields per frame (`WindowItem`), which carries it. No torch here: the decode
loop imports this whether or not a refiner runs."""

from __future__ import annotations

from typing import Any, NamedTuple


class BackboneLevel(NamedTuple):
    """What the decoder knows of how hard a frame's backbone was quantised, for the refiner
    (bitstream_spec.md, stem, "Levels"): the backbone's bits per pixel (0: unknown) and its
    AV1 base_q_idx (-1: unknown, or not an AV1 backbone)."""

    bpp: float = 0.0
    qindex: int = -1


class WindowItem(NamedTuple):
    """One decoded frame: what `pipeline.decode.decoded` yields and the refiner's windows
    (`windows.py`) read."""

    index: int  # display index
    frame: Any  # torch.Tensor (1,3,H,W) in [0,1], or an av1 GOP's HxWx3 uint8 picture
    type: int  # FrameType
    level: BackboneLevel = BackboneLevel()  # (bpp, AV1 qindex); default: unknown
    gate: int | None = None  # its GOP's refine mask (None: every window refined)
