"""VGC_RANS on the CPU: conformance (round trips, goldens, the spec's worked example), edge cases,
corrupt input, efficiency against the ideal code length, and the table builders."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from vidgen_codec.entropy import CdfTable, VgcRansCpu, get_backend
from vidgen_codec.entropy import rans_cpu, rans_jit
from vidgen_codec.entropy import rans_format as fmt
from vidgen_codec.entropy.tables import gaussian_table, laplace_table, quantize_masses
from vidgen_codec.errors import FormatError

SPEC_TABLE = CdfTable(cdfs=[[0, 16384, 32768, 49152, 65535, 65536], [0, 4096, 61440, 65535, 65536]],
                      cdf_lengths=[6, 5], offsets=[-2, -1])
SCALES = np.exp(np.linspace(np.log(0.11), np.log(256.0), 64))  # compressai's scale table


def gauss_payload(n: int, seed: int = 0, scale_max: float = 8.0):
    """Symbols drawn from discretized Gaussians, each with its table index."""
    rng = np.random.default_rng(seed)
    table = gaussian_table(SCALES)
    idx = rng.integers(0, np.searchsorted(SCALES, scale_max), n)
    sym = np.rint(rng.standard_normal(n) * SCALES[idx]).astype(np.int32)
    return sym, idx.astype(np.int32), table


def ideal_bytes(sym, idx, table: CdfTable) -> float:
    """Sum of -log2 p over the symbols (p from the quantized table), in bytes."""
    coded = table.arrays.map_symbols(sym, idx)
    return float(-np.log2(coded.freq / 65536.0).sum() / 8)


# -- conformance ------------------------------------------------------------------------------
def test_spec_worked_example():
    """bitstream_spec.md section 16.6, byte for byte."""
    sym, idx = np.array([0, 1, -1, 0, 7, 0]), np.array([1, 0, 1, 1, 0, 1])
    data = VgcRansCpu(lanes=2).encode(sym, idx, SPEC_TABLE)
    assert data.hex(" ") == "03 01 16 ff 7f 23 00 05 e0 05 00 00 00"
    assert VgcRansCpu().decode(data, idx, SPEC_TABLE).tolist() == sym.tolist()
    assert VgcRansCpu().encode(sym, idx, SPEC_TABLE)[0] == 0x01  # the policy: L = 1, E = 1


@pytest.mark.parametrize("lanes", [None, 1, 2, 7, 31, 32, 33, 100, 4096])
def test_round_trip(lanes):
    sym, idx, table = gauss_payload(5000, seed=lanes or 0)
    sym[::53] = np.random.default_rng(1).integers(-2**31, 2**31 - 1, sym[::53].size)  # escapes
    data = VgcRansCpu(lanes=lanes).encode(sym, idx, table)
    assert np.array_equal(VgcRansCpu().decode(data, idx, table), sym)


def test_numpy_and_scalar_paths_write_the_same_bytes(monkeypatch):
    sym, idx, table = gauss_payload(3000, seed=3)
    sym[::41] = 999
    compiled = (VgcRansCpu(lanes=40).encode(sym, idx, table),
                VgcRansCpu(lanes=5).encode(sym, idx, table))  # Numba, when installed
    monkeypatch.setattr(rans_jit, "AVAILABLE", False)  # the numpy and Python fallbacks
    a = VgcRansCpu(lanes=40).encode(sym, idx, table)  # numpy lockstep
    b = VgcRansCpu(lanes=5).encode(sym, idx, table)  # scalar loop
    assert (a, b) == compiled
    monkeypatch.setattr(rans_cpu, "NUMPY_MIN_LANES", 1)
    assert VgcRansCpu(lanes=5).encode(sym, idx, table) == b
    assert np.array_equal(VgcRansCpu().decode(a, idx, table), sym)
    monkeypatch.setattr(rans_cpu, "NUMPY_MIN_LANES", 10**6)
    assert VgcRansCpu(lanes=40).encode(sym, idx, table) == a
    assert np.array_equal(VgcRansCpu().decode(a, idx, table), sym)


@pytest.mark.skipif(not rans_jit.AVAILABLE, reason="numba not installed")
@pytest.mark.parametrize("lanes", [1, 3, 64, 1000])
def test_compiled_and_fallback_decoders_agree(monkeypatch, lanes):
    sym, idx, table = gauss_payload(20000, seed=lanes)
    sym[::37] = -70000  # escapes
    data = VgcRansCpu(lanes=lanes).encode(sym, idx, table)
    got = VgcRansCpu().decode(data, idx, table)
    monkeypatch.setattr(rans_jit, "AVAILABLE", False)
    assert VgcRansCpu(lanes=lanes).encode(sym, idx, table) == data
    assert np.array_equal(VgcRansCpu().decode(data, idx, table), got)
    assert np.array_equal(got, sym)
    for cut in (data[:-2], data[:len(data) // 2]):  # truncated: the same error on both paths
        errors = []
        for available in (False, True):
            monkeypatch.setattr(rans_jit, "AVAILABLE", available)
            with pytest.raises(FormatError) as e:
                VgcRansCpu().decode(cut, idx, table)
            errors.append(str(e.value))
        assert errors[0] == errors[1]


GOLDEN = {  # (lanes, length, sha256[:16]) of golden_payload(); regenerate only on a format change
    None: (5483, "fe265581ba6f04a4"),
    64: (5657, "432325b254fc2e94"),
}


def golden_payload():
    sym = ((np.arange(4000) * 7919) % 23 - 11).astype(np.int32)
    idx = (np.arange(4000) % 64).astype(np.int32)
    sym[::97] = 5000  # escapes
    return sym, idx, gaussian_table(SCALES)


@pytest.mark.parametrize("lanes", sorted(GOLDEN, key=str))
def test_golden_bytes(lanes):
    sym, idx, table = golden_payload()
    data = VgcRansCpu(lanes=lanes).encode(sym, idx, table)
    assert (len(data), hashlib.sha256(data).hexdigest()[:16]) == GOLDEN[lanes]


def test_get_backend():
    assert isinstance(get_backend(2), VgcRansCpu)
    with pytest.raises(FormatError):
        get_backend(3)


# -- edge cases -------------------------------------------------------------------------------
def test_empty_and_single_symbol():
    be = VgcRansCpu()
    none = np.zeros(0, np.int32)
    assert be.encode(none, none, SPEC_TABLE) == b""
    assert be.decode(b"", none, SPEC_TABLE).dtype == np.int32
    with pytest.raises(FormatError):
        be.decode(b"\x00", none, SPEC_TABLE)
    with pytest.raises(FormatError):
        be.decode(b"", np.zeros(1, np.int32), SPEC_TABLE)
    one = be.encode(np.array([1]), np.array([0]), SPEC_TABLE)
    assert len(one) == 1 + 4  # head + one state: the fixed overhead of a payload
    assert be.decode(one, np.array([0]), SPEC_TABLE).tolist() == [1]


def test_all_zeros_is_tiny():
    table = gaussian_table([0.11])
    n = 100_000
    data = VgcRansCpu().encode(np.zeros(n, np.int32), np.zeros(n, np.int32), table)
    assert len(data) <= 5 + int(ideal_bytes(np.zeros(n), np.zeros(n), table)) + 2
    assert not VgcRansCpu().decode(data, np.zeros(n, np.int32), table).any()


def test_huge_scales_and_out_of_range_symbols():
    table = gaussian_table([3000.0, 0.2])
    sym = np.array([0, 14999, -15000, 2**31 - 1, -2**31, 20000, 1, -1, 0], np.int32)
    idx = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1], np.int32)
    data = VgcRansCpu().encode(sym, idx, table)
    assert np.array_equal(VgcRansCpu().decode(data, idx, table), sym)
    only_escapes = np.array([50, -50, 2**31 - 1], np.int32)
    one = np.ones(3, np.int32)
    data = VgcRansCpu().encode(only_escapes, one, table)
    assert np.array_equal(VgcRansCpu().decode(data, one, table), only_escapes)


def test_bad_inputs():
    be = VgcRansCpu()
    with pytest.raises(ValueError):
        be.encode(np.zeros(3), np.zeros(2), SPEC_TABLE)
    with pytest.raises(ValueError):
        be.encode(np.zeros(3), np.full(3, 2), SPEC_TABLE)  # no table 2
    with pytest.raises(ValueError):
        be.encode(np.array([2**31]), np.zeros(1), SPEC_TABLE)
    for bad in ([[0, 100, 100, 65536]], [[0, 100, 65535]], [[1, 100, 65536]]):
        with pytest.raises(ValueError):
            be.encode(np.zeros(1), np.zeros(1), CdfTable(bad, [len(bad[0])], [0]))


def test_corrupt_payloads_fail_cleanly():
    """Truncations, bit flips and bad headers: FormatError, or an output of the right length."""
    sym, idx, table = gauss_payload(4000, seed=7)
    sym[::101] = -777
    be = VgcRansCpu()
    data = be.encode(sym, idx, table)
    for cut in range(len(data)):
        with pytest.raises(FormatError):
            be.decode(data[:cut], idx, table)
    with pytest.raises(FormatError):
        be.decode(data + b"\x00\x00", idx, table)
    rng = np.random.default_rng(2)
    states_at = len(data) - 2 * fmt.parse(data, sym.size).words.size - 4 * fmt.parse(
        data, sym.size).lanes
    detected = flips = 0
    for _ in range(300):
        at = int(rng.integers(0, len(data)))
        bad = bytearray(data)
        bad[at] ^= 1 << int(rng.integers(0, 8))
        try:
            out = be.decode(bytes(bad), idx, table)
        except FormatError:
            detected += at >= states_at
        else:  # a flipped escape code can decode to other values: still the right count
            assert out.shape == sym.shape
        flips += at >= states_at
    assert detected >= 0.98 * flips  # states and words: the end check catches ~all
    for payload in (b"\xfe\x01", bytes([(5000 - 1) << 1 & 0x7F | 0x80, (5000 - 1) >> 6]),
                    b"\x01\x00" + bytes(8), b"\x00\xff\xff\x00\x00", b"\x00" + bytes(4) + b"\x00"):
        with pytest.raises(FormatError):
            be.decode(payload, idx[:3], table)


def test_escape_section_codes():
    raw = np.array([0, 1, 2, 3, 10, 2**33])
    section = fmt.encode_escapes(raw)
    assert section[:2] == bytes([0b10100110, 0b01000001])  # 1 010 011 0|0100 0001|011 ...
    assert fmt.decode_escapes(section).tolist() == raw.tolist()
    for bad in (b"\x00", b"\x80\x00", b"\x00\x01"):  # only padding; 15 bits of it; past the end
        with pytest.raises(FormatError):
            fmt.decode_escapes(bad)


# -- efficiency -------------------------------------------------------------------------------
@pytest.mark.parametrize("n,scale_max", [(10_000, 8.0), (200_000, 8.0), (200_000, 1.0)])
def test_within_one_percent_of_ideal(n, scale_max):
    sym, idx, table = gauss_payload(n, seed=n, scale_max=scale_max)
    data = VgcRansCpu().encode(sym, idx, table)
    ideal = ideal_bytes(sym, idx, table)
    assert len(data) <= 1.01 * ideal, (len(data), ideal)


def test_lane_policy():
    assert fmt.choose_lanes(0, 0) == 0
    assert fmt.choose_lanes(1, 10**9) == 1
    assert fmt.choose_lanes(10**6, 16 * 4096 * 10) == 10
    assert fmt.choose_lanes(10**7, 10**12) == fmt.MAX_LANES
    sym, idx, table = gauss_payload(100_000, seed=5)
    data = VgcRansCpu().encode(sym, idx, table)
    lanes = fmt.parse(data, sym.size).lanes
    assert lanes > 1 and 4 * lanes <= 0.008 * len(data)  # states: under 0.8 % of the payload


# -- tables -----------------------------------------------------------------------------------
def test_tables_are_valid_and_fixed():
    """Built with +-*/ only: these digests must come out the same on every machine."""
    g = gaussian_table(SCALES)
    lap = laplace_table([0.05, 0.3, 1.0, 4.0, 31.0])
    for t in (g, lap):
        t.arrays  # validates: strictly increasing, 0 .. 65536
    digest = hashlib.sha256(np.concatenate(
        [np.asarray(c) for c in g.cdfs + lap.cdfs] + [np.asarray(g.offsets + lap.offsets)]
    ).astype("<i8").tobytes()).hexdigest()[:16]
    assert digest == "05338833689813e5"


def test_tables_match_the_distributions():
    from scipy.stats import laplace, norm

    for s in (0.11, 0.7, 5.0, 200.0):
        t = gaussian_table([s])
        v = np.arange(t.cdf_lengths[0] - 2) + t.offsets[0]
        p = norm.cdf(v + 0.5, scale=s) - norm.cdf(v - 0.5, scale=s)
        f = np.diff(t.cdfs[0])[:-1] / 65536.0
        assert -(p * np.log2(f)).sum() <= -(p * np.log2(np.maximum(p, 1e-300))).sum() + 0.02
    t = laplace_table([2.0])
    v = np.arange(t.cdf_lengths[0] - 2) + t.offsets[0]
    p = laplace.cdf(v + 0.5, scale=2.0) - laplace.cdf(v - 0.5, scale=2.0)
    assert np.abs(np.diff(t.cdfs[0])[:-1] / 65536.0 - p).max() < 2e-5


def test_quantize_masses():
    f = quantize_masses(np.array([0.5, 0.25, 0.25 - 1e-9, 1e-9]))
    assert f.sum() == 65536 and f.min() >= 1
    f = quantize_masses(np.full(5000, 1 / 5000))
    assert f.sum() == 65536 and f.min() >= 1 and f.max() - f.min() <= 1
    with pytest.raises(ValueError):
        quantize_masses(np.full(70000, 1 / 70000))


def test_costs16_is_map_symbols_cost_under_each_table(monkeypatch):
    """The motion coder's table choice (`costs16`, all tables at once) prices symbols exactly
    as `map_symbols` does one table at a time: in range, escaped on both sides, none; in one
    step or in several (COST_CHUNK)."""
    from vidgen_codec.entropy import cdf_arrays

    arrays = laplace_table([0.5, 2.0, 9.0]).arrays
    rng = np.random.default_rng(3)
    for chunk in (cdf_arrays.COST_CHUNK, 7):
        monkeypatch.setattr(cdf_arrays, "COST_CHUNK", chunk)
        for scale in (0, 1, 4, 40, 3000):
            for n in (0, 1, 57):
                s = rng.integers(-scale, scale + 1, n)
                want = [arrays.map_symbols(s, np.full(n, k)).cost16
                        for k in range(arrays.n_tables)]
                assert arrays.costs16(s).tolist() == want
