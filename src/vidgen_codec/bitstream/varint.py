"""LEB128 unsigned varints (bitstream_spec.md, section 8).

Seven value bits per byte, least significant group first; bit 7 set means "another byte
follows". For a varint declared N-bit (32 or 64), a reader refuses encodings longer than
ceil(N / 7) bytes, values of 2^N or more, and overlong encodings (a final byte of 0 after the
first byte: the same value has a shorter encoding). So every value has exactly one encoding,
and a corrupt run of 0x80 bytes cannot make a reader loop or allocate.
"""

from __future__ import annotations

from ..errors import FormatError

U32_MAX_BYTES = 5  # ceil(32 / 7)
U64_MAX_BYTES = 10  # ceil(64 / 7)


def encode_uvarint(value: int, *, bits: int = 32) -> bytes:
    """Encode a non-negative integer that fits in `bits` bits (32 or 64)."""
    if not isinstance(value, int) or value < 0 or value >> bits:
        raise ValueError(f"varint value {value!r} is not an unsigned {bits}-bit integer")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_uvarint(
    data: bytes | memoryview,
    pos: int,
    *,
    bits: int = 32,
    chunk: int | None = None,
    offset: int = 0,
) -> tuple[int, int]:
    """Decode one varint of at most `bits` bits starting at data[pos].

    Returns (value, position after the varint). `chunk` and `offset` (the file offset of
    data[0]) only locate errors: a FormatError names chunk and offset + pos.
    """
    max_bytes = (bits + 6) // 7
    value = 0
    start = pos
    for i in range(max_bytes):
        if pos >= len(data):
            raise FormatError("truncated varint", chunk=chunk, offset=offset + start)
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise FormatError("overlong varint", chunk=chunk, offset=offset + start)
            if value >> bits:
                raise FormatError(f"varint exceeds {bits} bits", chunk=chunk, offset=offset + start)
            return value, pos
    raise FormatError(f"varint longer than {max_bytes} bytes", chunk=chunk, offset=offset + start)


def encode_svarint(value: int, *, bits: int = 32) -> bytes:
    """Encode a signed integer as a zigzag varint (0, -1, 1, -2, .. -> 0, 1, 2, 3, ..)."""
    if not isinstance(value, int) or not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise ValueError(f"varint value {value!r} is not a signed {bits}-bit integer")
    return encode_uvarint(2 * value if value >= 0 else -2 * value - 1, bits=bits)


def decode_svarint(data: bytes | memoryview, pos: int, *, bits: int = 32,
                   chunk: int | None = None, offset: int = 0) -> tuple[int, int]:
    """Decode one zigzag varint (see encode_svarint); same checks as decode_uvarint."""
    z, pos = decode_uvarint(data, pos, bits=bits, chunk=chunk, offset=offset)
    return (z >> 1) ^ -(z & 1), pos
