"""ContainerReader: reads and checks a .vgc file chunk by chunk (bitstream_spec.md, sections 9, 12).

    r = ContainerReader("in.vgc")         # checks the file header and the SEQUENCE_HEADER
    r.header                              # SequenceHeader
    r.codec_config                        # the codec's settings (bytes), or None
    r.refine                              # RefineRecord, or None when the file has none
    for fc in r.iter_frames(): ...        # FrameChunk per frame chunk, every chunk checked
    r.read_index()                        # [IndexEntry(frame, offset)] via END at the tail
    r.iter_frames_from(offset)            # seek: resume at a chunk offset from the index

It reads format 1.0, 1.1 and 2.x files (`r.version`). The reader holds one chunk in memory at
a time and checks every length against the bytes left in the file before reading it. Any
malformed input raises FormatError and nothing else.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import FormatError, InputError
from .framing import CHUNK_CRC_SIZE, FILE_HEADER_PROBE, ChunkInfo, framing_for, parse_file_header
from .headers import FramePayload, RefineRecord, SequenceHeader
from .ids import FRAME_CHUNK_TYPES, ChunkType, is_ancillary
from .varint import decode_uvarint
from .index import (END_CHUNK_SIZE, END_TAIL_SIZE, IndexEntry, unpack_end, unpack_end_2,
                    unpack_index)


@dataclass(frozen=True)
class FrameChunk:
    """One frame chunk as read: where it is, what it is, and its parsed payload."""

    chunk_index: int | None  # None when reading began mid-file (iter_frames_from)
    offset: int
    chunk_type: ChunkType
    payload: FramePayload
    size: int  # whole chunk: header + payload + CRC


class ContainerReader:
    """Reads a .vgc file from a path or from bytes. Use as a context manager or call close()."""

    def __init__(self, source: str | os.PathLike | bytes | bytearray | memoryview):
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._f: BinaryIO = io.BytesIO(bytes(source))
            self.name = "<bytes>"
        else:
            self.name = os.fspath(source)
            try:
                self._f = open(source, "rb")
            except OSError as e:
                raise InputError(f"cannot open {self.name}: {e.strerror or e}") from None
        try:
            self._open()
        except BaseException:
            self._f.close()
            raise

    @classmethod
    def from_bytes(cls, data: bytes) -> ContainerReader:
        return cls(data)

    def _open(self) -> None:
        self._f.seek(0, os.SEEK_END)
        self.file_size: int = self._f.tell()
        self._f.seek(0)
        head = self._f.read(FILE_HEADER_PROBE)
        major, minor, header_length = parse_file_header(head, self.file_size)
        self.version: tuple[int, int] = (major, minor)
        self.header_length = header_length
        self.framing = framing_for(major)
        info, payload = self._read(header_length, 0)
        if info.type != ChunkType.SEQUENCE_HEADER:
            raise FormatError(
                f"first chunk is {info.type_name}, not SEQUENCE_HEADER", chunk=0, offset=info.offset
            )
        self.header: SequenceHeader = SequenceHeader.unpack(
            payload, major=major, chunk=0, offset=info.payload_offset
        )
        self.frames_offset = info.offset + info.size  # where the first chunk after the header lies
        self.refine: RefineRecord | None = None
        # the chunks before the frame area: SEQUENCE_HEADER [, CODEC_CONFIG (1.1)] [, REFINE]
        self._head = [info]
        if major == 1 and self._next_type() == ChunkType.CODEC_CONFIG:  # peek first
            nxt, self.header.codec_config = self._read(self.frames_offset, 1)
            self._head.append(nxt)
            self.frames_offset = nxt.offset + nxt.size
        if self._next_type() == ChunkType.REFINE:
            k = len(self._head)
            nxt, payload = self._read(self.frames_offset, k)
            self.refine = RefineRecord.unpack(payload, chunk=k, offset=nxt.payload_offset)
            self._head.append(nxt)
            self.frames_offset = nxt.offset + nxt.size

    @property
    def codec_config(self) -> bytes | None:
        """The codec's settings: 1.1's CODEC_CONFIG chunk, 2.x's SEQUENCE_HEADER field."""
        return self.header.codec_config

    def _read(self, offset: int, index: int | None, end: int | None = None):
        return self.framing.read_chunk(self._f, offset, self.file_size if end is None else end,
                                       chunk=index)

    def _next_type(self) -> int | None:
        """The type of the chunk at frames_offset, from its first byte(s) (None: no room)."""
        return self.framing.peek_type(self._f, self.frames_offset, self.file_size)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ContainerReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- sequential reading ----------------------------------------------------------------

    def _walk(self, start: int, first_index: int | None) -> Iterator[tuple[ChunkInfo, bytes]]:
        """Yield (info, payload) for each chunk after the SEQUENCE_HEADER, from `start` to END.

        Checks CRCs and the order rules; `first_index` is the index of the chunk at `start`.
        """
        offset, index = start, first_index
        index_at = None  # offset of the INDEX chunk, once seen
        times_at = None  # offset of the TIMESTAMPS chunk, once seen
        frame_offsets: dict[int, int] = {}  # 2.x: frame chunk offset -> its frame_index
        first_chunk: dict[int, int] = {}  # 2.x: frame_index -> offset of its first chunk
        compact = self.framing.compact
        while True:
            if offset == self.file_size:
                raise FormatError(
                    "truncated: no END chunk at end of file", chunk=index, offset=offset
                )
            info, payload = self._read(offset, index)
            where = {"chunk": index, "offset": offset}
            t = info.type
            if t == ChunkType.SEQUENCE_HEADER:
                raise FormatError("second SEQUENCE_HEADER chunk", **where)
            elif t in FRAME_CHUNK_TYPES:
                if index_at is not None:
                    raise FormatError(f"{info.type_name} chunk after the INDEX chunk", **where)
                if times_at is not None:
                    raise FormatError(f"{info.type_name} chunk after the TIMESTAMPS chunk",
                                      **where)
                if compact:
                    frame, _ = decode_uvarint(payload, 0, chunk=index,
                                              offset=info.payload_offset)
                    frame_offsets[offset] = frame
                    first_chunk.setdefault(frame, offset)
            elif t == ChunkType.TIMESTAMPS:
                if times_at is not None:
                    raise FormatError("second TIMESTAMPS chunk", **where)
                times_at = offset
            elif compact and t in (ChunkType.CODEC_CONFIG, ChunkType.INDEX):
                raise FormatError(f"{info.type_name} chunk in a format 2 file (its data "
                                  "belongs in the SEQUENCE_HEADER and END)", **where)
            elif t == ChunkType.REFINE:
                raise FormatError("REFINE chunk not right after the SEQUENCE_HEADER "
                                  "(and CODEC_CONFIG)", **where)
            elif t == ChunkType.CODEC_CONFIG:
                raise FormatError("CODEC_CONFIG chunk not right after the SEQUENCE_HEADER",
                                  **where)
            elif t == ChunkType.INDEX:
                if index_at is not None:
                    raise FormatError("second INDEX chunk", **where)
                index_at = offset
            elif t == ChunkType.END:
                if offset + info.size != self.file_size:
                    raise FormatError(
                        f"{self.file_size - offset - info.size} bytes after the END chunk", **where
                    )
                if compact:
                    entries = unpack_end_2(payload, info.size, chunk=index,
                                           offset=info.payload_offset)
                    self._check_entries(entries, offset, where, (frame_offsets, first_chunk),
                                        start)
                else:
                    index_offset = unpack_end(payload, chunk=index, offset=info.payload_offset)
                    self._check_end(index_offset, index_at, start, where)
                yield info, payload
                return
            elif not is_ancillary(t):
                raise FormatError(
                    f"{info.type_name} chunk: this vgc cannot decode this file", **where
                )
            yield info, payload
            offset += info.size
            index = None if index is None else index + 1

    def _check_end(self, index_offset: int, index_at: int | None, start: int, where: dict) -> None:
        """END's index_offset must be the INDEX chunk's offset, or 0 when there is none."""
        if index_offset == 0:
            if index_at is not None:
                raise FormatError(
                    f"END index_offset is 0 but an INDEX chunk lies at {index_at}", **where
                )
        elif not self.frames_offset <= index_offset < where["offset"]:
            raise FormatError(f"END index_offset {index_offset} outside the chunk area", **where)
        elif index_offset >= start and index_offset != index_at:
            raise FormatError(
                f"END index_offset {index_offset} is not the offset of the INDEX chunk", **where
            )

    def _check_entries(self, entries: list[IndexEntry], end_at: int, where: dict,
                       seen: tuple[dict, dict] | None = None, start: int = 0) -> None:
        """2.x: every index entry names a frame below frame_count and a frame chunk before
        END (`seen`: the frame chunks read from `start` on, offset -> frame_index, and each
        frame's first chunk: an entry there must name that chunk's frame, its first)."""
        for e in entries:
            bad = (not self.frames_offset <= e.offset < end_at
                   or e.frame_index >= self.header.frame_count)
            if seen is not None and e.offset >= start:
                frames, first = seen
                bad = bad or frames.get(e.offset) != e.frame_index \
                    or first.get(e.frame_index) != e.offset
            if bad:
                raise FormatError(f"index entry {tuple(e)} does not point at a frame chunk",
                                  **where)

    def chunks(self) -> list[ChunkInfo]:
        """Every chunk in the file (SEQUENCE_HEADER to END), each one checked."""
        return self._head + [info for info, _ in self._walk(self.frames_offset,
                                                             len(self._head))]

    def _frames(self, start: int, first_index: int | None) -> Iterator[FrameChunk]:
        for info, payload in self._walk(start, first_index):
            if info.type in FRAME_CHUNK_TYPES:
                fp = FramePayload.unpack(payload, major=self.version[0], chunk=info.index,
                                         offset=info.payload_offset)
                if fp.frame_index >= self.header.frame_count:
                    raise FormatError(
                        f"frame index {fp.frame_index} not below "
                        f"frame_count {self.header.frame_count}",
                        chunk=info.index,
                        offset=info.payload_offset,
                    )
                yield FrameChunk(info.index, info.offset, ChunkType(info.type), fp, info.size)

    def iter_frames(self) -> Iterator[FrameChunk]:
        """Frame chunks in file order; every chunk up to END is checked, ancillary ones skipped."""
        return self._frames(self.frames_offset, len(self._head))

    def iter_frames_from(self, offset: int) -> Iterator[FrameChunk]:
        """Like iter_frames, from a chunk offset taken from read_index().

        Chunk indices are None, as the chunks before `offset` are not counted.
        """
        if not self.frames_offset <= offset < self.file_size:
            raise FormatError(
                f"offset {offset} is not inside the frame area of the file", offset=offset
            )
        return self._frames(offset, len(self._head) if offset == self.frames_offset else None)

    # --- seeking ---------------------------------------------------------------------------

    def _end_chunk(self) -> tuple[ChunkInfo, bytes]:
        """Find and check the END chunk from the file's tail."""
        if self.framing.compact:
            if self.file_size - END_TAIL_SIZE < self.frames_offset:
                raise FormatError("truncated: no END chunk at end of file", offset=self.file_size)
            self._f.seek(self.file_size - END_TAIL_SIZE)
            size = int.from_bytes(self._f.read(4), "little")
            end_at = self.file_size - size
        else:
            end_at, size = self.file_size - END_CHUNK_SIZE, END_CHUNK_SIZE
        if not self.frames_offset <= end_at <= self.file_size - self.framing.min_chunk:
            raise FormatError("truncated: no END chunk at end of file", offset=self.file_size)
        info, payload = self._read(end_at, None)
        if info.type != ChunkType.END or info.size != size:
            raise FormatError("truncated: no END chunk at end of file", offset=end_at)
        return info, payload

    def read_end(self) -> int:
        """1.x: check the END chunk in the last 18 bytes; return its index_offset."""
        info, payload = self._end_chunk()
        return unpack_end(payload, offset=info.payload_offset)

    def _find_chunk(self, chunk_type: int, end_at: int) -> int | None:
        """The offset of the first chunk of `chunk_type` between the frames and END (at
        `end_at`), found by walking the chunk headers (type and length, no payloads)."""
        offset = self.frames_offset
        while offset < end_at:
            head, found, length = self.framing.read_head(self._f, offset, end_at, chunk=None)
            if found == chunk_type:
                return offset
            offset += len(head) + length + CHUNK_CRC_SIZE
        if offset != end_at:
            raise FormatError("chunks do not end where the END chunk starts", offset=end_at)
        return None

    def read_timestamps(self):
        """The TIMESTAMPS chunk (headers.Timestamps), or None when the file has none."""
        from .headers import Timestamps

        end_at = self._end_chunk()[0].offset
        at = self._find_chunk(ChunkType.TIMESTAMPS, end_at)
        if at is None:
            return None
        info, payload = self._read(at, None, end_at)
        return Timestamps.unpack(payload, self.header.frame_count, offset=info.payload_offset)

    def read_index(self) -> list[IndexEntry]:
        """The GOP-start index found via END: [(frame_index, chunk offset)]; [] if there is none."""
        if self.framing.compact:
            info, payload = self._end_chunk()
            entries = unpack_end_2(payload, info.size, offset=info.payload_offset)
            self._check_entries(entries, info.offset, {"offset": info.offset})
            return entries
        end_at = self.file_size - END_CHUNK_SIZE
        index_offset = self.read_end()
        if index_offset == 0:  # as a full read would: no INDEX chunk may hide before END
            at = self._find_chunk(ChunkType.INDEX, end_at)
            if at is not None:
                raise FormatError(f"END index_offset is 0 but an INDEX chunk lies at {at}",
                                  offset=end_at)
            return []
        if not self.frames_offset <= index_offset < end_at:
            raise FormatError(
                f"END index_offset {index_offset} outside the chunk area", offset=end_at
            )
        info, payload = self._read(index_offset, None, end_at)
        if info.type != ChunkType.INDEX:
            raise FormatError(
                f"END points at a {info.type_name} chunk, not INDEX", offset=index_offset
            )
        entries = unpack_index(payload, offset=info.payload_offset)
        for e in entries:
            if (
                not self.frames_offset <= e.offset < index_offset
                or e.frame_index >= self.header.frame_count
            ):
                raise FormatError(
                    f"INDEX entry {tuple(e)} points outside the frames", offset=index_offset
                )
        return entries
