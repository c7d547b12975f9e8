"""The motion codec: quantized block vector fields and block blend modes <-> stream bytes.

A field is coded relative to a prediction the decoder can form on its own (temporal: scaled
motion of the backbones; see `codecs/stem_motion.py`):

    field V (2, hb, wb) int, in units of `step` pixels;  prediction P (same shape) int
    D = V - P;  E = D, or its left-neighbour difference along rows (DPCM, first column from
    the row above) when that is cheaper
    stream = [flags u8][tables u8] + entropy-coded E (all dx, then all dy; C order)
      flags: bits 0-1 step code (1/4, 1/2, 1 pel), bits 2-3 log2(block) - 3, bit 4 DPCM,
             bit 5 "V = P" (no symbols, no tables byte)
      tables: low nibble = Laplace table of dx, high nibble = of dy (the cheapest, by trial)

Modes (one of BLEND, FORWARD, BACKWARD per block) are coded with one 3-way table chosen by
the encoder: stream = [table u8] + symbols, or empty when every block blends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..entropy import CdfTable, EntropyBackend
from ..errors import FormatError

STEPS = (0.25, 0.5, 1.0)
BLOCKS = (8, 16, 32, 64)
F_DPCM = 0x10
F_PREDICTED = 0x20
BLEND, FORWARD, BACKWARD = 0, 1, 2


@dataclass(frozen=True)
class FieldFormat:
    block: int
    step: float

    def flags(self) -> int:
        return STEPS.index(self.step) | (BLOCKS.index(self.block) << 2)

    @classmethod
    def from_flags(cls, flags: int, chunk=None) -> "FieldFormat":
        s, b = flags & 3, (flags >> 2) & 3
        if s >= len(STEPS) or flags & 0xC0:
            raise FormatError(f"bad motion field flags 0x{flags:02x}", chunk=chunk)
        return cls(BLOCKS[b], STEPS[s])


def tables_from_arrays(cdf: np.ndarray, length: np.ndarray, offset: np.ndarray) -> CdfTable:
    lengths = [int(n) for n in length]
    return CdfTable([row[:n] for row, n in zip(cdf.tolist(), lengths)], lengths,
                    [int(o) for o in offset])


def _dpcm(d: np.ndarray) -> np.ndarray:
    e = d.copy()
    e[..., 1:] = d[..., 1:] - d[..., :-1]
    e[..., 1:, 0] = d[..., 1:, 0] - d[..., :-1, 0]
    return e


def _undpcm(e: np.ndarray) -> np.ndarray:
    d = e.copy()
    d[..., :, 0] = np.cumsum(e[..., :, 0], axis=-1)
    return np.cumsum(d, axis=-1)


def encode_field(v: np.ndarray, pred: np.ndarray, fmt: FieldFormat, backend: EntropyBackend,
                 table: CdfTable) -> bytes:
    """Stream of the int field `v` given the decoder-side prediction `pred` (same shape)."""
    d = (v - pred).astype(np.int64)
    if not d.any():
        return bytes([fmt.flags() | F_PREDICTED])
    best = None
    for dpcm in (False, True):
        e = _dpcm(d) if dpcm else d
        t = [_best_table(e[c], table) for c in (0, 1)]
        idx = np.stack([np.full(e.shape[1:], t[0]), np.full(e.shape[1:], t[1])])
        body = backend.encode(e.astype(np.int32), idx.astype(np.int32), table)
        head = bytes([fmt.flags() | (F_DPCM if dpcm else 0), t[0] | (t[1] << 4)])
        if best is None or len(head + body) < len(best):
            best = head + body
    return best


def decode_field(data: bytes, pred: np.ndarray, backend: EntropyBackend, table: CdfTable,
                 *, chunk=None) -> tuple[np.ndarray, FieldFormat]:
    """Inverse of `encode_field`. pred: the same prediction the encoder used."""
    if len(data) < 1:
        raise FormatError("empty motion field stream", chunk=chunk)
    fmt = FieldFormat.from_flags(data[0] & 0x0F | (data[0] & 0xC0), chunk)
    if data[0] & F_PREDICTED:
        if len(data) != 1:
            raise FormatError("predicted motion field with trailing bytes", chunk=chunk)
        return pred.astype(np.int64).copy(), fmt
    if len(data) < 2:
        raise FormatError("motion field stream too short", chunk=chunk)
    t0, t1 = data[1] & 15, data[1] >> 4
    if max(t0, t1) >= len(table.cdf_lengths):
        raise FormatError("motion field table index out of range", chunk=chunk)
    idx = np.stack([np.full(pred.shape[1:], t0), np.full(pred.shape[1:], t1)]).astype(np.int32)
    e = backend.decode(bytes(data[2:]), idx, table).astype(np.int64).reshape(pred.shape)
    d = _undpcm(e) if data[0] & F_DPCM else e
    return pred.astype(np.int64) + d, fmt


def peek_format(data: bytes, *, chunk=None) -> FieldFormat:
    if len(data) < 1:
        raise FormatError("empty motion field stream", chunk=chunk)
    return FieldFormat.from_flags(data[0] & 0xCF, chunk)


def encode_modes(modes: np.ndarray, backend: EntropyBackend, table: CdfTable) -> bytes:
    if not modes.any():
        return b""
    t = _best_table(modes, table)
    idx = np.full(modes.shape, t, np.int32)
    return bytes([t]) + backend.encode(modes.astype(np.int32), idx, table)


def decode_modes(data: bytes, shape: tuple[int, int], backend: EntropyBackend,
                 table: CdfTable, *, chunk=None) -> np.ndarray:
    if not data:
        return np.zeros(shape, np.int64)
    t = data[0]
    if t >= len(table.cdf_lengths):
        raise FormatError("mode table index out of range", chunk=chunk)
    m = backend.decode(bytes(data[1:]), np.full(shape, t, np.int32), table)
    m = m.astype(np.int64).reshape(shape)
    if m.min() < 0 or m.max() > BACKWARD:
        raise FormatError("block mode out of range", chunk=chunk)
    return m


def _best_table(symbols: np.ndarray, table: CdfTable) -> int:
    """Index of the table with the fewest ideal bits for these symbols (escapes at 32 bits)."""
    s = symbols.reshape(-1).astype(np.int64)
    best, best_bits = 0, None
    for i, (cdf, n, off) in enumerate(zip(table.cdfs, table.cdf_lengths, table.offsets)):
        c = np.asarray(cdf, np.int64)
        v = s - off
        inside = (v >= 0) & (v < n - 2)
        vi = np.where(inside, v, n - 2)
        freq = c[vi + 1] - c[vi]
        bits = -np.log2(freq / 65536.0).sum() + 32 * np.count_nonzero(~inside)
        if best_bits is None or bits < best_bits:
            best, best_bits = i, bits
    return best
