"""INDEX and END payloads (bitstream_spec.md, sections 7.3, 7.4 and 17.5): how a reader seeks.

    INDEX payload = varint count , count x (varint frame delta , varint offset delta)
    END payload   = u64 index_offset            (1.x: END is always 18 bytes, last in the file)
    END payload   = INDEX payload , u32 end_size   (2.x: no INDEX chunk; end_size = the whole
                                                    END chunk's bytes, so its last 8 bytes are
                                                    end_size and the CRC)

A seeking reader reads the file's tail, checks END, finds the index, picks the last GOP start
at or before the wanted frame and decodes from that chunk on.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ..errors import FormatError
from .varint import decode_uvarint, encode_uvarint

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
END_TAIL_SIZE = 8  # 2.x: u32 end_size + u32 CRC, the last bytes of the file
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


def pack_end_2(entries: list[IndexEntry], chunk_size) -> bytes:
    """The 2.x END payload: the index, then the size of the whole END chunk; `chunk_size`
    maps a payload length to the chunk's size (framing.Framing.chunk_size)."""
    index = pack_index(entries)
    return index + _U32.pack(chunk_size(len(index) + 4))


def unpack_end_2(data: bytes, size: int, *, chunk: int | None = None,
                 offset: int = 0) -> list[IndexEntry]:
    """Parse a 2.x END payload of a chunk that takes `size` bytes; return its index."""
    if len(data) < 5:
        raise FormatError(f"END payload is {len(data)} bytes, at least 5 needed", chunk=chunk,
                          offset=offset)
    (stored,) = _U32.unpack_from(data, len(data) - 4)
    if stored != size:
        raise FormatError(f"END end_size {stored} is not the END chunk's size {size}",
                          chunk=chunk, offset=offset + len(data) - 4)
    return unpack_index(data[:-4], chunk=chunk, offset=offset)
