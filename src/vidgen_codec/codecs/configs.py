"""Each codec's check of its codec config (CODEC_CONFIG, bitstream_spec.md 7.6), without torch:
the one place that `vgc info` and the decoders both call, so that info refuses what decode
refuses before any pixel."""

from __future__ import annotations

from ..bitstream.ids import CodecId
from ..errors import FormatError
from ..stem_gop import BackboneConfig


def check_codec_config(codec_id: int, config: bytes | None, *, chunk=None):
    """The parsed config (stem, s2vc: a BackboneConfig; intra: None), or FormatError."""
    if codec_id == CodecId.INTRA:
        if config is not None:
            raise FormatError("intra files have no codec config (CODEC_CONFIG)", chunk=chunk)
        return None
    if codec_id in (CodecId.STEM, CodecId.S2VC):
        return BackboneConfig.unpack(config, chunk=chunk)
    return config  # an unknown codec: check_header refuses it first
