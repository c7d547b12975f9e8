"""The stem codec's layout bytes that are not pictures: CODEC_CONFIG and the av1 GOP chunk
(bitstream_spec.md, section 15, "stem", "Backbone coders"). No torch here: `vgc info` reads
these.

    CODEC_CONFIG  00 (learned backbone) | 01 preset pred_struct color (AV1 backbone)
    GOP chunk     one BACKBONE_FRAME (type I) per GOP, 3 streams: [GopHeader, the AV1 units
                  concatenated, the motion streams packed: per backbone interval the P
                  backbone's field (if motion frames follow), then each M frame's 3 streams]
                  or, in a synthesised GOP, [GopHeader, AV1 units, one mode bit per interval
                  (and the block mode maps, when sent)]
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .bitstream import FramePayload, decode_uvarint, encode_uvarint
from .bitstream.ids import FrameType
from .errors import FormatError
from .motion import block_modes
from .pictures.av1 import Av1Settings
from .pictures.av1_headers import OBU_TEMPORAL_DELIMITER, obus, shown_qindex

LEARNED, AV1 = 0, 1  # backbone coder ids (CODEC_CONFIG byte 0)
BACKBONES = {"learned": LEARNED, "av1": AV1}
SCALES = (1, 2)  # backbone scales of GOPs with motion frames: 1 full, 2 half per side
SYNTH_SCALES = (1, 2, 4)  # of synthesised GOPs: also 4, a quarter per side
SYNTH, LANCZOS = 0x04, 0x08  # GOP header byte 0, beside scale_log2 (bits 0-1)
EXTRA = 0x80  # GOP header byte 0: a synthesised GOP's backbones off the interval's grid follow
PRIOR_SHIFT, PRIOR_BITS = 4, 0x70  # bits 4-6: the upsampler prior of a reduced-scale GOP
# (0: none); its names (`vidgen_codec.priors`), fixed by the spec (section 15, "Upsamplers")
PRIORS = {1: "waifu2x-photo-noise0", 2: "waifu2x-photo-noise1", 3: "waifu2x-photo-noise2",
          4: "waifu2x-photo-noise3", 5: "waifu2x-photo-scale", 6: "vgc-upconv7-av1"}
PRIOR_TAG = 8  # bytes of the prior's SHA-256 after the header's varints when it names one
BLEND, MOTION = 0, 1  # how a synthesised GOP rebuilds an interval's frames (stream 2's bits)

COLOR_BT601_LIMITED = 0


@dataclass(frozen=True)
class BackboneConfig:
    """What CODEC_CONFIG says for stem: the backbone coder and its settings."""

    coder: int = LEARNED
    av1: Av1Settings = Av1Settings()

    def pack(self) -> bytes:
        if self.coder == LEARNED:
            return bytes([LEARNED])
        return bytes([AV1, self.av1.preset, self.av1.pred_struct, COLOR_BT601_LIMITED])

    @classmethod
    def unpack(cls, data: bytes | None, *, chunk=None) -> "BackboneConfig":
        if data is None:
            return cls()
        if data == bytes([LEARNED]):
            return cls()
        if len(data) == 4 and data[0] == AV1 and data[3] == COLOR_BT601_LIMITED \
                and data[1] <= 13 and data[2] in (1, 2):
            return cls(AV1, Av1Settings(data[1], data[2]))
        raise FormatError(f"stem codec config {data.hex()} names no backbone coder this vgc "
                          "knows", chunk=chunk)


MAX_GOP_FRAMES = 255


@dataclass(frozen=True)
class GopHeader:
    """An av1 GOP: its frame count n, backbone interval b (backbones at 0, b, 2b, .., the
    last frame and, in a synthesised GOP, the offsets `extra`), backbone scale, and which of
    its refiner windows the decoder refines (bit k: window k; the encoder's choice, see
    `refine/gate.py`).

    `synth`: the frames between backbones send nothing; the decoder rebuilds each interval's
    by `modes[k]` (BLEND or MOTION, one per interval with frames between its backbones, in
    stream 2) from the two backbones around them (`motion.bilateral`). `lanczos`: reduced-scale
    backbones are upsampled by `pictures.lanczos` instead of the (9, 3, 3, 1) rule. `prior`
    (a key of PRIORS, 0: none): by that pretrained network instead (each 2x step), whose
    weights' SHA-256 starts with `prior_tag`. `maps`: empty, or the block mode maps section
    that follows the mode bits in stream 2 (`motion.block_modes`: per block of each interval,
    the rebuild it takes). `extra`: a synthesised GOP's backbones besides those of the
    interval (offsets, ascending): frames the encoder found too hard to rebuild."""

    scale: int
    frames: int
    interval: int
    refine_mask: int = 0
    synth: bool = False
    lanczos: bool = False
    modes: tuple[int, ...] = ()
    prior: int = 0
    prior_tag: bytes = b""
    maps: bytes = b""
    extra: tuple[int, ...] = ()

    def positions(self) -> list[int]:
        """The backbones' offsets in the GOP, ascending (backbone k is the k-th AV1 unit)."""
        if self.frames == 1:
            return [0]
        return sorted(set(range(0, self.frames - 1, self.interval)) | {self.frames - 1}
                      | set(self.extra))

    def gaps(self) -> int:
        """Backbone intervals with frames between their backbones (one mode each)."""
        pos = self.positions()
        return sum(b - a > 1 for a, b in zip(pos, pos[1:]))

    def pack(self) -> bytes:
        flags = (SYNTH if self.synth else 0) | (LANCZOS if self.lanczos else 0)
        if self.prior and (self.prior not in PRIORS or self.scale == 1 or self.lanczos
                           or len(self.prior_tag) != PRIOR_TAG):
            raise ValueError("a prior upsamples a reduced-scale GOP, without Lanczos, and "
                             f"carries {PRIOR_TAG} bytes of its SHA-256")
        flags |= self.prior << PRIOR_SHIFT
        extra = b""
        if self.extra:
            if not (self.synth and _extra_ok(tuple(self.extra), self.frames, self.interval)):
                raise ValueError("extra backbones belong to a synthesised GOP, ascending, "
                                 "inside it and off the interval's grid")
            flags |= EXTRA
            steps = [b - a for a, b in zip((0, *self.extra), self.extra)]
            extra = encode_uvarint(len(steps)) + b"".join(map(encode_uvarint, steps))
        return bytes([(self.scale.bit_length() - 1) | flags]) + encode_uvarint(self.frames) \
            + encode_uvarint(self.interval) + encode_uvarint(self.refine_mask, bits=64) \
            + extra + (self.prior_tag if self.prior else b"")


def _extra_ok(extra: tuple[int, ...], n: int, b: int) -> bool:
    """Extra backbones: ascending offsets in 1 .. n - 2, none a multiple of the interval."""
    return b >= 1 and all(0 < x < n - 1 and x % b for x in extra) \
        and all(x < y for x, y in zip(extra, extra[1:]))


def pack_modes(modes: tuple[int, ...]) -> bytes:
    """A synthesised GOP's stream 2: bit k (least significant first, byte k // 8) = mode k."""
    out = bytearray((len(modes) + 7) // 8)
    for k, m in enumerate(modes):
        out[k >> 3] |= (m & 1) << (k & 7)
    return bytes(out)


def _unpack_modes(data: bytes, count: int, chunk) -> tuple[tuple[int, ...], bytes]:
    """(mode bits, the block mode maps section after them, checked as far as it can be
    without the frame size: `block_modes.parse_header`)."""
    size = (count + 7) // 8
    if len(data) < size or (count % 8 and data[size - 1] >> (count % 8)):
        raise FormatError("av1 GOP chunk: synthesised GOP's mode bits malformed", chunk=chunk)
    maps = bytes(data[size:])
    if maps:
        block_modes.parse_header(maps, count, chunk=chunk)
    return tuple((data[k >> 3] >> (k & 7)) & 1 for k in range(count)), maps


def pack_gop(t0: int, head: GopHeader, payloads: list[FramePayload]) -> FramePayload:
    """One frame payload for a whole GOP from its per-frame payloads (decode order; I: [unit],
    P: [motion field,] unit, M: three motion streams): [header, every AV1 unit concatenated
    (each starts with its temporal delimiter OBU), every motion stream packed in decode order
    (`pack_motion`)]. A synthesised GOP's M payloads carry nothing: stream 2 is its header's
    mode bits (`pack_modes`), then its block mode maps when it has them."""
    units = [p.streams[-1] for p in payloads if p.frame_type != FrameType.M]
    if head.synth:
        if len(head.modes) != head.gaps():
            raise ValueError("a synthesised GOP needs one mode per interval")
        return FramePayload(t0, FrameType.I, 0, [head.pack(), b"".join(units),
                                                 pack_modes(head.modes) + head.maps])
    units = [p.streams[-1] for p in payloads if p.frame_type != FrameType.M]
    items = []
    for p in payloads:
        if p.frame_type == FrameType.M:
            items += [(True, p.streams[0]), (True, p.streams[1]), (False, p.streams[2])]
        elif len(p.streams) == 2:
            items.append((True, p.streams[0]))
    return FramePayload(t0, FrameType.I, 0, [head.pack(), b"".join(units), pack_motion(items)])


def pack_motion(items: list[tuple[bool, bytes]]) -> bytes:
    """(is a field, stream) items -> one stream. A PREDICTED field (1 byte, flag bit 5) stands
    alone; any other field is its flags byte, varint (length - 1), the rest; a modes stream is
    varint length, then its bytes."""
    out = bytearray()
    for is_field, data in items:
        if is_field and len(data) == 1 and data[0] & PREDICTED:
            out += data
        elif is_field:
            if not data or data[0] & PREDICTED:
                raise ValueError("a motion field stream is empty or wrongly PREDICTED")
            out += data[:1] + encode_uvarint(len(data) - 1) + data[1:]
        else:
            out += encode_uvarint(len(data)) + data
    return bytes(out)


def unpack_gop(payload: FramePayload, *, chunk=None) -> tuple[GopHeader, list[FramePayload]]:
    """The GOP header and per-frame payloads (decode order) of an av1 GOP chunk."""
    streams = payload.streams
    if len(streams) != 3:
        raise FormatError(f"av1 GOP chunk has {len(streams)} streams, not 3", chunk=chunk)
    head = _parse_gop_header(streams[0], chunk)
    t0 = payload.frame_index
    pos = head.positions()
    units = split_units(streams[1], chunk=chunk)
    if len(units) != len(pos):
        raise FormatError(f"av1 GOP chunk holds {len(units)} AV1 temporal units for "
                          f"{len(pos)} backbones", chunk=chunk)
    frames = [FramePayload(t0, FrameType.I, 0, units[:1])]
    if head.synth:
        modes, maps = _unpack_modes(streams[2], head.gaps(), chunk)
        head = replace(head, modes=modes, maps=maps)
        for j, (a, b) in enumerate(zip(pos, pos[1:])):
            frames.append(FramePayload(t0 + b, FrameType.P, 0, [units[j + 1]]))
            frames += [FramePayload(t0 + i, FrameType.M, 0, []) for i in range(a + 1, b)]
        return head, frames
    motion = _MotionReader(streams[2], chunk)
    for j, (a, b) in enumerate(zip(pos, pos[1:])):
        field = [motion.field()] if b - a > 1 else []
        frames.append(FramePayload(t0 + b, FrameType.P, 0, field + [units[j + 1]]))
        for i in range(a + 1, b):
            frames.append(FramePayload(t0 + i, FrameType.M, 0,
                                       [motion.field(), motion.field(), motion.modes()]))
    if motion.at != len(streams[2]):
        raise FormatError("av1 GOP chunk: bytes left after its motion streams", chunk=chunk)
    return head, frames


PREDICTED = 0x20  # flag bit 5 of a motion field's first byte (section 15, "Motion fields")


class _MotionReader:
    """Reads `pack_motion`'s items back, checking every length against the bytes left."""

    def __init__(self, data: bytes, chunk):
        self.data, self.at, self.chunk = data, 0, chunk

    def _take(self, n: int) -> bytes:
        if n > len(self.data) - self.at:
            raise FormatError("av1 GOP chunk: motion streams run past their stream",
                              chunk=self.chunk)
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def _length(self) -> int:
        try:
            n, self.at = decode_uvarint(self.data, self.at, bits=32)
        except (ValueError, IndexError, FormatError):
            raise FormatError("av1 GOP chunk: malformed motion stream length",
                              chunk=self.chunk) from None
        return n

    def field(self) -> bytes:
        first = self._take(1)
        if first[0] & PREDICTED:
            return first
        return first + self._take(self._length())

    def modes(self) -> bytes:
        return self._take(self._length())



def backbone_qindex(parts: list[FramePayload]) -> dict[int, int | None] | None:
    """{frame index: base_q_idx of the frame its AV1 unit shows (None: shows none)} of an av1
    GOP chunk's backbones (`unpack_gop`'s parts); None when a header is one the reader
    refuses (`pictures.av1_headers`: decoding is dav1d's to judge, not this reader's)."""
    backbones = [p for p in parts if p.frame_type != FrameType.M]
    try:
        shown = shown_qindex([p.streams[-1] for p in backbones])
    except ValueError:
        return None
    return dict(zip((p.frame_index for p in backbones), shown))


def split_units(data: bytes, *, chunk=None) -> list[bytes]:
    """AV1 low-overhead OBUs -> temporal units, each from one temporal delimiter OBU to the
    next (AV1 spec 5.3: obu_header, then leb128 obu_size; every OBU here has its size)."""
    starts = []
    try:
        for at, obu_type, *_ in obus(data):
            if obu_type == OBU_TEMPORAL_DELIMITER:
                starts.append(at)
            elif not starts:
                raise FormatError("AV1 data in a GOP chunk does not start with a temporal "
                                  "delimiter", chunk=chunk)
    except ValueError as e:
        raise FormatError(f"{e} in a GOP chunk", chunk=chunk) from None
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


def _parse_gop_header(data: bytes, chunk) -> GopHeader:
    try:
        if not data or data[0] & 3 == 3:
            raise ValueError
        n, at = decode_uvarint(data, 1, bits=32)
        b, at = decode_uvarint(data, at, bits=32)
        mask, at = decode_uvarint(data, at, bits=64)
        extra: list[int] = []
        if data[0] & EXTRA:
            k, at = decode_uvarint(data, at, bits=32)
            if not 1 <= k <= n - 2:
                raise ValueError
            for _ in range(k):
                step, at = decode_uvarint(data, at, bits=32)
                extra.append(step + (extra[-1] if extra else 0))
    except (ValueError, IndexError, FormatError):
        raise FormatError("malformed av1 GOP header", chunk=chunk) from None
    prior = (data[0] & PRIOR_BITS) >> PRIOR_SHIFT
    tag = data[at:at + PRIOR_TAG] if prior else b""
    at += len(tag)
    if at != len(data) or not 1 <= n <= MAX_GOP_FRAMES or not 1 <= b < max(n, 2) \
            or (prior and len(tag) != PRIOR_TAG):
        raise FormatError("malformed av1 GOP header", chunk=chunk)
    scale = 1 << (data[0] & 3)
    if scale == 4 and not data[0] & SYNTH:
        raise FormatError("malformed av1 GOP header (quarter scale needs SYNTH)", chunk=chunk)
    if extra and not (data[0] & SYNTH and _extra_ok(tuple(extra), n, b)):
        raise FormatError("malformed av1 GOP header (extra backbones need SYNTH, ascending "
                          "offsets inside the GOP and off the interval's grid)", chunk=chunk)
    if prior and (prior not in PRIORS or scale == 1 or data[0] & LANCZOS):
        raise FormatError(f"av1 GOP header names upsampler prior {prior}, which this vgc does "
                          "not know, or on a full-scale or Lanczos GOP", chunk=chunk)
    return GopHeader(scale, n, b, mask, bool(data[0] & SYNTH), bool(data[0] & LANCZOS),
                     prior=prior, prior_tag=tag, extra=tuple(extra))
