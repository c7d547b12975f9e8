"""Block mode maps of a synthesised av1 GOP (issue 30, part 1): per interval between two
backbones, which of four rebuilds each block of its frames takes, sent only where the encoder
measured that it pays (bitstream_spec.md, stem, "Block mode maps").

    symbols per block: OWN (the interval's mode bit: BLEND or MOTION), OTHER (the other one),
                       EARLIER (the motion-compensated sample of the earlier backbone alone),
                       LATER (of the later backbone alone: where one side is occluded)
    section = u8 block code (0, 1, 2: 16, 32, 64 pixels) + varint f1, f2, f3 (frequencies of
              OTHER, EARLIER, LATER out of 2^16; OWN gets 65535 - their sum, the escape 1)
              + VGC_RANS payload of the G x hb x wb symbols (intervals in order, blocks in
              raster order over the padded frame), one table

A map that pays is mostly OWN, so the section costs a few bytes beside the symbols. The
encoder chooses each block's symbol for rate and distortion (`choose`); the decoder turns the
symbols into absolute modes (`absolute`) for `bilateral.rebuild_blocks`.
"""

from __future__ import annotations

import numpy as np

from ..bitstream.varint import decode_uvarint, encode_uvarint
from ..entropy.backend import CdfTable
from ..errors import FormatError

OWN, OTHER, EARLIER, LATER = 0, 1, 2, 3  # block symbols
# absolute modes of a block (`bilateral.rebuild_blocks`); BLEND and MOTION as stem_gop's bits
A_BLEND, A_MOTION, A_EARLIER, A_LATER = 0, 1, 2, 3
BLOCKS = (16, 32, 64)
TOTAL = 1 << 16


def grid(hp: int, wp: int, block: int) -> tuple[int, int]:
    """Blocks per column and row of a padded hp x wp frame."""
    return -(-hp // block), -(-wp // block)


def table(freqs: tuple[int, int, int, int]) -> CdfTable:
    """The one table of a section: OWN, OTHER, EARLIER, LATER, then the escape (1)."""
    cdf = [0]
    for f in freqs:
        cdf.append(cdf[-1] + f)
    cdf.append(TOTAL)
    return CdfTable([cdf], [len(cdf)], [0])


def frequencies(symbols: np.ndarray) -> tuple[int, int, int, int]:
    """Frequencies of the four symbols from their counts (encoder side, informative): each
    count c of n scaled to max(1, c * 65531 // n); OWN takes the rest but the escape's 1."""
    counts = np.bincount(symbols.ravel(), minlength=4)[:4]
    n = max(int(counts.sum()), 1)
    rest = [max(1, int(c) * (TOTAL - 5) // n) for c in counts[1:]]
    return (TOTAL - 1 - sum(rest), *rest)


def pack(block: int, maps: np.ndarray, backend) -> bytes:
    """The section for maps (G, hb, wb) of symbols 0..3 (VGC_RANS `backend`)."""
    if block not in BLOCKS or maps.ndim != 3 or maps.size == 0 or maps.min() < 0 \
            or maps.max() > LATER:
        raise ValueError("block maps need a block of 16, 32 or 64 and symbols 0..3")
    freqs = frequencies(maps)
    sym = np.ascontiguousarray(maps.reshape(-1), np.int32)
    data = backend.encode(sym, np.zeros(sym.size, np.int32), table(freqs))
    return (bytes([BLOCKS.index(block)]) + b"".join(encode_uvarint(f) for f in freqs[1:])
            + data)


def unpack(data: bytes, gaps: int, hp: int, wp: int, backend, *, chunk=None
           ) -> tuple[int, np.ndarray]:
    """(block, maps (gaps, hb, wb) int32 symbols) of a section; FormatError if malformed."""
    block, freqs, pos = parse_header(data, gaps, chunk=chunk)
    hb, wb = grid(hp, wp, block)
    try:
        sym = backend.decode(bytes(data[pos:]), np.zeros(gaps * hb * wb, np.int32),
                             table(freqs))
    except FormatError as e:
        raise FormatError(f"av1 GOP chunk: block mode maps: {e.reason}", chunk=chunk) from e
    if sym.min() < 0 or sym.max() > LATER:
        raise FormatError("av1 GOP chunk: block mode map symbol outside 0..3", chunk=chunk)
    return block, sym.reshape(gaps, hb, wb)


def parse_header(data: bytes, gaps: int, *, chunk=None) -> tuple[int, tuple, int]:
    """(block, the four frequencies, offset of the rANS payload) of a section."""
    def bad(why):
        return FormatError(f"av1 GOP chunk: block mode maps: {why}", chunk=chunk)

    if gaps == 0:
        raise bad("a GOP without frames between its backbones has no maps")
    if not data or data[0] >= len(BLOCKS):
        raise bad("block code not 0, 1 or 2")
    mv, pos, rest = memoryview(data), 1, []
    for _ in range(3):
        f, pos = decode_uvarint(mv, pos, chunk=chunk)
        rest.append(f)
    if min(rest) < 1 or sum(rest) > TOTAL - 2:
        raise bad("frequencies out of range")
    if pos >= len(data):
        raise bad("no symbols")
    return BLOCKS[data[0]], (TOTAL - 1 - sum(rest), *rest), pos


def absolute(symbols: np.ndarray, mode: int) -> np.ndarray:
    """An interval's absolute block modes (uint8) from its symbols and its mode bit."""
    own, other = (A_MOTION, A_BLEND) if mode == A_MOTION else (A_BLEND, A_MOTION)
    lut = np.array([own, other, A_EARLIER, A_LATER], np.uint8)
    return lut[symbols]


def choose(sse: np.ndarray, own: int, lam: float) -> np.ndarray:
    """Symbols (G, hb, wb) for block errors sse (G, 4, hb, wb) by absolute mode (encoder side,
    informative): each block the symbol minimising its squared error + lam x its code length
    under the map's own statistics, a few rounds from OWN everywhere (as the coder's table is
    the map's own frequencies). `own`: (G,) the intervals' mode bits."""
    g = sse.shape[0]
    # (G, 4 symbols, hb, wb): each interval's errors in its symbol order
    by_symbol = np.stack([sse[k][absolute(np.arange(4), own[k])] for k in range(g)])
    p = np.array([0.97, 0.01, 0.01, 0.01])
    for _ in range(4):
        cost = by_symbol + lam * -np.log2(p)[None, :, None, None]
        sym = np.argmin(cost, 1)
        counts = np.bincount(sym.ravel(), minlength=4) + 0.5
        p = counts / counts.sum()
    return sym.astype(np.int32)

