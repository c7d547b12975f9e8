"""Classical codecs at a byte budget, for rate-distortion comparisons.

    frames (HxWx3 uint8 RGB) --pad to even--> encoder(q) --packets--> count bytes
         ^ bisect q until the count is as close as possible to target_bytes  |
    decoded frames (cropped) <--decoder <------------------------------------+

* `baseline_at_bytes`: what `vgc eval` uses: x264, x265 or SVT-AV1 (names in `BASELINES`),
  one GOP over the clip (inter coding, the encoder's default reordering), quality searched
  until the payload is within `EVAL_TOLERANCE` (+-5 %) of the target; reports timings.
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

The quality knob is the CRF: fractional for x264 and x265 (bisected to 0.05 steps) and for
SVT-AV1 (passed as `svtav1-params crf=`, which takes quarter steps from 0 to 70; the plain
`crf` option takes integers up to 63 only, whose steps can be 20 % apart at low rates). The
search stops within `tolerance` of the target when it can; when the target is out of reach
the nearest end of the quality range is returned: check `bytes_used`.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, NamedTuple

import av
import numpy as np

from ..pictures.packets import decode_packets, encode_packets
from .resources import Cost

BASELINES = {"x264": "libx264", "x265": "libx265", "svtav1": "libsvtav1",
             "svtav1-p4": "libsvtav1", "svtav1-p4-resize": "libsvtav1"}
"""Baseline names `vgc eval --baselines` accepts, and the PyAV encoder behind each."""

BASELINE_OPTIONS = {
    "svtav1-p4": {"preset": "4"},
    "svtav1-p4-resize": {"preset": "4", "svtav1-params": "resize-mode=1:resize-denom=16"},
}
"""Options of a named baseline beyond its encoder's. svtav1-p4: SVT-AV1 at the slower preset 4,
against the backbone's preset 8. svtav1-p4-resize: AV1's reduced-resolution
coding (issue 30, part 2), at preset 4 and its largest reduction: every frame after the key
frame is coded at half size per side (resize-mode 1, denominator 16); dav1d outputs the coded
size and the frames are scaled to the clip's by Lanczos, as a player scales to the render size.
It lowers SVT-AV1's smallest file: on the 176x144 talking head from 0.0122 to 0.0086 bpp, on the
320x240 cut from 0.0056 to 0.0032. AV1's super-resolution (superres-mode 1, half width, upscaled
by the decoder) reached 0.0091 and 0.0035 but is left out: this SVT-AV1 build never returns
from some frame sizes with it (70x96, 96x128)."""

EVAL_TOLERANCE = 0.05
"""`vgc eval` matches a baseline's payload to within this fraction of the vgc file's size."""


class AtBytes(NamedTuple):
    """Result of a search: decoded RGB frames, bytes counted, and the quality setting used
    (crf for the video encoders, 1..95 quality for JPEG). Unpacks as a 3-tuple."""

    frames: list[np.ndarray]
    bytes_used: int
    quality: float


@dataclass
class BaselinePoint:
    """One baseline encode matched to a byte target, with its cost.

    `encode_seconds` is one encode at the chosen quality (the search ran `search_encodes`
    encodes in `search_seconds`); `decode_seconds` decodes the counted packets to RGB. The
    peaks are this process's resident memory during the search and the decode (MiB).
    """

    codec: str
    frames: list[np.ndarray]
    bytes_used: int
    target_bytes: int
    quality: float
    within_tolerance: bool
    encode_seconds: float
    decode_seconds: float
    search_encodes: int
    search_seconds: float
    encode_peak_mib: float
    decode_peak_mib: float

    @property
    def size_error(self) -> float:
        """(bytes_used - target) / target."""
        return (self.bytes_used - self.target_bytes) / self.target_bytes


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
    params_option: str | None = None  # the quality goes inside this key=value:... option
    step: float = 0.05  # smallest quality step the search tries (fractional knobs)


CODECS = {
    "libx264": RateControl("crf", 0, 51, True, "h264", options={"preset": "medium"}),
    # x265 writes its options into an SEI unless info=0. It corrupts the heap (the process
    # dies) on sides that are not a multiple of 8, and on inter coding of sides below 64.
    "libx265": RateControl("crf", 0, 51, True, "hevc", pad=8, min_side=64,
                           options={"preset": "medium", "x265-params": "log-level=error:info=0"}),
    # libsvtav1 ignores gop_size 1; all-intra needs keyint=1. Its crf through svtav1-params is
    # fractional (quarter steps) and reaches 70, below the plain option's integer 63.
    # preset 8: the preset of vgc's av1 backbone (pictures/av1.py), so the two compare like for like
    "libsvtav1": RateControl("crf", 1, 70, True, "libdav1d", params_option="svtav1-params",
                             options={"preset": "8"},
                             step=0.25, intra_options={"svtav1-params": "keyint=1"}),
    "libvpx-vp9": RateControl("crf", 0, 63, False, "vp9", options={"b": "0"}),
}


def available_encoders() -> list[str]:
    """The encoders of `CODECS` this PyAV build has."""
    return [name for name in CODECS if name in av.codecs_available]


def baseline_available(name: str) -> str | None:
    """None when the baseline `name` (a key of BASELINES) can run here, else the reason."""
    if name not in BASELINES:
        return f"unknown baseline {name!r}; known: {', '.join(BASELINES)}"
    if BASELINES[name] not in av.codecs_available:
        return f"this PyAV build has no {BASELINES[name]} encoder"
    return None


def baseline_at_bytes(frames: list[np.ndarray], fps: Fraction, name: str, target_bytes: int,
                      *, tolerance: float = EVAL_TOLERANCE) -> BaselinePoint:
    """Encode `frames` with baseline `name` (x264, x265, svtav1) as one GOP (inter coding),
    searching its CRF until the payload is within `tolerance` of `target_bytes`."""
    codec = BASELINES[name]
    rc = CODECS[codec]
    height, width = frames[0].shape[:2]
    padded = [_pad(f, rc.pad, rc.min_side) for f in frames]
    seconds: dict[float, float] = {}

    def encode(q: float) -> list[bytes]:
        t0 = time.perf_counter()
        packets = _encode(padded, Fraction(fps), codec,
                          _settings(rc, False, BASELINE_OPTIONS.get(name), q), gop=len(frames))
        seconds[q] = time.perf_counter() - t0
        return packets

    with Cost() as search:
        q, packets = _search(encode, rc, target_bytes, False, tolerance)
    with Cost() as dec:
        decoded = [_to_size(f, height, width) for f in _decode(rc.decoder, packets)]
    if len(decoded) != len(frames):
        raise RuntimeError(f"{codec}: decoded {len(decoded)} of {len(frames)} frames")
    used = sum(map(len, packets))
    return BaselinePoint(name, decoded, used, target_bytes, q,
                         abs(used - target_bytes) <= tolerance * target_bytes, seconds[q],
                         dec.seconds, len(seconds), search.seconds, search.peak_mib,
                         dec.peak_mib)


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

    def encode(q: float) -> list[bytes]:
        return _encode(padded, Fraction(fps), codec_name, _settings(rc, intra_only, options, q),
                       gop=1 if intra_only else len(frames))

    q, packets = _search(encode, rc, target_bytes, at_most, tolerance)
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

    rc = RateControl("quality", 1, 95, False, "")
    level, files = _search(encode, rc, target_bytes, at_most, tolerance)
    decoded = [np.asarray(Image.open(io.BytesIO(f)).convert("RGB")) for f in files]
    return AtBytes(decoded, sum(map(len, files)), 96 - int(level))


# --- internals ----------------------------------------------------------------------------

def timed_encode(frames: list[np.ndarray], fps: Fraction, codec_name: str, q: float, *,
                 options: dict | None = None) -> tuple[int, float]:
    """(bytes, seconds) of one encode of `frames` at quality `q`, one GOP over the clip, as
    `pyav_encode_at_bytes` codes them (its padding and options): what a user who knows the
    quality setting pays."""
    rc = CODECS[codec_name]
    padded = [_pad(f, rc.pad, rc.min_side) for f in frames]
    t0 = time.perf_counter()
    packets = _encode(padded, Fraction(fps), codec_name, _settings(rc, False, options, q),
                      gop=len(frames))
    return sum(map(len, packets)), time.perf_counter() - t0


def _settings(rc: RateControl, intra_only: bool, options: dict | None, q: float) -> dict:
    """Encoder options for quality `q`: defaults, intra extras, caller's, then the quality."""
    settings = {**rc.options, **(rc.intra_options if intra_only else {}), **(options or {})}
    if rc.params_option:
        extra = settings.get(rc.params_option)
        settings[rc.params_option] = ":".join(p for p in (extra, f"{rc.option}={_fmt(q)}") if p)
    else:
        settings[rc.option] = _fmt(q)
    return settings


def _search(encode: Callable[[float], list[bytes]], rc: RateControl, target: int,
            at_most: bool, tolerance: float) -> tuple[float, list[bytes]]:
    """Bisect q in [rc.low, rc.high], where the byte count falls as q rises; return the best q
    seen and its packets."""
    seen: dict[float, list[bytes]] = {}

    def size(q: float) -> int:
        if q not in seen:
            seen[q] = encode(q)
        return sum(map(len, seen[q]))

    a, b = rc.low, rc.high
    if size(a) > target > size(b):
        for _ in range(24):
            if (b - a < rc.step * 1.5) if rc.fractional else (b - a <= 1):
                break
            mid = _round(rc, (a + b) / 2)
            if abs(size(mid) - target) <= tolerance * target:
                break
            a, b = (mid, b) if size(mid) > target else (a, mid)
    sizes = {q: sum(map(len, p)) for q, p in seen.items()}
    fits = [q for q in sizes if sizes[q] <= target]
    pool = fits if at_most and fits else list(sizes)
    best = min(pool, key=lambda q: (abs(sizes[q] - target), q))
    return best, seen[best]


def _to_size(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """A decoded frame cropped to the clip's size, or, when it was coded smaller (AV1's
    resize mode), scaled up to it by Lanczos (PIL) and cropped: what a player shows."""
    h, w = frame.shape[:2]
    if h >= height and w >= width:
        return frame[:height, :width]
    from PIL import Image

    pad_h, pad_w = -height % 2, -width % 2  # the encoder saw the frame padded to even sides
    scaled = Image.fromarray(frame).resize((width + pad_w, height + pad_h), Image.LANCZOS)
    return np.asarray(scaled)[:height, :width]


def _round(rc: RateControl, q: float) -> float:
    if not rc.fractional:
        return float(int(q))
    return round(round(q / rc.step) * rc.step, 4)


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
    return encode_packets(frames, Fraction(fps), codec_name, options, gop)


_decode = decode_packets
