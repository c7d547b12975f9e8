"""Classical codecs at a byte budget, for rate-distortion comparisons (a library, not a test).

    frames (HxWx3 uint8 RGB) --pad to even--> encoder(q) --packets--> count bytes
         ^ bisect q until the count is as close as possible to target_bytes  |
    decoded frames (cropped) <--decoder <------------------------------------+

* `pyav_encode_at_bytes`: any PyAV video encoder listed in `CODECS` (libx264, libx265,
  libsvtav1, libvpx-vp9), yuv420p, BT.601, all-intra or one GOP over the clip. Odd sides
  are padded by edge replication (x265: to a multiple of 8 and at least 64) and the padding
  is cropped after decoding; its bytes are counted.
* `x264_intra_at_bytes`: the same for all-intra H.264 (keyint 1).
* `jpeg_at_bytes`: one PIL JPEG quality for every frame.

What is counted: the encoded packets' payload (H.264/HEVC Annex B NAL units with start codes,
AV1 OBUs, VP9 frames), with no container around them; parameter sets (SPS/PPS/VPS, the AV1
sequence header) are included, but SEI NAL units are removed first, since x264 writes its
whole option string (~600 bytes) into one. The decoded frames come from the counted bytes.
For JPEG, the whole .jpg file of each frame is counted (headers and tables included).

The search stops within `tolerance` (1 %) of the target when it can; when the target is out
of reach the nearest end of the quality range is returned: check `bytes_used`.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, NamedTuple

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration unless told not to

import av  # noqa: E402
import numpy as np  # noqa: E402


class AtBytes(NamedTuple):
    """Result of a search: decoded RGB frames, bytes counted, and the quality setting used
    (crf for the video encoders, 1..95 quality for JPEG). Unpacks as a 3-tuple."""

    frames: list[np.ndarray]
    bytes_used: int
    quality: float


@dataclass(frozen=True)
class RateControl:
    """How to drive one encoder: its quality option and range (bytes fall as it rises)."""

    option: str
    low: float
    high: float
    fractional: bool
    decoder: str
    pad: int = 2  # frame sides are padded (edge replicate) to a multiple of this
    min_side: int = 0  # ... and to at least this
    options: dict = field(default_factory=dict)
    intra_options: dict = field(default_factory=dict)


CODECS = {
    "libx264": RateControl("crf", 0, 51, True, "h264", options={"preset": "medium"}),
    # x265 writes its options into an SEI unless info=0. It corrupts the heap (the process
    # dies) on sides that are not a multiple of 8, and on inter coding of sides below 64.
    "libx265": RateControl("crf", 0, 51, True, "hevc", pad=8, min_side=64,
                           options={"preset": "medium", "x265-params": "log-level=error:info=0"}),
    # libsvtav1 ignores gop_size 1; all-intra needs keyint=1.
    "libsvtav1": RateControl("crf", 1, 63, False, "libdav1d",
                             intra_options={"svtav1-params": "keyint=1"}),
    "libvpx-vp9": RateControl("crf", 0, 63, False, "vp9", options={"b": "0"}),
}


def available_encoders() -> list[str]:
    """The encoders of `CODECS` this PyAV build has."""
    return [name for name in CODECS if name in av.codecs_available]


def x264_intra_at_bytes(frames: list[np.ndarray], fps: Fraction, target_bytes: int,
                        **kwargs) -> AtBytes:
    """All-intra H.264 (libx264, keyint 1, yuv420p) at about `target_bytes`; q is the crf."""
    return pyav_encode_at_bytes(frames, fps, "libx264", target_bytes, intra_only=True, **kwargs)


def pyav_encode_at_bytes(frames: list[np.ndarray], fps: Fraction, codec_name: str,
                         target_bytes: int, *, intra_only: bool, options: dict | None = None,
                         at_most: bool = False, tolerance: float = 0.01) -> AtBytes:
    """Encode `frames` with `codec_name`, searching its quality so the payload is as close to
    `target_bytes` as possible (`at_most`: the closest not above it, when one exists).

    `intra_only` codes every frame as a key frame; otherwise one GOP spans the clip, with
    the encoder's default reordering. `options` are extra encoder options (e.g. preset).
    """
    if codec_name not in CODECS:
        raise ValueError(f"no rate control known for {codec_name}; known: {', '.join(CODECS)}")
    rc = CODECS[codec_name]
    height, width = frames[0].shape[:2]
    padded = [_pad(f, rc.pad, rc.min_side) for f in frames]
    settings = {**rc.options, **(rc.intra_options if intra_only else {}), **(options or {})}

    def encode(q: float) -> list[bytes]:
        return _encode(padded, Fraction(fps), codec_name, {**settings, rc.option: _fmt(q)},
                       gop=1 if intra_only else len(frames))

    q, packets = _search(encode, rc.low, rc.high, rc.fractional, target_bytes, at_most,
                         tolerance)
    decoded = [f[:height, :width] for f in _decode(rc.decoder, packets)]
    if len(decoded) != len(frames):
        raise RuntimeError(f"{codec_name}: decoded {len(decoded)} of {len(frames)} frames")
    return AtBytes(decoded, sum(map(len, packets)), q)


def jpeg_at_bytes(frames: list[np.ndarray], target_bytes: int, *, at_most: bool = False,
                  tolerance: float = 0.01) -> AtBytes:
    """PIL JPEG (4:2:0, optimised Huffman tables), one quality 1..95 for every frame, chosen so
    the total size of the .jpg files is as close to `target_bytes` as possible."""
    from PIL import Image

    def encode(level: float) -> list[bytes]:  # level 1..95 = quality 95..1, so bytes fall
        out = []
        for frame in frames:
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="JPEG", quality=96 - int(level),
                                        optimize=True)
            out.append(buf.getvalue())
        return out

    level, files = _search(encode, 1, 95, False, target_bytes, at_most, tolerance)
    decoded = [np.asarray(Image.open(io.BytesIO(f)).convert("RGB")) for f in files]
    return AtBytes(decoded, sum(map(len, files)), 96 - int(level))


# --- internals ----------------------------------------------------------------------------

def _search(encode: Callable[[float], list[bytes]], low: float, high: float, fractional: bool,
            target: int, at_most: bool, tolerance: float) -> tuple[float, list[bytes]]:
    """Bisect q in [low, high], where the byte count falls as q rises; return the best q seen
    and its packets."""
    seen: dict[float, list[bytes]] = {}

    def size(q: float) -> int:
        if q not in seen:
            seen[q] = encode(q)
        return sum(map(len, seen[q]))

    a, b = low, high
    if size(a) > target > size(b):
        for _ in range(20):
            if (b - a < 0.05) if fractional else (b - a <= 1):
                break
            mid = round((a + b) / 2, 2) if fractional else (a + b) // 2
            if abs(size(mid) - target) <= tolerance * target:
                break
            a, b = (mid, b) if size(mid) > target else (a, mid)
    sizes = {q: sum(map(len, p)) for q, p in seen.items()}
    fits = [q for q in sizes if sizes[q] <= target]
    pool = fits if at_most and fits else list(sizes)
    best = min(pool, key=lambda q: (abs(sizes[q] - target), q))
    return best, seen[best]


def _fmt(q: float) -> str:
    return f"{q:g}"


def _pad(frame: np.ndarray, multiple: int, min_side: int = 0) -> np.ndarray:
    """Pad bottom/right by edge replication: sides a multiple of `multiple`, >= `min_side`."""
    h, w = frame.shape[:2]
    pad = ((0, max(min_side - h, (-h) % multiple)), (0, max(min_side - w, (-w) % multiple)),
           (0, 0))
    return np.pad(frame, pad, mode="edge") if any(p[1] for p in pad) else frame


def _encode(frames: list[np.ndarray], fps: Fraction, codec_name: str, options: dict,
            gop: int) -> list[bytes]:
    """Encode RGB frames to yuv420p packets (no container); return their counted payloads."""
    ctx = av.CodecContext.create(codec_name, "w")
    ctx.height, ctx.width = frames[0].shape[:2]
    ctx.pix_fmt, ctx.time_base, ctx.framerate = "yuv420p", 1 / fps, fps
    ctx.gop_size = gop
    ctx.options = {k: str(v) for k, v in options.items()}
    packets = []
    for i, frame in enumerate(frames):
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = i
        packets += ctx.encode(video_frame)
    packets += ctx.encode(None)
    return [_strip_sei(codec_name, bytes(p)) for p in packets]


_START_CODE = re.compile(b"\x00\x00\x01")


def _strip_sei(codec_name: str, data: bytes) -> bytes:
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


def _decode(decoder: str, packets: list[bytes]) -> list[np.ndarray]:
    ctx = av.CodecContext.create(decoder, "r")
    frames = []
    for data in packets:
        frames += [f.to_ndarray(format="rgb24") for f in ctx.decode(av.Packet(data))]
    frames += [f.to_ndarray(format="rgb24") for f in ctx.decode(None)]
    return frames
