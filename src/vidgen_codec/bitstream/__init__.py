"""The .vgc container: file header, typed CRC-checked chunks, index, END (bitstream_spec.md).

Write with ContainerWriter, read with ContainerReader. Payload layouts inside frame chunks
(`FramePayload.streams`) belong to the codecs; this package only frames and checks them.
"""

from .framing import (
    CHUNK_OVERHEAD,
    FILE_HEADER_SIZE,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    MAX_CHUNK_LENGTH,
    ChunkInfo,
    chunk_size,
    chunk_type_name,
)
from .headers import FramePayload, SequenceHeader
from .ids import (
    FRAME_CHUNK_TYPES,
    FRAME_TYPE_LETTERS,
    ChunkType,
    CodecId,
    EntropyCoderId,
    FrameType,
    PixelFormat,
    is_ancillary,
)
from .index import END_CHUNK_SIZE, IndexEntry, pack_index, unpack_index
from .reader import ContainerReader, FrameChunk
from .varint import decode_uvarint, encode_uvarint
from .writer import ContainerWriter

__all__ = [
    "CHUNK_OVERHEAD",
    "END_CHUNK_SIZE",
    "FILE_HEADER_SIZE",
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "FRAME_CHUNK_TYPES",
    "FRAME_TYPE_LETTERS",
    "MAGIC",
    "MAX_CHUNK_LENGTH",
    "ChunkInfo",
    "ChunkType",
    "CodecId",
    "ContainerReader",
    "ContainerWriter",
    "EntropyCoderId",
    "FrameChunk",
    "FramePayload",
    "FrameType",
    "IndexEntry",
    "PixelFormat",
    "SequenceHeader",
    "chunk_size",
    "chunk_type_name",
    "decode_uvarint",
    "encode_uvarint",
    "is_ancillary",
    "pack_index",
    "unpack_index",
]
