"""Triton kernels of VGC_RANS (the host side is `rans_triton`; the format is `rans_format`).

    _cost_kernel     (y, mean, scale) or (symbol, index) -> per-block size estimate, in 1/16 bits
    _encode_kernel   fused: quantize + table index + CDF lookup + rANS encode, one lane per thread,
                     steps T-1 .. 0; writes per symbol (emitted?, word, escape value) and the
                     final lane states. Compacting "emitted" row-major gives the word stream.
    _decode_kernel   fused: rANS decode of all lanes in lockstep, steps 0 .. T-1 (one program:
                     the lanes share one word stream, read positions come from a prefix sum over
                     the lanes each step), escapes resolved in-kernel, + dequantize
                     (y_hat = symbol + mean) or plain symbols.

FUSED selects the quantizing variant: symbol = round-half-even(float32(y) - float32(mean)),
table index = number of scale-table entries < max(scale, bound), capped at K - 1, all in float32
(single IEEE operations, so the numpy reference in `rans_triton` gives the same integers).
Integers: states and values in int64; tables in int32. Only builtins of triton.language are
used (tl.reduce / tl.associative_scan with `_add` rather than tl.sum / tl.cumsum / tl.zeros,
which are themselves @jit functions): so the kernels also run under TRITON_INTERPRET=1 when
triton was imported before that variable was set.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def _round_half_even(d):
    """rint() of a float32 tensor with exact float operations (|d| >= 2^23 is integral)."""
    r = tl.floor(d + 0.5)
    tie = (r - d) == 0.5
    odd = (r - 2.0 * tl.floor(r * 0.5)) != 0.0
    r = tl.where(tie & odd, r - 1.0, r)
    return tl.where(tl.abs(d) >= 8388608.0, d, r)


@triton.jit
def _scale_index(s, st_ptr, K, bound, LOG2K: tl.constexpr):
    """Number of scale-table entries < max(s, bound) (the table is increasing), capped at K-1."""
    s = tl.maximum(s, bound)
    pos = tl.full(s.shape, 0, tl.int32)
    for jj in tl.static_range(LOG2K):
        step = 1 << (LOG2K - 1 - jj)
        probe = pos + step
        inside = probe <= K
        t = tl.load(st_ptr + probe - 1, mask=inside, other=0.0)
        pos = tl.where(inside & (t < s), probe, pos)
    return tl.minimum(pos, K - 1)


@triton.jit
def _symbols(i, active, sym_ptr, idx_ptr, y_ptr, mean_ptr, scale_ptr, st_ptr, K, bound,
             FUSED: tl.constexpr, LOG2K: tl.constexpr):
    """(symbol int64, table index int32) of symbols i: loaded, or quantized from y/mean/scale."""
    if FUSED:
        y = tl.load(y_ptr + i, mask=active, other=0.0)
        mu = tl.load(mean_ptr + i, mask=active, other=0.0)
        sc = tl.load(scale_ptr + i, mask=active, other=1.0)
        sym = _round_half_even(y - mu).to(tl.int64)
        idx = _scale_index(sc, st_ptr, K, bound, LOG2K)
    else:
        sym = tl.load(sym_ptr + i, mask=active, other=0).to(tl.int64)
        idx = tl.load(idx_ptr + i, mask=active, other=0)
    return sym, idx


@triton.jit
def _lookup(sym, idx, active, off_ptr, len_ptr, rs_ptr, cdf_ptr):
    """(start, freq, escaped, raw escape value) of each symbol; inactive: (0, 1, False, 0)."""
    off = tl.load(off_ptr + idx, mask=active, other=0).to(tl.int64)
    esc = tl.load(len_ptr + idx, mask=active, other=3).to(tl.int64) - 2
    rs = tl.load(rs_ptr + idx, mask=active, other=0).to(tl.int64)
    v = sym - off
    low = v < 0
    oob = low | (v >= esc)
    raw = tl.where(low, -2 * v - 1, 2 * (v - esc))
    v = tl.where(oob, esc, v)
    start = tl.load(cdf_ptr + rs + v, mask=active, other=0).to(tl.int64)
    nxt = tl.load(cdf_ptr + rs + v + 1, mask=active, other=1).to(tl.int64)
    return start, nxt - start, oob & active, raw


@triton.jit
def _escape_bits(raw):
    """Exp-Golomb (order 0) length of raw >= 0: 2 floor(log2(raw + 1)) + 1."""
    u = raw + 1
    z = tl.full(u.shape, 0, tl.int64)
    for jj in tl.static_range(6):
        b = 32 >> jj
        z = tl.where((u >> (z + b)) > 0, z + b, z)
    return 2 * z + 1


@triton.jit
def _cost_kernel(sym_ptr, idx_ptr, y_ptr, mean_ptr, scale_ptr, st_ptr, K, bound,
                 off_ptr, len_ptr, rs_ptr, cdf_ptr, cost_ptr, part_ptr, n,
                 FUSED: tl.constexpr, LOG2K: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    i = pid * BLOCK + tl.arange(0, BLOCK)
    active = i < n
    sym, idx = _symbols(i, active, sym_ptr, idx_ptr, y_ptr, mean_ptr, scale_ptr, st_ptr, K,
                        bound, FUSED, LOG2K)
    start, freq, esc, raw = _lookup(sym, idx, active, off_ptr, len_ptr, rs_ptr, cdf_ptr)
    c = tl.load(cost_ptr + freq, mask=active, other=0).to(tl.int64)
    c = c + tl.where(esc, 16 * _escape_bits(raw), 0)
    tl.store(part_ptr + pid, tl.reduce(c, 0, _add))


@triton.jit
def _encode_kernel(sym_ptr, idx_ptr, y_ptr, mean_ptr, scale_ptr, st_ptr, K, bound,
                   off_ptr, len_ptr, rs_ptr, cdf_ptr,
                   emit_ptr, word_ptr, esc_ptr, state_ptr, n, L, T,
                   FUSED: tl.constexpr, LOG2K: tl.constexpr, BLOCK: tl.constexpr):
    lane = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    in_lane = lane < L
    x = tl.full((BLOCK,), 65536, tl.int64)
    for step in range(T):
        t = T - 1 - step
        i = t * L + lane
        active = in_lane & (i < n)
        sym, idx = _symbols(i, active, sym_ptr, idx_ptr, y_ptr, mean_ptr, scale_ptr, st_ptr, K,
                            bound, FUSED, LOG2K)
        start, freq, esc, raw = _lookup(sym, idx, active, off_ptr, len_ptr, rs_ptr, cdf_ptr)
        emit = active & (x >= (freq << 16))
        tl.store(emit_ptr + i, emit.to(tl.int8), mask=active)
        tl.store(word_ptr + i, (x & 0xFFFF).to(tl.int32), mask=active)
        tl.store(esc_ptr + i, tl.where(esc, raw, -1), mask=active)
        x = tl.where(emit, x >> 16, x)
        q = x // freq
        x = tl.where(active, (q << 16) + (x - q * freq) + start, x)
    tl.store(state_ptr + lane, x, mask=in_lane)


@triton.jit
def _decode_kernel(data_ptr, n_words, escv_ptr, n_esc, idx_ptr, mean_ptr, scale_ptr, st_ptr, K,
                   bound, off_ptr, len_ptr, rs_ptr, cdf_ptr, state_ptr, out_ptr, status_ptr,
                   n, L, T, FUSED: tl.constexpr, LOG2K: tl.constexpr, NSEARCH: tl.constexpr,
                   HAS_ESC: tl.constexpr, BLOCK: tl.constexpr):
    lane = tl.arange(0, BLOCK)
    in_lane = lane < L
    x = tl.load(state_ptr + lane, mask=in_lane, other=65536)
    zero = tl.reduce(tl.full((BLOCK,), 0, tl.int64), 0, _add)
    read = zero  # words consumed
    overrun = zero  # reads past the last word (corrupt or truncated stream)
    used = zero  # escape values consumed
    bad = zero  # escape values missing or symbols outside int32
    for t in range(T):
        i = t * L + lane
        active = in_lane & (i < n)
        if FUSED:
            sc = tl.load(scale_ptr + i, mask=active, other=1.0)
            idx = _scale_index(sc, st_ptr, K, bound, LOG2K)
        else:
            idx = tl.load(idx_ptr + i, mask=active, other=0)
        off = tl.load(off_ptr + idx, mask=active, other=0).to(tl.int64)
        length = tl.load(len_ptr + idx, mask=active, other=3).to(tl.int64)
        rs = tl.load(rs_ptr + idx, mask=active, other=0).to(tl.int64)
        slot = x & 0xFFFF
        lo = tl.full((BLOCK,), 0, tl.int64)  # cdf[lo] <= slot < cdf[hi]
        hi = length - 1
        for _ in tl.static_range(NSEARCH):
            mid = (lo + hi) >> 1
            c = tl.load(cdf_ptr + rs + mid, mask=active, other=0)
            go = c <= slot
            lo = tl.where(go, mid, lo)
            hi = tl.where(go, hi, mid)
        start = tl.load(cdf_ptr + rs + lo, mask=active, other=0).to(tl.int64)
        freq = tl.load(cdf_ptr + rs + lo + 1, mask=active, other=1).to(tl.int64) - start
        x = tl.where(active, freq * (x >> 16) + slot - start, x)
        v = lo
        if HAS_ESC:
            esc = length - 2
            is_esc = active & (v == esc)
            e_pos = used + tl.associative_scan(is_esc.to(tl.int64), 0, _add) - 1
            ok = e_pos < n_esc
            raw = tl.load(escv_ptr + e_pos, mask=is_esc & ok, other=0)
            bad += tl.reduce((is_esc & (ok == 0)).to(tl.int64), 0, _add)
            used += tl.reduce(is_esc.to(tl.int64), 0, _add)
            v = tl.where(is_esc, tl.where((raw & 1) != 0, -((raw + 1) >> 1), (raw >> 1) + esc), v)
        sym = v + off
        bad += tl.reduce((active & ((sym < -2147483648) | (sym > 2147483647))).to(tl.int64), 0,
                         _add)
        if FUSED:
            mu = tl.load(mean_ptr + i, mask=active, other=0.0)
            tl.store(out_ptr + i, sym.to(tl.float32) + mu, mask=active)
        else:
            tl.store(out_ptr + i, sym.to(tl.int32), mask=active)
        need = active & (x < 65536)
        w_pos = read + tl.associative_scan(need.to(tl.int64), 0, _add) - 1
        ok = w_pos < n_words
        w = tl.load(data_ptr + w_pos, mask=need & ok, other=0).to(tl.int64)
        overrun += tl.reduce((need & (ok == 0)).to(tl.int64), 0, _add)
        x = tl.where(need, (x << 16) | w, x)
        read += tl.reduce(need.to(tl.int64), 0, _add)
    tl.store(state_ptr + lane, x, mask=in_lane)
    tl.store(status_ptr + 0, read)
    tl.store(status_ptr + 1, overrun)
    tl.store(status_ptr + 2, used)
    tl.store(status_ptr + 3, bad)
