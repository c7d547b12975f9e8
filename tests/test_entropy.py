"""COMPRESSAI_RANS (coder id 1), kept to read files written before VGC_RANS: round trips,
escapes, golden bytes, corrupt input, and legacy intra streams. VGC_RANS: tests/test_rans*.py."""

import hashlib

import numpy as np
import pytest
import torch

from vidgen_codec.codecs.intra import IntraCodec
from vidgen_codec.entropy import CdfTable, CompressaiRans, VgcRansCpu, get_backend
from vidgen_codec.errors import FormatError


def _table():
    # two tables: uniform over 4 values (offset -2) and a peaked one over 3 (offset -1)
    return CdfTable(cdfs=[[0, 16384, 32768, 49152, 65535, 65536], [0, 4096, 61440, 65535, 65536]],
                    cdf_lengths=[6, 5], offsets=[-2, -1])


def test_round_trip_with_escapes():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 2, 5000).astype(np.int32)
    sym = rng.integers(-3, 3, 5000).astype(np.int32)
    sym[::97] = rng.integers(-5000, 5000, sym[::97].size)  # out of range -> escape coded
    be = CompressaiRans()
    data = be.encode(sym, idx, _table())
    assert np.array_equal(be.decode(data, idx, _table()), sym)


def test_empty_and_single():
    be = CompressaiRans()
    assert be.encode(np.zeros(0, np.int32), np.zeros(0, np.int32), _table()) == b""
    assert be.decode(b"", np.zeros(0, np.int32), _table()).size == 0
    d = be.encode(np.array([1], np.int32), np.array([1], np.int32), _table())
    assert be.decode(d, np.array([1], np.int32), _table()).tolist() == [1]


def test_golden_bytes():
    """Fixed symbols -> fixed bytes. Regenerate only on purpose (a format change)."""
    sym = (np.arange(1000) % 5 - 2).astype(np.int32)
    idx = (np.arange(1000) % 2).astype(np.int32)
    data = CompressaiRans().encode(sym, idx, _table())
    assert len(data) == 1008
    assert hashlib.sha256(data).hexdigest()[:16] == "e733fd54fda5ba80"


def test_corrupt_stream_never_crashes():
    rng = np.random.default_rng(1)
    idx = np.zeros(2000, np.int32)
    be = CompressaiRans()
    data = be.encode(rng.integers(-2, 2, 2000).astype(np.int32), idx, _table())
    for trial in range(50):
        bad = bytearray(data)
        bad[rng.integers(0, len(bad))] ^= 0xFF
        out = be.decode(bytes(bad[: rng.integers(4, len(bad) + 1)]), idx, _table())
        assert out.shape == (2000,)  # wrong values are fine; no crash, right length
    with pytest.raises(FormatError):
        be.decode(b"\x01", idx, _table())


def test_unknown_coder_id():
    with pytest.raises(FormatError):
        get_backend(99)


def test_backends_by_coder_id():
    assert isinstance(get_backend(1), CompressaiRans)
    assert isinstance(get_backend(2), VgcRansCpu)
    assert isinstance(IntraCodec.random(seed=0).backend, VgcRansCpu)  # the default


def test_legacy_intra_streams_still_decode():
    """Streams written with COMPRESSAI_RANS chose their tables with h_s in float64: a codec
    given that backend (as the API does from the file header) decodes them as before."""
    old = IntraCodec.random(seed=2, backend=CompressaiRans())
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        streams = old.code_latent(old.analyze(x), 1.0)
        ref = old.decode_streams(streams, 1.0, 64, 64)
        out = IntraCodec.random(seed=2, backend=get_backend(1)).decode_streams(streams, 1.0, 64, 64)
    assert torch.equal(out, ref)
