"""s2vc's I-frame coders, through the backbone coders that stem uses (`stem_gop.BackboneConfig`):

    learned  the intra codec's payload: streams [z, y], rate_code = q * 1000 (no codec config)
    av1      one SVT-AV1 key frame, a coded sequence of its own: streams [temporal unit],
             rate_code = CRF * 4; decoded by a fresh dav1d (codec config: the av1 settings)

`code` returns (payload, the decoder's frame, rate knob); `decode` the frame from a payload.
"""

from __future__ import annotations

from ...torch_env import torch

from ...bitstream import FramePayload
from ...bitstream.ids import FrameType
from ...errors import FormatError
from ...frames import to_uint8
from ...pictures.av1 import CRF_MAX, CRF_MIN, CRF_STEP, Av1Settings, encode_sequence
from ...pictures.fit import fit_to_budget
from ..intra import Q_STEP
from ..common import av1_backbone as bb
from ...bitstream.framing import chunk_bytes
from ..common.chunks import code_learned_i


class LearnedIFrames:
    def __init__(self, intra):
        self.intra = intra

    def code(self, x: torch.Tensor, t: int, budget: float | None, q_fixed: float | None,
             guess: float | None):
        return code_learned_i(self.intra, x, t, budget, q_fixed, guess)

    def decode(self, payload: FramePayload, hp: int, wp: int, *, chunk=None) -> torch.Tensor:
        if len(payload.streams) != 2:
            raise FormatError("s2vc learned I-frame without 2 streams", chunk=chunk)
        return self.intra.decode_streams(payload.streams, payload.rate_code * Q_STEP, hp, wp)


class Av1IFrames:
    def __init__(self, settings: Av1Settings, width: int, height: int):
        self.settings, self.width, self.height = settings, width, height

    def code(self, x: torch.Tensor, t: int, budget: float | None, q_fixed: float | None,
             guess: float | None):
        pic = to_uint8(x)[0][: bb.even(self.height), : bb.even(self.width)]

        def payload(crf):
            unit = encode_sequence([pic], crf, self.settings)[0]
            return FramePayload(t, FrameType.I, round(crf * 4), [unit])

        if q_fixed is not None:
            crf, pl = q_fixed, payload(q_fixed)
        else:
            crf, pl = fit_to_budget(payload, chunk_bytes, budget, CRF_MIN, CRF_MAX, CRF_STEP,
                                    falling=True, guess=guess)
        return pl, self.decode(pl, *x.shape[-2:]), crf

    def decode(self, payload: FramePayload, hp: int, wp: int, *, chunk=None) -> torch.Tensor:
        if len(payload.streams) != 1:
            raise FormatError("s2vc av1 I-frame without exactly 1 stream", chunk=chunk)
        dec = bb.Av1BackboneDecoder(1, self.height, self.width)
        return dec.decode(payload.streams[0], hp, wp, chunk=chunk)
