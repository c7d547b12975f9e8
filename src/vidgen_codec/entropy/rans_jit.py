"""VGC_RANS lane loops compiled by Numba (issue 17: the CPU decoder at compressai's speed).

The same arithmetic as `rans_cpu`'s numpy and Python paths, one symbol at a time in machine
code: symbol i on lane i mod L at step i div L (rans_format). Integer-only, so the bytes and
symbols are those of the other paths on every machine. Compiled on first use and cached on
disk (Numba's cache: `__pycache__` beside this file, or NUMBA_CACHE_DIR). Without Numba
(`AVAILABLE` False) rans_cpu keeps its numpy and Python paths.
"""

from __future__ import annotations

import numpy as np

from ..jit import AVAILABLE, njit

__all__ = ["AVAILABLE", "decode_symbols_kernel", "encode_kernel"]


@njit
def encode_kernel(start, freq, lanes):  # pragma: no cover - compiled
    """(final states [lanes], words in decoder read order) of symbols (start, freq)."""
    n = start.size
    xs = np.full(lanes, 1 << 16, np.int64)
    words = np.empty(n, np.int64)  # at most one word per symbol
    k = 0
    j = (n - 1) % lanes
    for i in range(n - 1, -1, -1):
        x = xs[j]
        f = freq[i]
        if x >= f << 16:
            words[k] = x & 0xFFFF
            k += 1
            x >>= 16
        xs[j] = ((x // f) << 16) + x % f + start[i]
        j = j - 1 if j > 0 else lanes - 1
    return xs, words[:k][::-1].copy()


@njit
def decode_symbols_kernel(states, words, idx, lut, value_lut, lengths, offsets,
                          lanes):  # pragma: no cover - compiled
    """Decode n = idx.size symbols: (symbols [n] (table-relative value + the table's offset;
    the caller resolves the escaped ones), positions of the escaped symbols, final states,
    words read, ok: False when the words ran out). `lut`, `value_lut`: CdfArrays'."""
    n = idx.size
    xs = states.copy()
    sym = np.empty(n, np.int64)
    esc_at = np.empty(n, np.int64)
    n_esc = 0
    read = 0
    n_words = words.size
    for i in range(n):
        j = i % lanes
        x = xs[j]
        s = x & 0xFFFF
        k = idx[i]
        at = (k << 16) + s
        e = np.int64(lut[at])
        x = (e >> 16) * (x >> 16) + (e & 0xFFFF)
        if x < 0x10000:
            if read == n_words:
                return sym, esc_at[:n_esc], xs, read, False
            x = (x << 16) | words[read]
            read += 1
        xs[j] = x
        v = np.int64(value_lut[at])
        if v == lengths[k] - 2:
            esc_at[n_esc] = i
            n_esc += 1
        sym[i] = v + offsets[k]
    return sym, esc_at[:n_esc], xs, read, True
