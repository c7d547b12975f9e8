"""The motion codec: quantized block vector fields and block blend modes <-> stream bytes.

A field is coded relative to a prediction the decoder can form on its own (temporal: scaled
motion of the backbones; see `codecs/stem/motion.py`):

    field V (2, hb, wb) int, in units of `step` pixels;  prediction P (same shape) int
    D = V - P;  E = D, or its left-neighbour difference along rows (DPCM, first column from
    the row above) when that is cheaper
    stream = [flags u8][tables u8] + entropy-coded E, in one of two layouts:
      dense:  E (all dx, then all dy; C order); tables: low nibble = Laplace table of dx,
              high nibble = of dy
      sparse: [varint n][n bytes: significance bits E != 0, one binary table (low nibble)]
              [the non-zero E folded (e > 0 -> e - 1), one Laplace table (high nibble)]
      flags: bits 0-1 step code (1/4, 1/2, 1 pel), bits 2-3 log2(block) - 3, bit 4 DPCM,
             bit 5 "V = P" (no symbols, no tables byte), bit 6 sparse
    The encoder tries every layout with the cheapest tables and keeps the shortest stream.

Modes (one of BLEND, FORWARD, BACKWARD per block) are coded with one 3-way table chosen by
the encoder: stream = [table u8] + symbols, or empty when every block blends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bitstream.varint import decode_uvarint, encode_uvarint
from ..entropy import CdfTable, EntropyBackend
from ..errors import FormatError


@dataclass(frozen=True)
class MotionTables:
    """The tables of the motion codec (stored in the STEM weights; motion/tables.py)."""

    mv: CdfTable  # Laplace laws
    mode: CdfTable  # 3-way block modes
    sig: CdfTable  # binary significance

    @classmethod
    def from_state(cls, state: dict) -> "MotionTables":
        """The tables from a STEM state dict's {name}_cdf, _length, _offset arrays (what
        motion/tables.py `build_tables` writes), tensors or arrays."""
        return cls(*(tables_from_arrays(*(np.asarray(state[f"{name}_{part}"])
                                          for part in ("cdf", "length", "offset")))
                     for name in ("mv", "mode", "sig")))

STEPS = (0.25, 0.5, 1.0)
BLOCKS = (8, 16, 32, 64)
F_DPCM = 0x10
F_PREDICTED = 0x20
F_SPARSE = 0x40
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
        if s >= len(STEPS) or flags & 0x80:
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
                 tables: MotionTables) -> bytes:
    """Stream of the int field `v` given the decoder-side prediction `pred` (same shape)."""
    d = (v - pred).astype(np.int64)
    if not d.any():
        return bytes([fmt.flags() | F_PREDICTED])
    best = None
    for dpcm in (False, True):
        e = _dpcm(d) if dpcm else d
        flags = fmt.flags() | (F_DPCM if dpcm else 0)
        for stream in (_dense(e, flags, backend, tables), _sparse(e, flags, backend, tables)):
            if best is None or len(stream) < len(best):
                best = stream
    return best


def _dense(e, flags, backend, tables) -> bytes:
    t = [_best_table(e[c], tables.mv) for c in (0, 1)]
    idx = np.stack([np.full(e.shape[1:], t[0]), np.full(e.shape[1:], t[1])]).astype(np.int32)
    return bytes([flags, t[0] | (t[1] << 4)]) + backend.encode(e.astype(np.int32), idx, tables.mv)


def _sparse(e, flags, backend, tables) -> bytes:
    sig = (e != 0).astype(np.int32)
    vals = e[e != 0]
    vals = np.where(vals > 0, vals - 1, vals).astype(np.int32)
    ts, tv = _best_table(sig, tables.sig), _best_table(vals, tables.mv)
    sig_bytes = backend.encode(sig, np.full(sig.shape, ts, np.int32), tables.sig)
    val_bytes = backend.encode(vals, np.full(vals.shape, tv, np.int32), tables.mv)
    return (bytes([flags | F_SPARSE, ts | (tv << 4)]) + encode_uvarint(len(sig_bytes))
            + sig_bytes + val_bytes)


def decode_field(data: bytes, pred: np.ndarray, backend: EntropyBackend, tables: MotionTables,
                 *, chunk=None) -> tuple[np.ndarray, FieldFormat]:
    """Inverse of `encode_field`. pred: the same prediction the encoder used."""
    fmt = peek_format(data, chunk=chunk)
    flags = data[0]
    if flags & F_PREDICTED:
        if len(data) != 1 or flags & (F_SPARSE | F_DPCM):
            raise FormatError("predicted motion field with trailing bytes", chunk=chunk)
        return pred.astype(np.int64).copy(), fmt
    if len(data) < 2:
        raise FormatError("motion field stream too short", chunk=chunk)
    ta, tb = data[1] & 15, data[1] >> 4
    if flags & F_SPARSE:
        e = _decode_sparse(bytes(data[2:]), ta, tb, pred.shape, backend, tables, chunk)
    else:
        if max(ta, tb) >= len(tables.mv.cdf_lengths):
            raise FormatError("motion field table index out of range", chunk=chunk)
        idx = np.stack([np.full(pred.shape[1:], ta), np.full(pred.shape[1:], tb)])
        e = backend.decode(bytes(data[2:]), idx.astype(np.int32), tables.mv)
        e = e.astype(np.int64).reshape(pred.shape)
    d = _undpcm(e) if flags & F_DPCM else e
    return pred.astype(np.int64) + d, fmt


def _decode_sparse(body: bytes, ts: int, tv: int, shape, backend, tables, chunk) -> np.ndarray:
    if ts >= len(tables.sig.cdf_lengths) or tv >= len(tables.mv.cdf_lengths):
        raise FormatError("motion field table index out of range", chunk=chunk)
    try:
        n, pos = decode_uvarint(body, 0)
    except (ValueError, IndexError, FormatError):
        raise FormatError("bad significance length in a motion field", chunk=chunk) from None
    if pos + n > len(body):
        raise FormatError("significance bits run past the motion field stream", chunk=chunk)
    sig = backend.decode(body[pos:pos + n], np.full(shape, ts, np.int32), tables.sig)
    sig = sig.astype(np.int64).reshape(shape)
    if sig.min() < 0 or sig.max() > 1:
        raise FormatError("bad significance bit in a motion field", chunk=chunk)
    k = int(sig.sum())
    vals = backend.decode(body[pos + n:], np.full(k, tv, np.int32), tables.mv).astype(np.int64)
    e = np.zeros(shape, np.int64)
    e[sig == 1] = np.where(vals >= 0, vals + 1, vals)
    return e


def peek_format(data: bytes, *, chunk=None) -> FieldFormat:
    if len(data) < 1:
        raise FormatError("empty motion field stream", chunk=chunk)
    return FieldFormat.from_flags(data[0] & 0x8F, chunk)


def encode_modes(modes: np.ndarray, backend: EntropyBackend, tables: MotionTables) -> bytes:
    table = tables.mode
    if not modes.any():
        return b""
    t = _best_table(modes, table)
    idx = np.full(modes.shape, t, np.int32)
    return bytes([t]) + backend.encode(modes.astype(np.int32), idx, table)


def decode_modes(data: bytes, shape: tuple[int, int], backend: EntropyBackend,
                 tables: MotionTables, *, chunk=None) -> np.ndarray:
    table = tables.mode
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
    """Index of the table that codes these symbols in the fewest bits (the entropy engine's
    integer size estimate, escapes included)."""
    return int(np.argmin(table.arrays.costs16(symbols)))
