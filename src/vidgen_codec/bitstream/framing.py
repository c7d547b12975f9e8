"""File header and chunk framing (bitstream_spec.md, sections 4 and 5; format 2: section 17).

    file    = file header , chunk , chunk , ... , END chunk
    chunk   = type | length | payload (length bytes) | u32 CRC-32(type, length, payload)
    1.x:      u16 type, u32 length          (10 bytes of framing per chunk)
    2.x:      u8 type, varint length        (6 to 10 bytes of framing per chunk)

All integers are little-endian. Readers check every length against the bytes actually left in
the file before reading (and so before allocating) anything. Chunk types are the u16 values of
`ids.ChunkType` in memory; format 2 writes them as one byte (bit 7: ancillary).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import FormatError
from .ids import ChunkType, is_ancillary
from .varint import U32_MAX_BYTES, decode_uvarint, encode_uvarint

MAGIC = b"\x89VGC\r\n\x1a\n"  # format 1.x
MAGIC_PREFIX = MAGIC[:4]  # format 2.x: these 4 bytes, then u8 major, u8 minor
FORMAT_MAJOR = 2  # what the writer writes: 2.0, the compact layout
FORMAT_MINOR = 0
READS_UP_TO = 2  # the newest major this reader reads (it reads 1.0, 1.1 and 2.x)
FILE_HEADER_SIZE = 12  # the size of a 1.x header; a later 1.x minor may write a longer one
FILE_HEADER_SIZE_2 = 6
FILE_HEADER_PROBE = FILE_HEADER_SIZE  # bytes a reader reads to recognize either header

CHUNK_HEADER_SIZE = 6  # 1.x: u16 type + u32 length
CHUNK_CRC_SIZE = 4
CHUNK_OVERHEAD = CHUNK_HEADER_SIZE + CHUNK_CRC_SIZE  # 1.x
MAX_CHUNK_LENGTH = 1 << 30  # 1 GiB: the largest payload a reader accepts

_FILE_HEADER = struct.Struct("<8sBBH")
_CHUNK_HEADER = struct.Struct("<HI")
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class ChunkInfo:
    """Where one chunk lies: its 0-based index, file offset, type and payload length."""

    index: int | None  # None where unknown (reading started in the middle of a file)
    offset: int
    type: int
    length: int
    head_size: int = CHUNK_HEADER_SIZE  # type and length fields: 6 in 1.x, 2..6 in 2.x

    @property
    def size(self) -> int:
        """Bytes the whole chunk takes in the file: header, payload and CRC."""
        return self.head_size + self.length + CHUNK_CRC_SIZE

    @property
    def payload_offset(self) -> int:
        return self.offset + self.head_size

    @property
    def type_name(self) -> str:
        return chunk_type_name(self.type)


def chunk_type_name(chunk_type: int) -> str:
    """A readable name: 'BACKBONE_FRAME', or 'unknown ancillary 0x9001'."""
    try:
        return ChunkType(chunk_type).name
    except ValueError:
        kind = "ancillary" if is_ancillary(chunk_type) else "critical"
        return f"unknown {kind} 0x{chunk_type:04x}"


def pack_file_header(
    major: int = FORMAT_MAJOR, minor: int = FORMAT_MINOR, extra: bytes = b""
) -> bytes:
    """The file header. `extra` (tests only) stands for fields a later 1.x minor appends."""
    if major >= 2:
        if extra:
            raise ValueError("a format 2 file header has no room for extra fields")
        return MAGIC_PREFIX + bytes([major, minor])
    return _FILE_HEADER.pack(MAGIC, major, minor, FILE_HEADER_SIZE + len(extra)) + extra


def parse_file_header(data: bytes, file_size: int) -> tuple[int, int, int]:
    """Check the first bytes of a file (up to FILE_HEADER_PROBE of them); return
    (major, minor, header_length). `data` may be shorter than that when the file is."""
    if len(data) < len(MAGIC_PREFIX) or data[:4] != MAGIC_PREFIX:
        if 0 < len(data) < len(MAGIC_PREFIX) and MAGIC.startswith(data):
            raise FormatError("truncated file header", offset=len(data))
        raise FormatError("not a vgc file (bad magic number)", offset=0)
    if data[:8] == MAGIC[: len(data[:8])] and len(data) > 4:  # 1.x, or its truncated magic
        return _parse_header_1(data, file_size)
    if data[4:5] == MAGIC[4:5]:  # the 1.x magic, broken after its 5th byte
        raise FormatError("not a vgc file (bad magic number)", offset=0)
    if len(data) < FILE_HEADER_SIZE_2:
        raise FormatError("truncated file header", offset=len(data))
    major, minor = data[4], data[5]
    if major > READS_UP_TO:
        raise FormatError(
            f"file is format version {major}.{minor}; this vgc reads format versions up to "
            f"{READS_UP_TO}.x: upgrade vgc",
            offset=4,
        )
    if major != 2:
        raise FormatError(f"unsupported format version {major}.{minor}", offset=4)
    return major, minor, FILE_HEADER_SIZE_2


def _parse_header_1(data: bytes, file_size: int) -> tuple[int, int, int]:
    if len(data) < FILE_HEADER_SIZE:
        raise FormatError("truncated file header", offset=len(data))
    _, major, minor, header_length = _FILE_HEADER.unpack_from(data)
    if major > 1:  # a major 2+ file starts with the 4-byte magic alone
        raise FormatError(
            f"file is format version {major}.{minor} with a format 1 magic number; "
            "not a vgc file", offset=8,
        )
    if major < 1:
        raise FormatError(f"unsupported format version {major}.{minor}", offset=8)
    if header_length < FILE_HEADER_SIZE:
        raise FormatError(
            f"file header_length {header_length} is less than {FILE_HEADER_SIZE}", offset=10
        )
    if header_length > file_size:
        raise FormatError(
            f"truncated: file header_length {header_length} runs past end of file", offset=10
        )
    return major, minor, header_length


def _type_byte(chunk_type: int) -> int:
    """Format 2's one-byte chunk type: the low 7 bits, bit 7 = ancillary."""
    if not 0 <= chunk_type <= 0xFFFF or chunk_type & 0x7F80:
        raise ValueError(f"chunk type 0x{chunk_type:x} has no one-byte form (format 2)")
    return (chunk_type & 0x7F) | (0x80 if is_ancillary(chunk_type) else 0)


def _type_from_byte(b: int) -> int:
    return (b & 0x7F) | (0x8000 if b & 0x80 else 0)


@dataclass(frozen=True)
class Framing:
    """How chunks are framed in one major version: 1 (u16 type, u32 length) or 2 (u8 type,
    varint length). Both end with the CRC-32 of everything before it in the chunk."""

    major: int

    @property
    def compact(self) -> bool:
        return self.major >= 2

    @property
    def min_chunk(self) -> int:
        """The smallest chunk (empty payload): what every chunk advances a reader at least."""
        return self.chunk_size(0)

    def head(self, chunk_type: int, length: int) -> bytes:
        if not 0 <= length <= MAX_CHUNK_LENGTH:
            raise ValueError(f"chunk payload of {length} bytes exceeds the 1 GiB limit")
        if self.compact:
            return bytes([_type_byte(chunk_type)]) + encode_uvarint(length)
        if not 0 <= chunk_type <= 0xFFFF:
            raise ValueError(f"chunk type {chunk_type!r} is not a u16")
        return _CHUNK_HEADER.pack(chunk_type, length)

    def chunk_size(self, length: int) -> int:
        """Bytes a chunk with a payload of `length` bytes takes in the file."""
        if not self.compact:
            return CHUNK_OVERHEAD + length
        return 1 + len(encode_uvarint(length)) + length + CHUNK_CRC_SIZE

    def pack_chunk(self, chunk_type: int, payload: bytes) -> bytes:
        """Frame one chunk: type, length, payload, CRC."""
        head = self.head(chunk_type, len(payload))
        return head + payload + _U32.pack(zlib.crc32(payload, zlib.crc32(head)))

    def peek_type(self, f: BinaryIO, offset: int, file_size: int) -> int | None:
        """The type of the chunk at `offset` from its first byte(s); None when no chunk fits."""
        if offset + self.min_chunk > file_size:
            return None
        f.seek(offset)
        if self.compact:
            return _type_from_byte(f.read(1)[0])
        return int.from_bytes(f.read(2), "little")

    def read_head(self, f: BinaryIO, offset: int, file_size: int, *,
                  chunk: int | None) -> tuple[bytes, int, int]:
        """Read a chunk's type and length fields: (their bytes, type, length)."""
        short = FormatError("truncated: chunk header runs past end of file", chunk=chunk,
                            offset=offset)
        if not self.compact:
            if offset + CHUNK_HEADER_SIZE > file_size:
                raise short
            head = read_exact(f, offset, CHUNK_HEADER_SIZE, chunk=chunk)
            return (head, *_CHUNK_HEADER.unpack(head))
        if offset + 2 > file_size:
            raise short
        buf = read_exact(f, offset, min(1 + U32_MAX_BYTES, file_size - offset), chunk=chunk)
        try:
            length, end = decode_uvarint(buf, 1, chunk=chunk, offset=offset)
        except FormatError as e:
            if len(buf) < 1 + U32_MAX_BYTES and all(b & 0x80 for b in buf[1:]):
                raise short from None
            raise FormatError(f"bad chunk length: {e.reason}", chunk=chunk,
                              offset=offset + 1) from None
        return buf[:end], _type_from_byte(buf[0]), length

    def read_chunk(self, f: BinaryIO, offset: int, file_size: int, *,
                   chunk: int | None) -> tuple[ChunkInfo, bytes]:
        """Read and CRC-check the chunk at `offset`. Returns its ChunkInfo and payload."""
        head, chunk_type, length = self.read_head(f, offset, file_size, chunk=chunk)
        if length > MAX_CHUNK_LENGTH:
            raise FormatError(f"chunk length {length} exceeds the 1 GiB limit", chunk=chunk,
                              offset=offset + (1 if self.compact else 2))
        end = offset + len(head) + length
        if end + CHUNK_CRC_SIZE > file_size:
            raise FormatError(
                f"truncated: {chunk_type_name(chunk_type)} chunk of length {length} "
                "runs past end of file",
                chunk=chunk,
                offset=offset,
            )
        payload = read_exact(f, offset + len(head), length, chunk=chunk)
        (stored,) = _U32.unpack(read_exact(f, end, CHUNK_CRC_SIZE, chunk=chunk))
        actual = zlib.crc32(payload, zlib.crc32(head))
        if stored != actual:
            raise FormatError(
                f"CRC mismatch in {chunk_type_name(chunk_type)} chunk "
                f"(stored 0x{stored:08x}, computed 0x{actual:08x})",
                chunk=chunk,
                offset=offset,
            )
        return ChunkInfo(chunk, offset, chunk_type, length, len(head)), payload


FRAMING_1 = Framing(1)
FRAMING = Framing(FORMAT_MAJOR)  # what the writer writes


def framing_for(major: int) -> Framing:
    return FRAMING_1 if major < 2 else Framing(major)


def pack_chunk(chunk_type: int, payload: bytes, major: int = 1) -> bytes:
    """Frame one chunk in the layout of `major` (tests build odd files with it)."""
    return framing_for(major).pack_chunk(chunk_type, payload)


def chunk_size(payload_length: int) -> int:
    """Bytes a chunk with this payload takes in a file that vgc writes (codecs' budgets)."""
    return FRAMING.chunk_size(payload_length)


def chunk_bytes(payload) -> int:
    """Bytes the chunk of a FramePayload takes in the file (`chunk_size` of its packing)."""
    return chunk_size(len(payload.pack()))


def read_exact(f: BinaryIO, offset: int, n: int, *, chunk: int | None) -> bytes:
    """Read n bytes at offset; a short read (file shrank under us) is a FormatError."""
    f.seek(offset)
    data = f.read(n)
    if len(data) != n:
        raise FormatError(
            "truncated: unexpected end of file", chunk=chunk, offset=offset + len(data)
        )
    return data
