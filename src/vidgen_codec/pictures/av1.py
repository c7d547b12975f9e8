"""AV1 pictures through PyAV: SVT-AV1 (`libsvtav1`) encodes, dav1d (`libdav1d`) decodes.

    RGB frames --yuv420 (integer BT.601)--> SVT-AV1, one closed sequence, CRF --> TUs
    TU (raw OBUs of one temporal unit) --> dav1d --> Y'CbCr planes --yuv420--> RGB

One coded sequence starts with a key frame (with its sequence header OBU); every later picture
of it is one temporal unit, in display order (SVT-AV1 packs hidden frames into the next shown
frame's unit), and dav1d returns exactly one picture per unit (max_frame_delay 1). Everything
that changes the bytes is fixed in `Av1Settings` and recorded in the stream: the preset, the
prediction structure, tune, film grain off, and the colour conversion of `yuv420`. dav1d is a
conformance decoder (output defined by the AV1 specification, bit-exact for any thread count
and machine); the colour conversion after it is integer arithmetic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration unless told not to

import av  # noqa: E402
import numpy as np  # noqa: E402

from .packets import encode_packets  # noqa: E402
from .yuv420 import rgb_to_yuv420, yuv420_to_rgb  # noqa: E402

CRF_MIN, CRF_MAX, CRF_STEP = 1.0, 70.0, 0.25  # svtav1-params crf= takes quarter steps to 70


@dataclass(frozen=True)
class Av1Settings:
    """Every encoder setting that changes the bytes (bitstream_spec.md section 15)."""

    preset: int = 8  # SVT-AV1 enc-mode (0 slowest .. 13 fastest)
    pred_struct: int = 2  # 2 random access (hierarchical, reordered), 1 low delay

    def params(self, crf: float) -> str:
        return (f"crf={crf:g}:pred-struct={self.pred_struct}:tune=1:film-grain=0"
                ":enable-tf=1:scd=0:irefresh-type=2")


def encode_sequence(frames: list[np.ndarray], crf: float, settings: Av1Settings) -> list[bytes]:
    """RGB uint8 HxWx3 frames (even sides), or their `rgb_to_yuv420` planes (a caller that
    codes the same frames at several CRFs converts them once) -> one AV1 temporal unit per
    frame, the first a key frame. Deterministic: the same frames and settings give the same
    bytes (one SVT-AV1 thread, so the bytes do not depend on the machine's cores)."""
    options = {"preset": settings.preset, "svtav1-params": settings.params(crf)}
    planes = [f if f.ndim == 2 else rgb_to_yuv420(f) for f in frames]
    units = encode_packets(planes, Fraction(25), "libsvtav1",
                           options, max(len(frames), 2), in_format="yuv420p", threads=1)
    if len(units) != len(frames):
        raise RuntimeError(f"SVT-AV1 gave {len(units)} temporal units for {len(frames)} frames")
    return units


class Av1Decoder:
    """dav1d, one picture per temporal unit. Make a new one at each coded sequence."""

    def __init__(self):
        self._ctx = av.CodecContext.create("libdav1d", "r")
        self._ctx.options = {"max_frame_delay": "1"}

    def decode(self, unit: bytes) -> np.ndarray | None:
        """RGB uint8 HxWx3 of the unit's shown picture; None if the unit is not decodable."""
        try:
            out = self._ctx.decode(av.Packet(unit))
        except (av.error.FFmpegError, ValueError):
            return None
        if len(out) != 1 or out[0].format.name != "yuv420p":
            return None
        f = out[0]
        h, w = f.height, f.width
        if h % 2 or w % 2:
            return None
        return yuv420_to_rgb(f.to_ndarray(), h, w)
