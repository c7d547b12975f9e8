"""Classical encoders and decoders through PyAV, packets without a container: what the av1
backbone (`av1.py`) and `vgc eval`'s baselines (`eval/baselines.py`) share.

    frames (RGB24 HxWx3, or Y'CbCr 4:2:0 planes) --encoder(options)--> packets (bytes)
    packets --decoder--> frames

H.264/HEVC packets come back without their SEI NAL units (x264 writes its whole option string,
~600 bytes, into one); other codecs' packets are unchanged.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration unless told not to

import av  # noqa: E402
import numpy as np  # noqa: E402


def encode_packets(frames: list[np.ndarray], fps: Fraction, codec_name: str, options: dict,
                   gop: int, *, in_format: str = "rgb24", threads: int | None = None
                   ) -> list[bytes]:
    """Encode frames (`in_format` rgb24: HxWx3; yuv420p: (3H/2)xW planes) to yuv420p packets
    in decode order (no container), SEI removed."""
    ctx = av.CodecContext.create(codec_name, "w")
    if in_format == "yuv420p":
        ctx.height, ctx.width = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    else:
        ctx.height, ctx.width = frames[0].shape[:2]
    ctx.pix_fmt, ctx.time_base, ctx.framerate = "yuv420p", 1 / fps, fps
    ctx.gop_size = gop
    if threads is not None:
        ctx.thread_count = threads
    ctx.options = {k: str(v) for k, v in options.items()}
    packets = []
    for i, frame in enumerate(frames):
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=in_format)
        video_frame.pts = i
        packets += ctx.encode(video_frame)
    packets += ctx.encode(None)
    return [strip_sei(codec_name, bytes(p)) for p in packets]


def decode_packets(decoder: str, packets: list[bytes]) -> list[np.ndarray]:
    """RGB24 frames of every packet, the decoder flushed at the end."""
    ctx = av.CodecContext.create(decoder, "r")
    frames = []
    for data in packets:
        frames += [f.to_ndarray(format="rgb24") for f in ctx.decode(av.Packet(data))]
    frames += [f.to_ndarray(format="rgb24") for f in ctx.decode(None)]
    return frames


_START_CODE = re.compile(b"\x00\x00\x01")


def strip_sei(codec_name: str, data: bytes) -> bytes:
    """Drop SEI NAL units from an H.264/HEVC Annex B packet (other codecs: unchanged)."""
    if codec_name == "libx264":
        is_sei = lambda header: header & 0x1F == 6  # noqa: E731
    elif codec_name == "libx265":
        is_sei = lambda header: (header >> 1) & 0x3F in (39, 40)  # noqa: E731
    else:
        return data
    # Each NAL unit runs from its start code (00 00 01, or 00 00 00 01) to the next one.
    units = [(m.start() - (m.start() > 0 and data[m.start() - 1] == 0), m.end())
             for m in _START_CODE.finditer(data)]
    kept = []
    for i, (begin, header) in enumerate(units):
        end = units[i + 1][0] if i + 1 < len(units) else len(data)
        if header < len(data) and not is_sei(data[header]):
            kept.append(data[begin:end])
    return b"".join(kept)
