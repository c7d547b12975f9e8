"""GPU backend of VGC_RANS: fused Triton kernels (`rans_kernels`), bytes identical to VgcRansCpu.

    encode:  symbols/indexes (or y, mean, scale: fused quantization) on the device
             -> _cost_kernel -> size estimate (one int64 per block, summed exactly)
             -> L = choose_lanes(n, estimate)              (the same integer rule as the CPU)
             -> _encode_kernel (one thread per lane)       -> emitted flags, words, escapes, states
             -> words = word[emitted] (row-major = read order), one copy to the host -> pack
    decode:  parse on the host (header, escape values, states)
             -> _decode_kernel (one program, all lanes in lockstep) -> symbols, or y_hat = symbol
                + mean (fused dequantization); status counters -> the same checks as the CPU

The host touches each payload a fixed number of times (size estimate, lane count, final copy),
never per symbol. On a machine without a GPU the kernels run in Triton's interpreter
(TRITON_INTERPRET=1, set before this module is imported) on CPU tensors: slow, for tests.
"""

from __future__ import annotations

import numpy as np
from ..torch_env import torch

from ..bitstream.ids import EntropyCoderId
from ..errors import FormatError
from . import rans_format as fmt
from .backend import CdfTable
from .cdf_arrays import cost16_table

COST_BLOCK = 1024  # symbols per program of the size estimate
ENCODE_BLOCK = 64  # lanes per program of the encoder
MAX_FUSED_ABS = 2.0 ** 30  # |y - mean| bound of the fused quantizer (symbols fit int32)


class VgcRansTriton:
    """VGC_RANS with Triton kernels on `device` (cuda; cpu only under TRITON_INTERPRET=1)."""

    coder_id = EntropyCoderId.VGC_RANS
    name = "vgc-rans-triton"

    def __init__(self, device: str = "cuda", lanes: int | None = None):
        from . import rans_kernels  # imported here: TRITON_INTERPRET is read at import

        self.k = rans_kernels
        self.device = torch.device(device)
        self.lanes = lanes

    # -- EntropyBackend protocol ----------------------------------------------------------
    def encode(self, symbols: np.ndarray, indexes: np.ndarray, table: CdfTable) -> bytes:
        sym, idx = _host_inputs(symbols, indexes, table)
        if sym.size == 0:
            return b""
        dev = self.device
        return self._encode(table, sym.size, False, sym=torch.from_numpy(sym).to(dev),
                            idx=torch.from_numpy(idx).to(dev))

    def decode(self, data: bytes, indexes: np.ndarray, table: CdfTable) -> np.ndarray:
        idx = np.asarray(indexes).reshape(-1).astype(np.int64)
        arrays = table.arrays
        if idx.size and (idx.min() < 0 or idx.max() >= arrays.n_tables):
            raise ValueError(f"table index outside 0..{arrays.n_tables - 1}")
        idx_t = torch.from_numpy(idx.astype(np.int32)).to(self.device)
        out = self._decode(data, table, idx.size, False, idx=idx_t)
        return out.cpu().numpy()

    # -- tensors where they are (no host copy of the symbols) ------------------------------
    def encode_tensor(self, symbols: torch.Tensor, indexes: torch.Tensor,
                      table: CdfTable) -> bytes:
        """`encode` of tensors on the device: checked there, coded there."""
        sym = symbols.reshape(-1).to(self.device, torch.int64)
        idx = indexes.reshape(-1).to(self.device, torch.int64)
        if sym.numel() != idx.numel():
            raise ValueError(f"{sym.numel()} symbols but {idx.numel()} table indexes")
        if sym.numel() == 0:
            return b""
        _check_indexes(idx, table)
        if bool((sym < -(1 << 31)).any() | (sym >= (1 << 31)).any()):
            raise ValueError("symbols must fit in int32")
        return self._encode(table, sym.numel(), False, sym=sym.to(torch.int32).contiguous(),
                            idx=idx.to(torch.int32).contiguous())

    def decode_tensor(self, data: bytes, indexes: torch.Tensor,
                      table: CdfTable) -> torch.Tensor:
        """`decode` to an int32 tensor on the device, from indexes on the device."""
        idx = indexes.reshape(-1).to(self.device, torch.int64)
        if idx.numel():
            _check_indexes(idx, table)
        return self._decode(data, table, idx.numel(), False,
                            idx=idx.to(torch.int32).contiguous())

    # -- fused entry points ---------------------------------------------------------------
    def encode_gaussian(self, y, mean, scale, table: CdfTable, scale_table,
                        scale_bound: float) -> bytes:
        """Quantize + index + encode in one pass (see `VgcRansCpu.encode_gaussian`)."""
        y, mean, scale = (self._f32(a) for a in (y, mean, scale))
        if y.numel() == 0:
            return b""
        d = y - mean
        if not bool(torch.isfinite(d).all() & (d.abs() < MAX_FUSED_ABS).all()
                    & torch.isfinite(scale).all()):
            raise ValueError("y - mean must be finite and below 2^30 in magnitude")
        st = self._f32(scale_table)
        return self._encode(table, y.numel(), True, y=y, mean=mean, scale=scale, st=st,
                            bound=float(scale_bound))

    def decode_gaussian(self, data: bytes, mean, scale, table: CdfTable, scale_table,
                        scale_bound: float) -> torch.Tensor:
        """Decode + dequantize: y_hat = symbol + mean, float32 on the device, mean's shape."""
        shape = torch.as_tensor(mean).shape
        mean, scale = self._f32(mean), self._f32(scale)
        out = self._decode(data, table, mean.numel(), True, mean=mean, scale=scale,
                           st=self._f32(scale_table), bound=float(scale_bound))
        return out.view(shape)

    # -- host orchestration ---------------------------------------------------------------
    def _encode(self, table: CdfTable, n: int, fused: bool, *, sym=None, idx=None, y=None,
                mean=None, scale=None, st=None, bound: float = 0.0) -> bytes:
        k, dev = self.k, self.device
        tab = _device_tables(table, dev)
        args = _kernel_inputs(dev, sym, idx, y, mean, scale, st)
        common = dict(FUSED=fused, LOG2K=_log2k(st))
        parts = torch.empty(-(-n // COST_BLOCK), dtype=torch.int64, device=dev)
        k._cost_kernel[(parts.numel(),)](*args, bound, *tab["lookup"], tab["cost"], parts, n,
                                         BLOCK=COST_BLOCK, **common)
        lanes = (min(self.lanes, n, fmt.MAX_LANES) if self.lanes
                 else fmt.choose_lanes(n, int(parts.sum())))
        steps = -(-n // lanes)
        emit = torch.empty(n, dtype=torch.int8, device=dev)
        word = torch.empty(n, dtype=torch.int32, device=dev)
        escr = torch.empty(n, dtype=torch.int64, device=dev)
        states = torch.empty(lanes, dtype=torch.int64, device=dev)
        k._encode_kernel[(-(-lanes // ENCODE_BLOCK),)](
            *args, bound, *tab["lookup"], emit, word, escr, states, n, lanes, steps,
            BLOCK=ENCODE_BLOCK, **common)
        words = word[emit.bool()].cpu().numpy()
        escapes = escr[escr >= 0].cpu().numpy()
        return fmt.pack(lanes, fmt.encode_escapes(escapes), states.cpu().numpy(), words)

    def _decode(self, data: bytes, table: CdfTable, n: int, fused: bool, *, idx=None, mean=None,
                scale=None, st=None, bound: float = 0.0) -> torch.Tensor:
        k, dev = self.k, self.device
        out_dtype = torch.float32 if fused else torch.int32
        if n == 0:
            if len(data):
                raise FormatError(f"{len(data)} bytes of entropy-coded data for zero symbols")
            return torch.zeros(0, dtype=out_dtype, device=dev)
        p = fmt.parse(data, n)
        tab = _device_tables(table, dev)
        lanes = p.lanes
        block = max(16, 1 << (lanes - 1).bit_length())
        words = torch.from_numpy(p.words.astype(np.int32)).to(dev)
        escv = torch.from_numpy(np.append(p.escapes, 0).astype(np.int64)).to(dev)
        states = torch.from_numpy(p.states.copy()).to(dev)
        out = torch.empty(n, dtype=out_dtype, device=dev)
        status = torch.zeros(4, dtype=torch.int64, device=dev)
        _, idx_a, _, mean_a, scale_a, st_a, n_st = _kernel_inputs(dev, None, idx, None, mean,
                                                                   scale, st)
        k._decode_kernel[(1,)](
            words, p.words.size, escv, p.escapes.size, idx_a, mean_a, scale_a, st_a, n_st,
            bound, *tab["lookup"], states, out, status, n, lanes,
            -(-n // lanes), FUSED=fused, LOG2K=_log2k(st), NSEARCH=tab["nsearch"],
            HAS_ESC=p.escapes.size > 0, BLOCK=block, num_warps=min(16, max(1, block // 128)))
        read, overrun, used, bad = status.cpu().tolist()
        if overrun:
            raise FormatError("rANS stream truncated: the decoder ran out of words")
        if bad and used <= p.escapes.size:
            raise FormatError("escaped symbol outside the int32 range (corrupt stream)")
        fmt.check_end(states.cpu().numpy(), read, p.words.size, p.escapes.size, used)
        return out

    def _f32(self, a) -> torch.Tensor:
        a = torch.as_tensor(a).to(device=self.device, dtype=torch.float32)
        return a.reshape(-1).contiguous()


def _host_inputs(symbols, indexes, table: CdfTable) -> tuple[np.ndarray, np.ndarray]:
    """Flat int32 symbols and indexes, checked like the CPU backend checks them."""
    sym = np.asarray(symbols).reshape(-1)
    idx = np.asarray(indexes).reshape(-1).astype(np.int64)
    if sym.shape != idx.shape:
        raise ValueError(f"{sym.size} symbols but {idx.size} table indexes")
    arrays = table.arrays
    if idx.size and (idx.min() < 0 or idx.max() >= arrays.n_tables):
        raise ValueError(f"table index outside 0..{arrays.n_tables - 1}")
    s64 = sym.astype(np.int64)
    if s64.size and (s64.min() < -(1 << 31) or s64.max() >= (1 << 31)):
        raise ValueError("symbols must fit in int32")
    return s64.astype(np.int32), idx.astype(np.int32)


def _check_indexes(idx: torch.Tensor, table: CdfTable) -> None:
    n = table.arrays.n_tables
    if bool((idx < 0).any() | (idx >= n).any()):
        raise ValueError(f"table index outside 0..{n - 1}")


def _kernel_inputs(dev, sym, idx, y, mean, scale, st) -> tuple:
    """(sym, idx, y, mean, scale, scale_table, K): the kernels' data arguments, unused ones
    replaced by a 1-element dummy."""
    dummy_i = torch.zeros(1, dtype=torch.int32, device=dev)
    dummy_f = torch.zeros(1, dtype=torch.float32, device=dev)
    pick = lambda a, d: a if a is not None else d  # noqa: E731
    return (pick(sym, dummy_i), pick(idx, dummy_i), pick(y, dummy_f), pick(mean, dummy_f),
            pick(scale, dummy_f), pick(st, dummy_f), st.numel() if st is not None else 1)


def _log2k(st) -> int:
    return max(1, int(st.numel()).bit_length()) if st is not None else 1


def _device_tables(table: CdfTable, dev: torch.device) -> dict:
    """The table arrays on `dev` (int32), cached on the table's CdfArrays."""
    arrays = table.arrays
    cache = arrays.__dict__.setdefault("_device", {})
    key = str(dev)
    if key not in cache:
        def put(a):
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int32)).to(dev)

        cache[key] = {
            "lookup": (put(arrays.offsets), put(arrays.lengths), put(arrays.row_start),
                       put(arrays.cdf)),
            "cost": put(cost16_table()),
            "nsearch": max(1, int(arrays.lengths.max() - 2).bit_length()),
        }
    return cache[key]
