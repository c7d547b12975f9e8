"""INDEX and END payloads (bitstream_spec.md, sections 7.3 and 7.4): how a reader seeks.

    INDEX payload = varint count , count x (varint frame delta , varint offset delta)
    END payload   = u64 index_offset            (END chunk: always 18 bytes, last in the file)

A seeking reader reads the last 18 bytes, checks END, jumps to the INDEX it points at, picks
the last GOP start at or before the wanted frame and decodes from that chunk on.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ..errors import FormatError
from .varint import decode_uvarint, encode_uvarint

_U64 = struct.Struct("<Q")
END_PAYLOAD_SIZE = 8
END_CHUNK_SIZE = 2 + 4 + END_PAYLOAD_SIZE + 4


class IndexEntry(NamedTuple):
    """A frame that starts a GOP and the file offset of the chunk that holds it."""

    frame_index: int
    offset: int


def pack_index(entries: list[IndexEntry] | list[tuple[int, int]]) -> bytes:
    """Delta-code entries; frames and offsets must both increase strictly."""
    out = [encode_uvarint(len(entries))]
    prev_frame = prev_offset = 0
    for i, (frame, off) in enumerate(entries):
        if i and (frame <= prev_frame or off <= prev_offset):
            raise ValueError(f"index entry {i} ({frame}, {off}) does not increase strictly")
        out.append(encode_uvarint(frame - prev_frame))
        out.append(encode_uvarint(off - prev_offset, bits=64))
        prev_frame, prev_offset = frame, off
    return b"".join(out)


def unpack_index(data: bytes, *, chunk: int | None = None, offset: int = 0) -> list[IndexEntry]:
    """Parse an INDEX payload (consumed exactly). Frame deltas are 32-bit, offset deltas 64-bit."""
    count, pos = decode_uvarint(data, 0, chunk=chunk, offset=offset)
    if count > (len(data) - pos) // 2:  # each entry takes at least two bytes
        raise FormatError(
            f"INDEX claims {count} entries but has {len(data) - pos} bytes",
            chunk=chunk,
            offset=offset,
        )
    entries = []
    frame = off = 0
    for i in range(count):
        entry_pos = pos
        d_frame, pos = decode_uvarint(data, pos, chunk=chunk, offset=offset)
        d_off, pos = decode_uvarint(data, pos, bits=64, chunk=chunk, offset=offset)
        if i and (d_frame == 0 or d_off == 0):
            raise FormatError(
                f"INDEX entry {i} does not increase strictly",
                chunk=chunk,
                offset=offset + entry_pos,
            )
        frame += d_frame
        off += d_off
        entries.append(IndexEntry(frame, off))
    if pos != len(data):
        raise FormatError(
            f"{len(data) - pos} unexpected bytes after the INDEX entries",
            chunk=chunk,
            offset=offset + pos,
        )
    return entries


def pack_end(index_offset: int) -> bytes:
    return _U64.pack(index_offset)


def unpack_end(data: bytes, *, chunk: int | None = None, offset: int = 0) -> int:
    """Return index_offset from an END payload (exactly 8 bytes)."""
    if len(data) != END_PAYLOAD_SIZE:
        raise FormatError(
            f"END payload is {len(data)} bytes, not {END_PAYLOAD_SIZE}", chunk=chunk, offset=offset
        )
    return _U64.unpack(data)[0]
