"""The VGC_RANS payload: constants, lane-count policy, header and escape section.

Byte layout (bitstream_spec.md, section 16 "The VGC_RANS entropy-coded stream"):

    payload = varint head              head = (L - 1) << 1 | E        (L lanes, E: escapes follow)
              [varint B, B bytes]      only if E: an Exp-Golomb code per escaped symbol
              L x u32                  final encoder state of lanes 0 .. L-1, each in [2^16, 2^32)
              u16 words                renormalization words, in the order the decoder reads them

Zero symbols <=> zero bytes. Symbol i of a payload is coded by lane i mod L at step i div L
(Giesen, "Interleaved entropy coders", 2014): the lanes are independent rANS coders (Duda,
"Asymmetric numeral systems", 2009/2013) that share one word stream. At step t the decoder
decodes one symbol in every lane and then lets every lane whose state fell below 2^16 read one
16-bit word, lanes in increasing order; the encoder mirrors it in reverse. Both backends
(`rans_cpu`, `rans_triton`) implement exactly this; this module holds what they share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bitstream.varint import decode_uvarint, encode_uvarint
from ..errors import FormatError

PRECISION = 16  # CDF precision: frequencies sum to 2^16
TOTAL = 1 << PRECISION
STATE_LOW = 1 << 16  # normalized states lie in [2^16, 2^32); every lane starts (and ends) here
WORD_BITS = 16  # renormalization moves one 16-bit word at a time, at most one per symbol
MAX_LANES = 4096  # the format's limit (the decoder refuses more)
# Lane policy of the reference encoder: one lane per BITS_PER_LANE estimated bits. A lane
# costs about 24 bits net (its 32-bit final state carries ~8 bits of payload; measured: ~3
# bytes per extra lane), so this keeps the lane overhead near 0.6 %.
BITS_PER_LANE = 4096


@dataclass(frozen=True)
class ParsedPayload:
    """A payload split into its parts (validated against the payload length)."""

    lanes: int
    escapes: np.ndarray  # int64 raw escape values, in symbol order
    states: np.ndarray  # int64 [lanes]
    words: np.ndarray  # int64 [n_words]


def choose_lanes(n: int, cost16: int) -> int:
    """Lane count for n symbols whose estimated size is cost16 / 16 bits (see `cost16`).

    Integer-only, so every backend and machine picks the same L from the same symbols.
    """
    if n <= 0:
        return 0
    return max(1, min(n, MAX_LANES, int(cost16) // (16 * BITS_PER_LANE)))


def escape_raw(v: np.ndarray, esc: np.ndarray) -> np.ndarray:
    """Raw escape values of table-relative values v outside [0, esc): zig-zag around the table.

    v < 0 -> 2(-v) - 1 (odd); v >= esc -> 2(v - esc) (even).
    """
    v = v.astype(np.int64)
    return np.where(v < 0, -2 * v - 1, 2 * (v - esc))


def unescape(raw: np.ndarray, esc: np.ndarray) -> np.ndarray:
    """Inverse of `escape_raw`: table-relative values from raw escape values."""
    raw = raw.astype(np.int64)
    return np.where(raw & 1, -((raw + 1) >> 1), (raw >> 1) + esc)


def escape_bits(raw: np.ndarray) -> np.ndarray:
    """Exp-Golomb (order 0) code lengths of raw values >= 0: 2 * floor(log2(raw + 1)) + 1."""
    u = raw.astype(np.int64) + 1
    z = np.zeros(u.shape, np.int64)
    for b in (32, 16, 8, 4, 2, 1):  # z = floor(log2 u), u < 2^35
        big = (u >> (z + b)) > 0
        z += np.where(big, b, 0)
    return 2 * z + 1


def encode_escapes(raw: np.ndarray) -> bytes:
    """The escape section: order-0 Exp-Golomb codes of `raw`, most significant bit first,
    back to back, the last byte padded with zero bits. A code for r: z = floor(log2(r + 1))
    zero bits, then r + 1 in z + 1 bits (its leading bit is the 1 that ends the zeros)."""
    raw = raw.astype(np.int64).reshape(-1)
    if raw.size == 0:
        return b""
    nbits = escape_bits(raw)
    z = nbits >> 1
    ends = np.cumsum(nbits)
    bits = np.zeros(int(ends[-1]), np.uint8)
    width = z + 1  # bits of r + 1, written at the end of each code
    first = np.repeat(ends - width, width)
    within = np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width)
    shift = np.repeat(width, width) - 1 - within
    bits[first + within] = (np.repeat(raw + 1, width) >> shift) & 1
    return np.packbits(bits).tobytes()


def decode_escapes(section: bytes | memoryview) -> np.ndarray:
    """Raw values of an escape section: codes are read while a 1 bit is left; what remains
    must be fewer than 8 zero bits. FormatError for a code running past the end."""
    bits = np.unpackbits(np.frombuffer(section, np.uint8))
    ones = np.flatnonzero(bits).tolist()
    starts, zeros = [], []
    pos, oi, n = 0, 0, bits.size
    while True:
        while oi < len(ones) and ones[oi] < pos:
            oi += 1
        if oi == len(ones):
            break
        z = ones[oi] - pos
        if z > 34 or ones[oi] + z >= n:
            raise FormatError("escape code longer than 69 bits or past the section end")
        starts.append(ones[oi])
        zeros.append(z)
        pos = ones[oi] + z + 1
    if n - pos >= 8:
        raise FormatError("escape section has a whole byte of padding")
    if not starts:
        return np.zeros(0, np.int64)
    first, z = np.asarray(starts, np.int64), np.asarray(zeros, np.int64)
    value = np.ones(first.size, np.int64)
    for b in range(1, int(z.max()) + 1):  # the z bits after each leading 1
        more = z >= b
        value = np.where(more, (value << 1) | bits[np.minimum(first + b, n - 1)], value)
    return value - 1


def pack(lanes: int, escapes: bytes, states: np.ndarray, words: np.ndarray) -> bytes:
    """The payload bytes from its parts (states: [lanes] in [2^16, 2^32); words: < 2^16)."""
    head = encode_uvarint(((lanes - 1) << 1) | (1 if escapes else 0))
    esc = encode_uvarint(len(escapes)) + escapes if escapes else b""
    return b"".join([head, esc, np.asarray(states, "<u4").tobytes(),
                     np.asarray(words, "<u2").tobytes()])


def parse(data: bytes, n: int) -> ParsedPayload:
    """Split a payload of n symbols (n >= 1) into its parts; FormatError if it cannot be one."""
    mv = memoryview(data)
    if len(mv) == 0:
        raise FormatError(f"empty entropy-coded stream for {n} symbols")
    head, pos = decode_uvarint(mv, 0)
    lanes, has_esc = (head >> 1) + 1, head & 1
    if lanes > min(n, MAX_LANES):
        raise FormatError(f"rANS stream declares {lanes} lanes for {n} symbols "
                          f"(at most min(n, {MAX_LANES}))")
    escapes = np.zeros(0, np.int64)
    if has_esc:
        size, pos = decode_uvarint(mv, pos)
        if size == 0 or size > len(mv) - pos:
            raise FormatError(f"rANS escape section of {size} bytes does not fit the stream")
        escapes = decode_escapes(mv[pos:pos + size])
        pos += size
    if 4 * lanes > len(mv) - pos:
        raise FormatError(f"rANS stream truncated: {lanes} lane states do not fit")
    states = np.frombuffer(mv[pos:pos + 4 * lanes], "<u4").astype(np.int64)
    pos += 4 * lanes
    if np.any(states < STATE_LOW):
        raise FormatError("rANS lane state below 2^16")
    if (len(mv) - pos) % 2:
        raise FormatError("rANS word area has an odd byte count")
    words = np.frombuffer(mv[pos:], "<u2").astype(np.int64)
    return ParsedPayload(lanes, escapes, states, words)


def check_end(states: np.ndarray, read: int, n_words: int, n_escapes: int,
              escapes_used: int) -> None:
    """After decoding: every lane back at its initial state, every word and escape used."""
    if read != n_words:
        raise FormatError(f"rANS stream has {n_words - read} unread words (corrupt stream)")
    if np.any(states != STATE_LOW):
        raise FormatError("rANS lane did not return to its initial state (corrupt stream)")
    if escapes_used != n_escapes:
        raise FormatError(f"rANS stream has {n_escapes} escape values for "
                          f"{escapes_used} escaped symbols (corrupt stream)")
