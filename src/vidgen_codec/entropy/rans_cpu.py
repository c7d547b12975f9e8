"""CPU backend of VGC_RANS: lane-interleaved rANS in numpy, vectorized across lanes.

    encode: symbols, indexes -> CdfArrays.map_symbols -> (start, freq, escapes, size estimate)
            -> L = choose_lanes(n, estimate) -> encode_lanes (steps T-1 .. 0, all lanes at once)
            -> rans_format.pack(L, escapes, final states, words)
    decode: rans_format.parse -> decode_lanes (steps 0 .. T-1, all lanes at once) -> slots
            -> values (searchsorted) -> escapes resolved -> symbols; check_end

Symbol i is coded by lane i mod L at step i div L (Giesen 2014, "Interleaved entropy coders").
With Numba installed (a dependency) both loops run compiled, one symbol at a time
(`rans_jit`); the numpy and Python paths below are the fallback, and the reference. With many
lanes every numpy call works on L states at once; with few lanes (small or
low-entropy payloads) a plain Python loop over the symbols is faster, and writes the same
bytes. The word order needs no bookkeeping: the decoder reads words in symbol order (step by
step, lanes ascending), so the encoder keeps a (T, L) grid of "emitted" flags and words and
compacts it row-major at the end.
"""

from __future__ import annotations

import numpy as np

from ..bitstream.ids import EntropyCoderId
from ..errors import FormatError
from . import rans_format as fmt
from . import rans_jit
from .backend import CdfTable

# Below this many lanes the per-symbol Python loop beats per-step numpy calls.
NUMPY_MIN_LANES = 32
_MASK = (1 << fmt.WORD_BITS) - 1


class VgcRansCpu:
    """VGC_RANS on the CPU (numpy). Bytes are identical to `VgcRansTriton`'s."""

    coder_id = EntropyCoderId.VGC_RANS
    name = "vgc-rans-cpu"

    def __init__(self, lanes: int | None = None):
        # lanes: force a lane count (benchmarks, tests); None = the format's policy.
        self.lanes = lanes

    def encode(self, symbols: np.ndarray, indexes: np.ndarray, table: CdfTable) -> bytes:
        coded = table.arrays.map_symbols(symbols, indexes)
        n = coded.start.size
        if n == 0:
            return b""
        if self.lanes:
            lanes = min(self.lanes, n, fmt.MAX_LANES)
        else:
            lanes = fmt.choose_lanes(n, coded.cost16)
        states, words = encode_lanes(coded.start, coded.freq, lanes)
        return fmt.pack(lanes, fmt.encode_escapes(coded.escapes), states, words)

    def decode(self, data: bytes, indexes: np.ndarray, table: CdfTable) -> np.ndarray:
        arrays = table.arrays
        idx = np.asarray(indexes).reshape(-1).astype(np.int64)
        n = idx.size
        if n == 0:
            if len(data):
                raise FormatError(f"{len(data)} bytes of entropy-coded data for zero symbols")
            return np.zeros(0, np.int32)
        if idx.min() < 0 or idx.max() >= arrays.n_tables:
            raise ValueError(f"table index outside 0..{arrays.n_tables - 1}")
        p = fmt.parse(data, n)
        if rans_jit.AVAILABLE:  # compiled: symbols with their offsets, escapes located
            sym, esc_at, states, read, ok = rans_jit.decode_symbols_kernel(
                _i64(p.states), _i64(p.words), idx, arrays.decode_lut(), arrays.value_lut(),
                arrays.lengths, arrays.offsets, p.lanes)
            if not ok:
                raise FormatError("rANS stream truncated: the decoder ran out of words")
        else:
            slots, states, read = decode_lanes(p.states, p.words, idx, arrays)
            sym = arrays.values_of_slots(slots, idx) + arrays.offsets[idx]
            esc_at = np.flatnonzero(sym == arrays.lengths[idx] - 2 + arrays.offsets[idx])
        fmt.check_end(states, read, p.words.size, p.escapes.size, esc_at.size)
        if esc_at.size:
            k = idx[esc_at]
            sym[esc_at] = fmt.unescape(p.escapes, arrays.lengths[k] - 2) + arrays.offsets[k]
        if sym.min() < -(1 << 31) or sym.max() >= (1 << 31):
            raise FormatError("escaped symbol outside the int32 range (corrupt stream)")
        return sym.astype(np.int32)

    # -- quantizing entry points (the reference of VgcRansTriton's fused kernels) ----------
    def encode_gaussian(self, y, mean, scale, table: CdfTable, scale_table,
                        scale_bound: float) -> bytes:
        """Encode y around `mean` with the table chosen by `scale`, all float32:
        symbol = rint(y - mean), index = #(scale_table < max(scale, scale_bound)) capped."""
        sym, idx = quantize_gaussian(y, mean, scale, scale_table, scale_bound)
        return self.encode(sym, idx, table)

    def decode_gaussian(self, data: bytes, mean, scale, table: CdfTable, scale_table,
                        scale_bound: float) -> np.ndarray:
        """y_hat = symbol + mean (float32, mean's shape) from a stream of `encode_gaussian`."""
        mean32 = _f32(mean)
        _, idx = quantize_gaussian(mean32, mean32, scale, scale_table, scale_bound)
        sym = self.decode(data, idx, table)
        return (sym.astype(np.float32) + mean32.reshape(-1)).reshape(mean32.shape)


def quantize_gaussian(y, mean, scale, scale_table, scale_bound: float):
    """(symbols int32, table indexes int32) from float32 y, mean, scale: the fused kernels'
    definition. ValueError for non-finite input or |y - mean| >= 2^30."""
    d = _f32(y).reshape(-1) - _f32(mean).reshape(-1)
    s = _f32(scale).reshape(-1)
    if not (np.all(np.isfinite(d)) and np.all(np.abs(d) < 2.0 ** 30) and np.all(np.isfinite(s))):
        raise ValueError("y - mean must be finite and below 2^30 in magnitude")
    table = _f32(scale_table).reshape(-1)
    s = np.maximum(s, np.float32(scale_bound))
    idx = np.minimum(np.searchsorted(table, s, side="left"), table.size - 1)
    return np.rint(d).astype(np.int32), idx.astype(np.int32)


def _i64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _f32(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float32)


# -- encoder ----------------------------------------------------------------------------------
def encode_lanes(start: np.ndarray, freq: np.ndarray, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """rANS-encode symbols with the given (start, freq) on `lanes` interleaved lanes.

    Returns (final states [lanes], words in decoder read order). Every lane starts at 2^16;
    before coding a symbol of frequency f, a lane whose state x >= f * 2^16 emits its low
    16 bits and shifts them out (once suffices, as x < 2^32); then x = (x // f) * 2^16 +
    x % f + start.
    """
    if rans_jit.AVAILABLE:
        return rans_jit.encode_kernel(_i64(start), _i64(freq), lanes)
    if lanes < NUMPY_MIN_LANES:
        return _encode_scalar(start.tolist(), freq.tolist(), lanes)
    n = start.size
    steps = -(-n // lanes)
    pad = steps * lanes - n  # the last step codes lanes 0 .. lanes-pad-1 only
    f = np.concatenate([freq, np.ones(pad, np.int64)]).reshape(steps, lanes)
    c = np.concatenate([start, np.zeros(pad, np.int64)]).reshape(steps, lanes)
    g = fmt.TOTAL - f  # x + (x // f) * (2^16 - f) + c == (x // f) * 2^16 + x % f + c
    xmax = f << 16
    emit = np.zeros((steps, lanes), bool)
    word = np.zeros((steps, lanes), np.uint16)
    x = np.full(lanes, fmt.STATE_LOW, np.int64)
    q = np.empty(lanes, np.int64)
    for t in range(steps - 1, -1, -1):
        if t == steps - 1 and pad:
            _encode_partial_step(x, f[t], c[t], xmax[t], emit[t], word[t], lanes - pad)
            continue
        np.greater_equal(x, xmax[t], out=emit[t])
        np.bitwise_and(x, _MASK, out=word[t], casting="unsafe")
        np.copyto(x, x >> 16, where=emit[t])
        np.floor_divide(x, f[t], out=q)
        np.multiply(q, g[t], out=q)
        x += q
        x += c[t]
    return x, word[emit]


def _encode_partial_step(x, f, c, xmax, emit, word, active: int) -> None:
    xs = x[:active]
    emit[:active] = xs >= xmax[:active]
    word[:active] = xs & _MASK
    xs = np.where(emit[:active], xs >> 16, xs)
    x[:active] = (xs // f[:active]) * fmt.TOTAL + xs % f[:active] + c[:active]


def _encode_scalar(start: list, freq: list, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """Same as the numpy path, one symbol at a time (fast for few lanes)."""
    xs = [fmt.STATE_LOW] * lanes
    words = []
    emit = words.append
    j = (len(start) - 1) % lanes
    for i in range(len(start) - 1, -1, -1):
        x, f = xs[j], freq[i]
        if x >= f << 16:
            emit(x & 0xFFFF)
            x >>= 16
        xs[j] = ((x // f) << 16) + x % f + start[i]
        j = j - 1 if j else lanes - 1
    words.reverse()  # emitted from the last symbol to the first; read from the first
    return np.asarray(xs, np.int64), np.asarray(words, np.int64)


# -- decoder ----------------------------------------------------------------------------------
def decode_lanes(states: np.ndarray, words: np.ndarray, indexes: np.ndarray, arrays):
    """Run the decoder over all symbols. Returns (slots [n], final states, words read).

    slot = state & 0xFFFF picks the value of symbol i in table indexes[i]; the state becomes
    freq * (x >> 16) + slot - start, and a lane below 2^16 reads the next word. Raises
    FormatError when the words run out (a truncated or corrupt stream).
    """
    lanes = states.size
    lut = arrays.decode_lut()
    if lanes < NUMPY_MIN_LANES:
        return _decode_scalar(states.tolist(), words.tolist(), (indexes << 16).tolist(),
                              memoryview(lut), lanes)
    n = indexes.size
    steps = -(-n // lanes)
    pad = steps * lanes - n
    base = np.concatenate([indexes << 16, np.zeros(pad, np.int64)]).reshape(steps, lanes)
    slots = np.empty((steps, lanes), np.int64)
    x = states.copy()
    read, n_words = 0, words.size
    for t in range(steps):
        active = lanes - pad if (t == steps - 1 and pad) else lanes
        xs = x if active == lanes else x[:active]
        s = slots[t, :active]
        np.bitwise_and(xs, _MASK, out=s)
        e = lut.take(base[t, :active] + s, mode="clip")  # freq << 16 | (slot - start)
        hi = xs >> 16
        np.multiply(e >> 16, hi, out=xs)
        xs += e & _MASK
        low = xs < fmt.STATE_LOW
        k = int(np.count_nonzero(low))
        if k:
            if read + k > n_words:
                raise FormatError("rANS stream truncated: the decoder ran out of words")
            xs[low] = (xs[low] << 16) | words[read:read + k]
            read += k
    return slots.reshape(-1)[:n], x, read


def _decode_scalar(xs: list, words: list, base: list, lut, lanes: int):
    n = len(base)
    slots = [0] * n
    read, n_words = 0, len(words)
    j = 0
    for i in range(n):
        x = xs[j]
        s = x & 0xFFFF
        e = lut[base[i] + s]
        x = (e >> 16) * (x >> 16) + (e & 0xFFFF)
        if x < 0x10000:
            if read == n_words:
                raise FormatError("rANS stream truncated: the decoder ran out of words")
            x = (x << 16) | words[read]
            read += 1
        xs[j] = x
        slots[i] = s
        j = j + 1 if j + 1 < lanes else 0
    return np.asarray(slots, np.int64), np.asarray(xs, np.int64), read
