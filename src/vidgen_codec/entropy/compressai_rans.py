"""First entropy backend: CompressAI's rANS coder (compressai.ans), called with explicit tables."""

from __future__ import annotations

import numpy as np

from ..bitstream.ids import EntropyCoderId
from ..errors import FormatError
from .backend import CdfTable

# Worst case bytes the decoder may read per symbol (a 16-bit renormalisation plus escape
# bypass words); the input is zero-padded by this much so a corrupt stream can never make the
# C++ decoder read outside its buffer.
_PAD_PER_SYMBOL = 8


class CompressaiRans:
    """rANS with 32-bit state and 16-bit CDF precision (compressai.ans.RansEncoder/Decoder)."""

    coder_id = EntropyCoderId.COMPRESSAI_RANS
    name = "compressai-rans"

    def encode(self, symbols: np.ndarray, indexes: np.ndarray, table: CdfTable) -> bytes:
        from compressai.ans import RansEncoder

        sym = symbols.astype(np.int32).reshape(-1)
        idx = indexes.astype(np.int32).reshape(-1)
        if sym.size == 0:
            return b""
        # compressai's encoder writes into a buffer of 4 bytes per symbol; short or
        # escape-heavy inputs would overflow it. Append trailing padding symbols (value =
        # table 0's first symbol) when the worst case needs more room: rANS decodes in
        # forward order, so a decoder stops after the real symbols and never reads them.
        pad = _padding_needed(sym, idx, table)
        if pad:
            sym = np.concatenate([sym, np.full(pad, table.offsets[0], np.int32)])
            idx = np.concatenate([idx, np.zeros(pad, np.int32)])
        return RansEncoder().encode_with_indexes(
            sym.tolist(), idx.tolist(), table.cdfs, table.cdf_lengths, table.offsets
        )

    def decode(self, data: bytes, indexes: np.ndarray, table: CdfTable) -> np.ndarray:
        from compressai.ans import RansDecoder

        n = indexes.size
        if n == 0:
            return np.zeros(0, dtype=np.int32)
        if len(data) < 4:
            raise FormatError(f"entropy-coded stream too short ({len(data)} bytes)")
        padded = bytes(data) + bytes(_PAD_PER_SYMBOL * n + 16)
        out = RansDecoder().decode_with_indexes(
            padded, indexes.astype(np.int32).reshape(-1).tolist(),
            table.cdfs, table.cdf_lengths, table.offsets,
        )
        return np.asarray(out, dtype=np.int32)


def _padding_needed(sym: np.ndarray, idx: np.ndarray, table: CdfTable) -> int:
    """Padding symbols that make compressai's 4-bytes-per-symbol buffer hold the worst case.

    Worst case: 2 bytes per in-range symbol (16-bit precision), 8 per escaped one (escape
    symbol + up to 10 four-bit bypass chunks for a 32-bit value), 8 for the final state.
    Each padding symbol adds 4 bytes of room and at most 2 of output.
    """
    offsets = np.asarray(table.offsets, np.int64)[idx]
    limit = np.asarray(table.cdf_lengths, np.int64)[idx] - 2
    value = sym.astype(np.int64) - offsets
    escapes = int(np.count_nonzero((value < 0) | (value >= limit)))
    bound = 2 * (sym.size - escapes) + 8 * escapes + 8
    room = 4 * sym.size
    return 0 if bound <= room else -(-(bound - room) // 2)
