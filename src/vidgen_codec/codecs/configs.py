"""What `vgc info` asks of each codec, without torch: the check of its codec config (CODEC_CONFIG,
bitstream_spec.md 7.6), the one place that info and the decoders both call, so that info
refuses what decode refuses before any pixel; its backbone's name; and the frames a chunk
holds (an av1 GOP chunk holds its whole GOP)."""

from __future__ import annotations

from ..bitstream.ids import CodecId
from ..errors import FormatError
from ..stem_gop import AV1, BackboneConfig


def check_codec_config(codec_id: int, config: bytes | None, *, chunk=None):
    """The parsed config (stem, s2vc: a BackboneConfig; intra: None), or FormatError."""
    if codec_id == CodecId.INTRA:
        if config is not None:
            raise FormatError("intra files have no codec config (CODEC_CONFIG)", chunk=chunk)
        return None
    if codec_id in (CodecId.STEM, CodecId.S2VC):
        return BackboneConfig.unpack(config, chunk=chunk)
    return config  # an unknown codec: check_header refuses it first


def backbone_name(codec_id: int, config: bytes | None) -> str | None:
    """stem: "av1" or "learned" (the codec config's backbone coder); other codecs: None."""
    if codec_id != CodecId.STEM:
        return None
    return "av1" if BackboneConfig.unpack(config).coder == AV1 else "learned"


def chunk_frames(backbone: str | None, payload, *, chunk=None):
    """([(frame index, frame type, bytes of its streams, AV1 qindex or None)], the GOP header
    of a stem av1 GOP chunk, else None) of one frame chunk's payload; `backbone` is the
    file's `backbone_name`."""
    if backbone != "av1":
        return [(payload.frame_index, payload.frame_type, None, None)], None
    from ..stem_gop import backbone_qindex, unpack_gop

    head, parts = unpack_gop(payload, chunk=chunk)
    qindex = backbone_qindex(parts) or {}
    return [(q.frame_index, q.frame_type, sum(map(len, q.streams)), qindex.get(q.frame_index))
            for q in parts], head
