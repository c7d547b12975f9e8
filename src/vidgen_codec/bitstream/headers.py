"""SEQUENCE_HEADER and frame chunk payloads (bitstream_spec.md, sections 7.1 and 7.2; the
compact format 2 layouts: section 17).

`pack(major)` raises ValueError for values the format cannot hold (a caller's bug);
`unpack(data, major=, chunk=, offset=)` raises only FormatError, whatever the bytes; `chunk`
and `offset` (the file offset of the payload's first byte) say where a problem is.
"""

from __future__ import annotations

import math
from fractions import Fraction
import struct
from dataclasses import dataclass, field

from ..errors import FormatError
from .framing import FORMAT_MAJOR
from .ids import FrameType
from .varint import decode_svarint, decode_uvarint, encode_svarint, encode_uvarint

_SEQ_FIXED = struct.Struct("<HBBIIIIIHHIi32s")  # 1.x: every field before the two strings
_SEQ2_FIXED = struct.Struct("<BBBI")  # 2.x: codec, coder, pixel format, frame_count
WEIGHTS_ID_SIZE = 8  # 2.x stores the first 8 bytes of the weights' SHA-256
MAX_FRAME_COUNT = 2**31 - 1
MAX_DIMENSION = 65535
MAX_STRUCTURE = 65535  # gop_size and backbone_interval


def codec_config_size(n: int) -> int:
    """Bytes that a codec_config of n bytes adds to a file that vgc writes (format 2: a
    varint length and the bytes, inside the SEQUENCE_HEADER)."""
    return len(encode_uvarint(n)) + n


def seq_frame_count_offset(major: int) -> int:
    """Offset of the u32 frame_count in the SEQUENCE_HEADER payload (the writer patches it)."""
    return 20 if major < 2 else 3

_FRAME_FIXED = struct.Struct("<IBhB")  # 1.x: frame_index, frame_type, rate_code, n_streams
_REFINE_FIXED = struct.Struct("<Q32s")  # seed, refiner_sha256


def _pack_str(name: str, value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"{name} is {len(raw)} bytes of UTF-8; at most 255 fit")
    return bytes([len(raw)]) + raw


def _unpack_str(
    data: bytes, pos: int, name: str, chunk: int | None, offset: int,
    what: str = "SEQUENCE_HEADER",
) -> tuple[str, int]:
    if pos >= len(data):
        raise FormatError(
            f"{what} too short: no {name} length", chunk=chunk, offset=offset + pos
        )
    n = data[pos]
    if pos + 1 + n > len(data):
        raise FormatError(
            f"{what} too short: {name} runs past the payload",
            chunk=chunk,
            offset=offset + pos,
        )
    try:
        text = bytes(data[pos + 1 : pos + 1 + n]).decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(
            f"{what} {name} is not valid UTF-8", chunk=chunk, offset=offset + pos
        ) from None
    return text, pos + 1 + n


@dataclass
class SequenceHeader:
    """Everything a decoder needs before the first frame: the SEQUENCE_HEADER chunk.

    codec_id, entropy_coder_id and pixel_format are kept as plain ints: the container does not
    judge them (the API layer reports an unknown codec). target_bpp (0 = none) is stored in
    millionths and rate in thousandths, so `unpack(pack(h))` rounds them to that precision.
    weights_sha256 is the weights' SHA-256, or after reading a format 2 file its first 8 bytes
    (`weights_match` compares either). codec_config is the codec's settings (format 1.x: the
    CODEC_CONFIG chunk; format 2: the end of this payload), None when the codec has none.
    """

    codec_id: int
    entropy_coder_id: int
    pixel_format: int
    width: int
    height: int
    fps_num: int
    fps_den: int
    frame_count: int
    gop_size: int
    backbone_interval: int
    target_bpp: float
    rate: float
    weights_sha256: bytes
    model_id: str
    encoder_version: str
    codec_config: bytes | None = None

    def weights_match(self, sha256: bytes) -> bool:
        """Whether weights with this SHA-256 are the ones the file names."""
        return len(self.weights_sha256) >= WEIGHTS_ID_SIZE and \
            sha256[: len(self.weights_sha256)] == self.weights_sha256

    def pack(self, major: int = FORMAT_MAJOR) -> bytes:
        """The payload in format `major`'s layout (1.x leaves codec_config to its own chunk)."""
        if not (1 <= self.width <= MAX_DIMENSION and 1 <= self.height <= MAX_DIMENSION):
            raise ValueError(f"frame size {self.width}x{self.height} outside 1..{MAX_DIMENSION}")
        if not (0 < self.fps_num < 2**31 and 0 < self.fps_den < 2**31):
            raise ValueError(f"frame rate {self.fps_num}/{self.fps_den} outside 1 .. 2^31-1")
        if not 0 <= self.frame_count <= MAX_FRAME_COUNT:
            raise ValueError(f"frame_count {self.frame_count} outside 0..{MAX_FRAME_COUNT}")
        if len(self.weights_sha256) != 32 and not (
                major >= 2 and len(self.weights_sha256) == WEIGHTS_ID_SIZE):
            raise ValueError("weights_sha256 must be 32 bytes")
        if major >= 2 and not (0 <= self.gop_size <= MAX_STRUCTURE
                               and 0 <= self.backbone_interval <= MAX_STRUCTURE):
            raise ValueError(f"gop_size {self.gop_size} or backbone_interval "
                             f"{self.backbone_interval} outside 0..{MAX_STRUCTURE}")
        if not (math.isfinite(self.target_bpp) and self.target_bpp >= 0):
            raise ValueError(f"target_bpp {self.target_bpp} must be finite and >= 0")
        if not math.isfinite(self.rate):
            raise ValueError(f"rate {self.rate} must be finite")
        bpp_micro = round(self.target_bpp * 1e6)
        rate_milli = round(self.rate * 1000)
        if bpp_micro >= 2**32:
            raise ValueError(f"target_bpp {self.target_bpp} too large")
        if not -(2**31) <= rate_milli < 2**31:
            raise ValueError(f"rate {self.rate} too large")
        if major >= 2:
            return self._pack_2(bpp_micro, rate_milli)
        try:
            fixed = _SEQ_FIXED.pack(
                self.codec_id, self.entropy_coder_id, self.pixel_format, self.width, self.height,
                self.fps_num, self.fps_den, self.frame_count, self.gop_size, self.backbone_interval,
                bpp_micro, rate_milli, bytes(self.weights_sha256),
            )  # fmt: skip
        except struct.error as e:
            raise ValueError(f"SequenceHeader field out of range: {e}") from None
        return (
            fixed
            + _pack_str("model_id", self.model_id)
            + _pack_str("encoder_version", self.encoder_version)
        )

    def _pack_2(self, bpp_micro: int, rate_milli: int) -> bytes:
        config = self.codec_config or b""
        try:
            fixed = _SEQ2_FIXED.pack(self.codec_id, self.entropy_coder_id, self.pixel_format,
                                     self.frame_count)
        except struct.error as e:
            raise ValueError(f"SequenceHeader field out of range: {e}") from None
        return b"".join([
            fixed, *(encode_uvarint(v) for v in (
                self.width, self.height, self.fps_num, self.fps_den, self.gop_size,
                self.backbone_interval, bpp_micro)),
            encode_svarint(rate_milli), bytes(self.weights_sha256[:WEIGHTS_ID_SIZE]),
            _pack_str("model_id", self.model_id),
            _pack_str("encoder_version", self.encoder_version),
            encode_uvarint(len(config)), bytes(config),
        ])

    @classmethod
    def unpack(cls, data: bytes, *, major: int = 1, chunk: int | None = 0,
               offset: int = 0) -> SequenceHeader:
        """Parse a SEQUENCE_HEADER payload; bytes after the known fields are ignored."""
        if major >= 2:
            return cls._unpack_2(data, chunk, offset)
        if len(data) < _SEQ_FIXED.size:
            raise FormatError(
                f"SEQUENCE_HEADER too short ({len(data)} bytes, "
                f"at least {_SEQ_FIXED.size + 2} needed)",
                chunk=chunk,
                offset=offset,
            )
        (codec, coder, pix, w, h, fnum, fden, count, gop, bbi, bpp, rate, sha) = (
            _SEQ_FIXED.unpack_from(data)
        )
        _check_fields(w, h, fnum, fden, count, chunk, offset, (4, 12, 20))
        pos = _SEQ_FIXED.size
        model_id, pos = _unpack_str(data, pos, "model_id", chunk, offset)
        encoder_version, pos = _unpack_str(data, pos, "encoder_version", chunk, offset)
        return cls(
            codec,
            coder,
            pix,
            w,
            h,
            fnum,
            fden,
            count,
            gop,
            bbi,
            bpp / 1e6,
            rate / 1000,
            sha,
            model_id,
            encoder_version,
        )

    @classmethod
    def _unpack_2(cls, data: bytes, chunk: int | None, offset: int) -> SequenceHeader:
        if len(data) < _SEQ2_FIXED.size:
            raise FormatError(f"SEQUENCE_HEADER too short ({len(data)} bytes)", chunk=chunk,
                              offset=offset)
        codec, coder, pix, count = _SEQ2_FIXED.unpack_from(data)
        pos, values = _SEQ2_FIXED.size, []
        for _ in range(7):  # width, height, fps_num, fps_den, gop, interval, bpp
            v, pos = decode_uvarint(data, pos, chunk=chunk, offset=offset)
            values.append(v)
        w, h, fnum, fden, gop, bbi, bpp = values
        _check_fields(w, h, fnum, fden, count, chunk, offset, (7, 7, 3))
        if gop > MAX_STRUCTURE or bbi > MAX_STRUCTURE:
            raise FormatError(f"gop_size {gop} or backbone_interval {bbi} outside "
                              f"0..{MAX_STRUCTURE}", chunk=chunk, offset=offset + 7)
        rate, pos = decode_svarint(data, pos, chunk=chunk, offset=offset)
        if pos + WEIGHTS_ID_SIZE > len(data):
            raise FormatError("SEQUENCE_HEADER too short: no weights id", chunk=chunk,
                              offset=offset + pos)
        sha = bytes(data[pos: pos + WEIGHTS_ID_SIZE])
        model_id, pos = _unpack_str(data, pos + WEIGHTS_ID_SIZE, "model_id", chunk, offset)
        encoder_version, pos = _unpack_str(data, pos, "encoder_version", chunk, offset)
        n, pos = decode_uvarint(data, pos, chunk=chunk, offset=offset)
        if n > len(data) - pos:
            raise FormatError("SEQUENCE_HEADER too short: codec_config runs past the payload",
                              chunk=chunk, offset=offset + pos)
        config = bytes(data[pos: pos + n]) if n else None
        return cls(codec, coder, pix, w, h, fnum, fden, count, gop, bbi, bpp / 1e6,
                   rate / 1000, sha, model_id, encoder_version, config)


def _check_fields(w: int, h: int, fnum: int, fden: int, count: int, chunk: int | None,
                  offset: int, at: tuple[int, int, int]) -> None:
    """The SEQUENCE_HEADER rules that both layouts share; `at`: the payload offsets of the
    size, frame rate and frame_count fields, to locate an error."""
    if not (1 <= w <= MAX_DIMENSION and 1 <= h <= MAX_DIMENSION):
        raise FormatError(
            f"frame size {w}x{h} outside 1..{MAX_DIMENSION}", chunk=chunk, offset=offset + at[0]
        )
    if fnum == 0 or fden == 0 or fnum >> 31 or fden >> 31:
        raise FormatError(f"frame rate {fnum}/{fden}: both must be 1 .. 2^31-1",
                          chunk=chunk, offset=offset + at[1])
    if count > MAX_FRAME_COUNT:
        raise FormatError(
            f"frame_count {count} exceeds {MAX_FRAME_COUNT}", chunk=chunk, offset=offset + at[2]
        )


@dataclass
class FramePayload:
    """The payload of a BACKBONE_FRAME, MV_PAYLOAD or LATENT_RESIDUAL chunk.

    `streams` are opaque byte strings whose meaning the codec defines (e.g. the y and z
    strings of a hyperprior model). `rate_code` is the codec's rate parameter for this frame.
    """

    frame_index: int
    frame_type: FrameType
    rate_code: int
    streams: list[bytes] = field(default_factory=list)

    def pack(self, major: int = FORMAT_MAJOR) -> bytes:
        if len(self.streams) > 255:
            raise ValueError(f"{len(self.streams)} streams; at most 255 fit")
        try:
            frame_type = FrameType(self.frame_type)
            if not -(2**15) <= self.rate_code < 2**15:
                raise ValueError(f"rate_code {self.rate_code} is not an i16")
            head = (_FRAME_FIXED.pack(self.frame_index, frame_type, self.rate_code,
                                      len(self.streams)) if major < 2 else
                    encode_uvarint(self.frame_index) + bytes([frame_type])
                    + encode_svarint(self.rate_code, bits=16) + bytes([len(self.streams)]))
        except (struct.error, ValueError) as e:
            raise ValueError(f"FramePayload field out of range: {e}") from None
        parts = [head]
        for s in self.streams:
            parts.append(encode_uvarint(len(s)))
            parts.append(bytes(s))
        return b"".join(parts)

    @classmethod
    def unpack(cls, data: bytes, *, major: int = 1, chunk: int | None = None,
               offset: int = 0) -> FramePayload:
        """Parse a frame payload; it must be consumed exactly."""
        if major >= 2:
            frame_index, pos = decode_uvarint(data, 0, chunk=chunk, offset=offset)
            type_at = pos
            if pos >= len(data):
                raise FormatError(f"frame payload too short ({len(data)} bytes)", chunk=chunk,
                                  offset=offset)
            ftype = data[pos]
            rate_code, pos = decode_svarint(data, pos + 1, bits=16, chunk=chunk, offset=offset)
            if pos >= len(data):
                raise FormatError(f"frame payload too short ({len(data)} bytes)", chunk=chunk,
                                  offset=offset)
            n_streams, pos = data[pos], pos + 1
        elif len(data) < _FRAME_FIXED.size:
            raise FormatError(
                f"frame payload too short ({len(data)} bytes)", chunk=chunk, offset=offset
            )
        else:
            frame_index, ftype, rate_code, n_streams = _FRAME_FIXED.unpack_from(data)
            pos, type_at = _FRAME_FIXED.size, 4
        try:
            frame_type = FrameType(ftype)
        except ValueError:
            raise FormatError(
                f"unknown frame type {ftype}", chunk=chunk, offset=offset + type_at
            ) from None
        streams = []
        for i in range(n_streams):
            n, pos = decode_uvarint(data, pos, chunk=chunk, offset=offset)
            if n > len(data) - pos:
                raise FormatError(
                    f"stream {i} of {n} bytes runs past the payload",
                    chunk=chunk,
                    offset=offset + pos,
                )
            streams.append(bytes(data[pos : pos + n]))
            pos += n
        if pos != len(data):
            raise FormatError(
                f"{len(data) - pos} unexpected bytes after the last stream",
                chunk=chunk,
                offset=offset + pos,
            )
        return cls(frame_index, frame_type, rate_code, streams)


@dataclass
class RefineRecord:
    """The REFINE chunk (section 7.5): which refiner the decoder runs after the codec, and the
    seed its noise is drawn from. A file without one is decoded without refinement."""

    seed: int
    refiner_sha256: bytes
    model_id: str

    def pack(self) -> bytes:
        if len(self.refiner_sha256) != 32:
            raise ValueError("refiner_sha256 must be 32 bytes")
        if not 0 <= self.seed < 2**64:
            raise ValueError(f"seed {self.seed} outside 0..2^64-1")
        return _REFINE_FIXED.pack(self.seed, bytes(self.refiner_sha256)) + _pack_str(
            "model_id", self.model_id)

    @classmethod
    def unpack(cls, data: bytes, *, chunk: int | None = 1, offset: int = 0) -> RefineRecord:
        """Parse a REFINE payload; bytes after the known fields are ignored (later minors)."""
        if len(data) < _REFINE_FIXED.size + 1:
            raise FormatError(f"REFINE payload too short ({len(data)} bytes)", chunk=chunk,
                              offset=offset)
        seed, sha = _REFINE_FIXED.unpack_from(data)
        model_id, _ = _unpack_str(data, _REFINE_FIXED.size, "model_id", chunk, offset, "REFINE")
        return cls(seed, sha, model_id)


@dataclass
class Timestamps:
    """The TIMESTAMPS chunk (spec 7.7): when each frame is shown, for inputs whose frames are
    not evenly spaced. `pts` in units of `time_base` seconds, one per frame, increasing."""

    time_base: Fraction
    pts: list[int]

    def pack(self) -> bytes:
        num, den = self.time_base.numerator, self.time_base.denominator
        if not (0 < num < 2**31 and 0 < den < 2**31):
            raise ValueError(f"time base {self.time_base} outside 1/2^31 .. 2^31")
        if any(b <= a for a, b in zip(self.pts, self.pts[1:])):
            raise ValueError("timestamps must increase")
        if self.pts and not (-(2**63) <= self.pts[0] and self.pts[-1] < 2**63):
            raise ValueError("timestamps outside the 64-bit range")
        out = [encode_uvarint(num), encode_uvarint(den), encode_uvarint(len(self.pts))]
        prev = 0
        for t in self.pts:
            out.append(encode_svarint(t - prev, bits=64))
            prev = t
        return b"".join(out)

    @classmethod
    def unpack(cls, data: bytes, frame_count: int, *, chunk: int | None = None,
               offset: int = 0) -> Timestamps:
        num, pos = decode_uvarint(data, 0, chunk=chunk, offset=offset)
        den, pos = decode_uvarint(data, pos, chunk=chunk, offset=offset)
        n, pos = decode_uvarint(data, pos, chunk=chunk, offset=offset)
        if not (0 < num < 2**31 and 0 < den < 2**31):
            raise FormatError(f"TIMESTAMPS time base {num}/{den} invalid", chunk=chunk,
                              offset=offset)
        if n != frame_count or n > len(data) - pos:
            raise FormatError(f"TIMESTAMPS holds {n} times for {frame_count} frames",
                              chunk=chunk, offset=offset)
        pts, t = [], 0
        for i in range(n):
            d, pos = decode_svarint(data, pos, bits=64, chunk=chunk, offset=offset)
            if i and d <= 0:
                raise FormatError("TIMESTAMPS do not increase", chunk=chunk, offset=offset + pos)
            t += d
            if not -(2**63) <= t < 2**63:
                raise FormatError("TIMESTAMPS outside the 64-bit range", chunk=chunk,
                                  offset=offset + pos)
            pts.append(t)
        if pos != len(data):
            raise FormatError("bytes after the TIMESTAMPS", chunk=chunk, offset=offset + pos)
        return cls(Fraction(num, den), pts)
