"""A `CdfTable` as validated flat numpy arrays, built once per table and cached on it.

    CdfTable(cdfs, cdf_lengths, offsets)            lists, CompressAI layout
      -> CdfArrays                                   (this module)
           cdf[row_start[k] + v]                     CDF of value v in table k (tables back to back)
           freq[row_start[k] + v]                    its frequency (cdf[.. + 1] - cdf[..])
           map_symbols(symbols, indexes) -> Coded    start/freq per symbol, escapes, size estimate
           costs16(symbols)                          that size estimate under each table at once
           decode_lut(), values_of_slots()           slot -> (freq, slot - start) and value, decoding

Table k codes values v = symbol - offsets[k] in [0, cdf_lengths[k] - 2); index
esc = cdf_lengths[k] - 2 is the escape symbol. Every frequency must be >= 1 (so any slot decodes
to exactly one value), cdf[0] = 0 and the last entry 2^16.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .rans_format import TOTAL, escape_bits, escape_raw

_I32 = (-(1 << 31), (1 << 31) - 1)
COST_CHUNK = 1 << 20  # tables x symbols entries per step of `costs16` (its memory)


@dataclass(frozen=True)
class Coded:
    """Per-symbol coding parameters of a payload (from `CdfArrays.map_symbols`)."""

    start: np.ndarray  # int64 [n]: cdf of the coded value (the escape symbol for escapes)
    freq: np.ndarray  # int64 [n]
    escapes: np.ndarray  # int64 raw escape values, in symbol order
    cost16: int  # estimated size in 1/16 bits (`cost16_table`), escapes' raw bytes included


class CdfArrays:
    """Validated numpy form of a CdfTable (see module docstring)."""

    def __init__(self, cdfs, cdf_lengths, offsets):
        k = len(cdf_lengths)
        if k == 0 or len(cdfs) != k or len(offsets) != k:
            raise ValueError("CdfTable needs as many cdfs, cdf_lengths and offsets (>= 1)")
        self.lengths = np.asarray(cdf_lengths, np.int64).reshape(-1)
        self.offsets = np.asarray(offsets, np.int64).reshape(-1)
        if np.any(self.lengths < 3) or np.any(self.lengths > TOTAL + 1):
            raise ValueError("every CDF needs 3 .. 65537 entries (>= 1 value + escape)")
        if np.any(self.offsets < _I32[0]) or np.any(self.offsets > _I32[1]):
            raise ValueError("CDF offsets must fit in int32")
        rows = []
        for i, (row, n) in enumerate(zip(cdfs, self.lengths.tolist())):
            r = np.asarray(row, np.int64).reshape(-1)[:n]
            if r.size != n or r[0] != 0 or r[-1] != TOTAL or np.any(np.diff(r) <= 0):
                raise ValueError(f"CDF {i} must rise strictly from 0 to 65536 over "
                                 f"{n} entries (every frequency >= 1)")
            rows.append(r)
        self.n_tables = k
        self.row_start = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.cdf = np.concatenate(rows)
        self.freq = np.diff(self.cdf, append=0)
        self.freq[self.row_start + self.lengths - 1] = 0  # last entry of a row: no value
        self._lut: np.ndarray | None = None
        self._value_lut: np.ndarray | None = None

    # -- encoder side ---------------------------------------------------------------------
    def map_symbols(self, symbols: np.ndarray, indexes: np.ndarray) -> Coded:
        """Start, frequency and escapes of every symbol (escape symbol for out-of-range ones)."""
        sym = np.asarray(symbols).reshape(-1).astype(np.int64)
        idx = np.asarray(indexes).reshape(-1).astype(np.int64)
        if sym.shape != idx.shape:
            raise ValueError(f"{sym.size} symbols but {idx.size} table indexes")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_tables):
            raise ValueError(f"table index outside 0..{self.n_tables - 1}")
        if sym.size and (sym.min() < _I32[0] or sym.max() > _I32[1]):
            raise ValueError("symbols must fit in int32")
        esc = self.lengths[idx] - 2
        v = sym - self.offsets[idx]
        out = (v < 0) | (v >= esc)
        raw = escape_raw(v[out], esc[out])
        v = np.where(out, esc, v)
        pos = self.row_start[idx] + v
        freq = self.freq[pos]
        cost16 = int(cost16_table()[freq].sum()) + 16 * int(escape_bits(raw).sum())
        return Coded(self.cdf[pos], freq, raw, cost16)

    def costs16(self, symbols: np.ndarray) -> np.ndarray:
        """int64 [n_tables]: `map_symbols(symbols, k).cost16` for every table k, in one pass
        over a tables x symbols array (the motion coder picks the cheapest table of each
        field: one call instead of one per table), COST_CHUNK entries at a time."""
        sym = np.asarray(symbols).reshape(-1).astype(np.int64)
        step = max(COST_CHUNK // self.n_tables, 1)
        cost = np.zeros(self.n_tables, np.int64)
        esc = (self.lengths - 2)[:, None]
        for i in range(0, sym.size, step):
            v = sym[None, i:i + step] - self.offsets[:, None]
            out = (v < 0) | (v >= esc)
            pos = self.row_start[:, None] + np.where(out, esc, v)
            cost += cost16_table()[self.freq[pos]].sum(axis=1)
            if out.any():
                raw = np.where(out, escape_raw(v, esc), 0)
                cost += 16 * np.where(out, escape_bits(raw), 0).sum(axis=1)
        return cost

    # -- decoder side ---------------------------------------------------------------------
    def decode_lut(self) -> np.ndarray:
        """uint32 [n_tables * 2^16]: entry k*2^16 + slot = freq << 16 | (slot - start) of the
        value whose interval holds `slot` in table k. Built once (4 bytes per slot), together
        with the uint16 value of that slot (`values_of_slots`)."""
        if self._lut is None:
            pos = np.repeat(np.arange(self.cdf.size, dtype=np.int64), self.freq)
            slot = np.tile(np.arange(TOTAL, dtype=np.int64), self.n_tables)
            self._lut = ((self.freq[pos] << 16) | (slot - self.cdf[pos])).astype(np.uint32)
            self._value_lut = (pos - np.repeat(self.row_start, TOTAL)).astype(np.uint16)
        return self._lut

    def value_lut(self) -> np.ndarray:
        """uint16 [n_tables * 2^16]: the table-relative value of each slot (see decode_lut)."""
        self.decode_lut()
        return self._value_lut

    def values_of_slots(self, slots: np.ndarray, indexes: np.ndarray) -> np.ndarray:
        """Table-relative value v (0 .. esc) whose interval in table indexes[i] holds slots[i]."""
        self.decode_lut()
        keys = (indexes.astype(np.int64) << 16) | slots.astype(np.int64)
        return self._value_lut.take(keys).astype(np.int64)


@lru_cache(maxsize=1)
def cost16_table() -> np.ndarray:
    """int64 [2^16 + 1]: entry f = floor-ish 16 * log2(2^16 / f), the cost of a symbol of
    frequency f in 1/16 bits, computed with integers only: 256 - bit_length(f^16) (0 for f = 0).

    Exact on every machine (no libm), so backends agree on the lane count that uses it.
    """
    out = np.zeros(TOTAL + 1, np.int64)
    out[1:] = [256 - (f ** 16).bit_length() for f in range(1, TOTAL + 1)]
    return np.maximum(out, 0)
