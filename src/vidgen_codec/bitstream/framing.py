"""File header and chunk framing (bitstream_spec.md, sections 4 and 5).

    file   = file header (header_length bytes) , chunk , chunk , ... , END chunk
    chunk  = u16 type | u32 length | payload (length bytes) | u32 CRC-32(type, length, payload)

All integers are little-endian. Readers check every length against the bytes actually left in
the file before reading (and so before allocating) anything.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import FormatError
from .ids import ChunkType, is_ancillary

MAGIC = b"\x89VGC\r\n\x1a\n"
FORMAT_MAJOR = 1
FORMAT_MINOR = 1  # 1.1 added CODEC_CONFIG; 1.0 files are still read
FILE_HEADER_SIZE = 12  # the size of a 1.0 header; a later minor may write a longer one

CHUNK_HEADER_SIZE = 6  # u16 type + u32 length
CHUNK_CRC_SIZE = 4
CHUNK_OVERHEAD = CHUNK_HEADER_SIZE + CHUNK_CRC_SIZE
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

    @property
    def size(self) -> int:
        """Bytes the whole chunk takes in the file: header, payload and CRC."""
        return CHUNK_OVERHEAD + self.length

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
    """The file header. `extra` (tests only) stands for fields a later minor version appends."""
    return _FILE_HEADER.pack(MAGIC, major, minor, FILE_HEADER_SIZE + len(extra)) + extra


def parse_file_header(data: bytes, file_size: int) -> tuple[int, int, int]:
    """Check the first FILE_HEADER_SIZE bytes of a file; return (major, minor, header_length).

    `data` may be shorter than FILE_HEADER_SIZE when the file is.
    """
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        if 0 < len(data) < len(MAGIC) and MAGIC.startswith(data):
            raise FormatError("truncated file header", offset=len(data))
        raise FormatError("not a vgc file (bad magic number)", offset=0)
    if len(data) < FILE_HEADER_SIZE:
        raise FormatError("truncated file header", offset=len(data))
    _, major, minor, header_length = _FILE_HEADER.unpack_from(data)
    if major > FORMAT_MAJOR:
        raise FormatError(
            f"file is format version {major}.{minor}; this vgc reads format versions up to "
            f"{FORMAT_MAJOR}.x: upgrade vgc",
            offset=8,
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


def pack_chunk(chunk_type: int, payload: bytes) -> bytes:
    """Frame one chunk: type, length, payload, CRC."""
    if not 0 <= chunk_type <= 0xFFFF:
        raise ValueError(f"chunk type {chunk_type!r} is not a u16")
    if len(payload) > MAX_CHUNK_LENGTH:
        raise ValueError(f"chunk payload of {len(payload)} bytes exceeds the 1 GiB limit")
    head = _CHUNK_HEADER.pack(chunk_type, len(payload))
    return head + payload + _U32.pack(zlib.crc32(payload, zlib.crc32(head)))


def read_exact(f: BinaryIO, offset: int, n: int, *, chunk: int | None) -> bytes:
    """Read n bytes at offset; a short read (file shrank under us) is a FormatError."""
    f.seek(offset)
    data = f.read(n)
    if len(data) != n:
        raise FormatError(
            "truncated: unexpected end of file", chunk=chunk, offset=offset + len(data)
        )
    return data


def read_chunk(
    f: BinaryIO, offset: int, file_size: int, *, chunk: int | None
) -> tuple[ChunkInfo, bytes]:
    """Read and CRC-check the chunk at `offset`. Returns its ChunkInfo and payload."""
    if offset + CHUNK_HEADER_SIZE > file_size:
        raise FormatError(
            "truncated: chunk header runs past end of file", chunk=chunk, offset=offset
        )
    head = read_exact(f, offset, CHUNK_HEADER_SIZE, chunk=chunk)
    chunk_type, length = _CHUNK_HEADER.unpack(head)
    if length > MAX_CHUNK_LENGTH:
        raise FormatError(
            f"chunk length {length} exceeds the 1 GiB limit", chunk=chunk, offset=offset + 2
        )
    if offset + CHUNK_OVERHEAD + length > file_size:
        raise FormatError(
            f"truncated: {chunk_type_name(chunk_type)} chunk of length {length} "
            "runs past end of file",
            chunk=chunk,
            offset=offset,
        )
    payload = read_exact(f, offset + CHUNK_HEADER_SIZE, length, chunk=chunk)
    (stored,) = _U32.unpack(
        read_exact(f, offset + CHUNK_HEADER_SIZE + length, CHUNK_CRC_SIZE, chunk=chunk)
    )
    actual = zlib.crc32(payload, zlib.crc32(head))
    if stored != actual:
        raise FormatError(
            f"CRC mismatch in {chunk_type_name(chunk_type)} chunk "
            f"(stored 0x{stored:08x}, computed 0x{actual:08x})",
            chunk=chunk,
            offset=offset,
        )
    return ChunkInfo(chunk, offset, chunk_type, length), payload
