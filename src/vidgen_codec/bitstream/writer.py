"""ContainerWriter: writes a .vgc file atomically (bitstream_spec.md, section 13).

    with ContainerWriter("out.vgc") as w:                  # format 2.0 (version=(1, 1): 1.1)
        w.write_sequence_header(hdr)                       # frame_count may still be 0
        for ...:
            w.write_frame(ChunkType.BACKBONE_FRAME, payload, gop_start=True)
        w.finish(frame_count)                              # patch frame_count; index, END
    # only now does out.vgc exist (fsync + os.replace); on an exception it never appears

Everything goes to `.<name>.<random>.tmp` beside the target, so a crash or an error never leaves
a partial output and never touches an existing file at the target path.
"""

from __future__ import annotations

import os
import secrets
import struct
import weakref
import zlib
from dataclasses import replace
from pathlib import Path

from .framing import FORMAT_MAJOR, FORMAT_MINOR, ChunkInfo, framing_for, pack_file_header
from ..deferred_signals import signals_deferred
from .headers import (MAX_FRAME_COUNT, FramePayload, RefineRecord, SequenceHeader,
                      seq_frame_count_offset)
from .ids import FRAME_CHUNK_TYPES, ChunkType
from .index import IndexEntry, pack_end, pack_end_2, pack_index


def _open_temp(path: Path):
    """Create `.<name>.<random>.tmp` beside path with O_EXCL (mode 0666 less the umask)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(
                tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
            )
        except FileExistsError:
            continue
        return tmp, os.fdopen(fd, "w+b")
    raise FileExistsError(f"could not create a temporary file beside {path}")


class ContainerWriter:
    """Writes chunks in order to a temporary file; `close()` after `finish()` publishes it."""

    def __init__(self, path: str | os.PathLike,
                 version: tuple[int, int] = (FORMAT_MAJOR, FORMAT_MINOR)):
        if version[0] not in (1, 2):
            raise ValueError(f"cannot write format version {version}")
        self.version = version
        self.framing = framing_for(version[0])
        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a directory")
        with signals_deferred():  # no signal between creating the file and arranging removal
            self._tmp_path, self._f = _open_temp(self.path)
            # If the writer is dropped without close() (no `with`), still remove the temporary
            # file (also at interpreter exit).
            self._discard = weakref.finalize(self, _discard, self._f, self._tmp_path)
        self._header: SequenceHeader | None = None
        self._seq_payload: bytes | None = None
        self._seq_offset = 0
        self._index: list[IndexEntry] = []
        self._max_frame = -1
        self._finished = False
        self._closed = False
        self.chunks: list[ChunkInfo] = []  # every chunk written so far, in file order
        self._offset = 0
        self._write(pack_file_header(*version))

    # --- context manager -------------------------------------------------------------------

    def __enter__(self) -> ContainerWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
        return False

    @property
    def bytes_written(self) -> int:
        """File size so far (header and every chunk written)."""
        return self._offset

    # --- writing ---------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._f.write(data)
        self._offset += len(data)

    def _check_open(self) -> None:
        if self._closed or self._finished:
            raise ValueError(
                "ContainerWriter: no more chunks can be written after finish() or close()"
            )

    def write_chunk(self, chunk_type: int, data: bytes) -> ChunkInfo:
        """Append one chunk as is. Low level: no ordering checks (tests use it for odd files)."""
        self._check_open()
        framed = self.framing.pack_chunk(int(chunk_type), data)
        info = ChunkInfo(len(self.chunks), self._offset, int(chunk_type), len(data),
                         len(framed) - len(data) - 4)
        self._write(framed)
        self.chunks.append(info)
        return info

    def write_sequence_header(self, hdr: SequenceHeader) -> ChunkInfo:
        """Write the SEQUENCE_HEADER; it must be the first chunk. Format 1.1 writes the
        header's codec_config as a CODEC_CONFIG chunk after it; 2.x inside it."""
        if self.chunks:
            raise ValueError("the SEQUENCE_HEADER must be the first chunk and written once")
        major = self.version[0]
        if major == 1 and hdr.codec_config is not None and self.version[1] < 1:
            raise ValueError("format 1.0 has no CODEC_CONFIG chunk")
        self._seq_payload = hdr.pack(major)
        self._header = hdr
        info = self.write_chunk(ChunkType.SEQUENCE_HEADER, self._seq_payload)
        self._seq_offset = info.offset
        if major == 1 and hdr.codec_config is not None:
            self.write_chunk(ChunkType.CODEC_CONFIG, hdr.codec_config)
        return info

    def write_refine(self, record: RefineRecord) -> ChunkInfo:
        """Write the REFINE chunk: right after the SEQUENCE_HEADER (and 1.1's CODEC_CONFIG)."""
        head = [c.type for c in self.chunks]
        if self._header is None or head not in ([ChunkType.SEQUENCE_HEADER],
                                                [ChunkType.SEQUENCE_HEADER,
                                                 ChunkType.CODEC_CONFIG]):
            raise ValueError("the REFINE chunk must come right after the SEQUENCE_HEADER "
                             "(and CODEC_CONFIG)")
        return self.write_chunk(ChunkType.REFINE, record.pack())

    def write_frame(
        self, chunk_type: ChunkType, payload: FramePayload, *, gop_start: bool
    ) -> ChunkInfo:
        """Write a frame chunk; `gop_start` (decodable alone) records an INDEX entry."""
        if chunk_type not in FRAME_CHUNK_TYPES:
            raise ValueError(f"{chunk_type!r} is not a frame chunk type")
        if self._header is None:
            raise ValueError("write_sequence_header() must come before the first frame")
        if gop_start and self._index and payload.frame_index <= self._index[-1].frame_index:
            raise ValueError(f"GOP start frame {payload.frame_index} is not after the previous one")
        info = self.write_chunk(chunk_type, payload.pack(self.version[0]))
        self._max_frame = max(self._max_frame, payload.frame_index)
        if gop_start:
            self._index.append(IndexEntry(payload.frame_index, info.offset))
        return info

    def write_timestamps(self, record) -> ChunkInfo:
        """Write the TIMESTAMPS chunk (headers.Timestamps), after the last frame chunk."""
        return self.write_chunk(ChunkType.TIMESTAMPS, record.pack())

    def drop_refine(self) -> None:
        """Remove the REFINE chunk before finish() (an encoder that found nothing for the
        refiner to do): every later chunk moves up by its size, and the INDEX with them."""
        self._check_open()
        k = next((i for i, c in enumerate(self.chunks) if c.type == ChunkType.REFINE), None)
        if k is None:
            return
        gone = self.chunks[k]
        src, dst = gone.offset + gone.size, gone.offset
        self._f.flush()
        while src < self._offset:  # move the rest left, a block at a time
            self._f.seek(src)
            block = self._f.read(min(1 << 20, self._offset - src))
            self._f.seek(dst)
            self._f.write(block)
            src, dst = src + len(block), dst + len(block)
        self._f.truncate(dst)
        self._f.seek(dst)
        self._offset = dst
        self.chunks = self.chunks[:k] + [replace(c, index=c.index - 1, offset=c.offset - gone.size)
                                         for c in self.chunks[k + 1:]]
        self._index = [IndexEntry(e.frame_index, e.offset - gone.size) for e in self._index]

    def finish(self, frame_count: int) -> None:
        """Patch frame_count into the SEQUENCE_HEADER (and its CRC), write INDEX and END."""
        self._check_open()
        if self._header is None or self._seq_payload is None:
            raise ValueError("finish() before write_sequence_header()")
        if not self._max_frame < frame_count <= MAX_FRAME_COUNT:
            raise ValueError(
                f"frame_count {frame_count}: frames up to index {self._max_frame} were written"
            )
        payload = bytearray(self._seq_payload)
        at = seq_frame_count_offset(self.version[0])
        struct.pack_into("<I", payload, at, frame_count)
        head = self.framing.head(ChunkType.SEQUENCE_HEADER, len(payload))
        crc = zlib.crc32(payload, zlib.crc32(head))
        self._f.seek(self._seq_offset + len(head) + at)
        self._f.write(payload[at : at + 4])
        self._f.seek(self._seq_offset + len(head) + len(payload))
        self._f.write(struct.pack("<I", crc))
        self._f.seek(self._offset)
        self._seq_payload = bytes(payload)
        self._header = replace(self._header, frame_count=frame_count)
        if self.framing.compact:  # the index travels in END
            self.write_chunk(ChunkType.END, pack_end_2(self._index, self.framing.chunk_size))
        else:
            index_offset = 0
            if self._index:
                index_offset = self.write_chunk(ChunkType.INDEX, pack_index(self._index)).offset
            self.write_chunk(ChunkType.END, pack_end(index_offset))
        self._finished = True

    # --- publishing ------------------------------------------------------------------------

    def abort(self) -> None:
        """Discard everything: close and delete the temporary file; the target is untouched."""
        if self._closed:
            return
        self._closed = True
        self._discard()

    def close(self) -> None:
        """Publish the file (fsync, rename over the target). Without finish(): abort and raise."""
        if self._closed:
            return
        if not self._finished:
            self.abort()
            raise RuntimeError(
                f"ContainerWriter for {self.path} closed before finish(): nothing written"
            )
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            os.replace(self._tmp_path, self.path)
        except BaseException:
            self.abort()
            raise
        self._discard.detach()
        self._closed = True
        _fsync_dir(self.path.parent)


def _discard(f, tmp_path: Path) -> None:
    try:
        f.close()
    finally:
        tmp_path.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable where the OS allows opening a directory (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
