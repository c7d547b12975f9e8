"""s2vc's I-frame share search: a GOP is held, coded at each candidate share, and the best by
Y'CbCr PSNR within the budget is kept; --fast streams at the config's share."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import synthetic_frames as moving_frames
from vidgen_codec import metrics
from vidgen_codec.codecs.base import RateTarget, Structure
from vidgen_codec.codecs.s2vc import S2vcCodec
from vidgen_codec.codecs.s2vc import share_search
from vidgen_codec.codecs.stem.encoder import chunk_bytes
from vidgen_codec.frames import pad_to_multiple, to_tensor


def _frames(n):
    return [pad_to_multiple(to_tensor(f), 64)[0] for f in moving_frames(64, 64, n)]


# av1 I-frames: the random intra model's I-frames span too few sizes to tell shares apart
def _structure(search=True, gop=6):
    return Structure(gop, backbone="av1", search=search)


def _encode(codec, frames, search, bpp=0.6, gop=6):
    st = codec.new_encoder(64, 64, RateTarget(bpp=bpp), len(frames), _structure(search, gop))
    per_frame = []
    for x in frames:
        out, st = codec.encode_frame(st, x)
        per_frame.append(out)
    out, st = codec.flush(st)
    per_frame.append(out)
    return per_frame, st


def _bytes(chunks):
    return [(c.chunk_type, c.payload.frame_index, c.payload.rate_code, c.payload.streams)
            for c in chunks]


def test_search_holds_each_gop_and_keeps_the_best_share():
    codec = S2vcCodec.random(seed=1)
    frames = _frames(12)
    per_frame, _ = _encode(codec, frames, search=True)
    # nothing comes out until a GOP is complete; then the whole GOP
    assert [len(c) for c in per_frame] == [0] * 5 + [6] + [0] * 5 + [6] + [0]
    gop = per_frame[5]
    # the first GOP is one of the candidates, coded from the encoder's first state
    start = codec.new_encoder(64, 64, RateTarget(bpp=0.6), 12, _structure())
    u8 = [(x.clamp(0, 1) * 255).round().to(torch.uint8) for x in frames[:6]]
    originals = [f[0].permute(1, 2, 0).numpy() for f in u8]
    budget = share_search.open_gop(start.rate, 6).gop_budget
    cands = {}
    for k in share_search.SHARES:
        chunks, _, decoded = share_search._code_share(codec, start, u8, codec.cfg.i_weight * k)
        cands[k] = (chunks, metrics.psnr_yuv(decoded, originals),
                    sum(chunk_bytes(c.payload) for c in chunks))
    chosen = [k for k, c in cands.items() if _bytes(c[0]) == _bytes(gop)]
    assert len(chosen) >= 1
    fits = [c for c in cands.values() if c[2] <= share_search.BUDGET_SLACK * budget]
    assert cands[chosen[0]][2] <= share_search.BUDGET_SLACK * budget
    assert cands[chosen[0]][1] == max(c[1] for c in fits)
    # the shares differ in what they spend on the I-frame
    i_sizes = {chunk_bytes(c[0][0].payload) for c in cands.values()}
    assert len(i_sizes) > 1


def test_fast_streams_at_the_configured_share():
    codec = S2vcCodec.random(seed=1)
    frames = _frames(7)
    per_frame, _ = _encode(codec, frames, search=False)
    assert [len(c) for c in per_frame] == [1] * 7 + [0]
    u8 = [(x.clamp(0, 1) * 255).round().to(torch.uint8) for x in frames]
    start = codec.new_encoder(64, 64, RateTarget(bpp=0.6), 7, _structure())
    chunks, _, _ = share_search._code_share(codec, start, u8, codec.cfg.i_weight)
    assert _bytes([c for out in per_frame for c in out]) == _bytes(chunks)


def test_search_is_deterministic_and_flushes_a_short_stream():
    codec = S2vcCodec.random(seed=2)
    frames = _frames(4)
    # the clip's length unknown (a pipe): the GOP is cut short by the end of the input
    runs = []
    for _ in range(2):
        st = codec.new_encoder(64, 64, RateTarget(bpp=0.6), None, _structure())
        out = []
        for x in frames:
            o, st = codec.encode_frame(st, x)
            assert o == []
        o, st = codec.flush(st)
        runs.append(_bytes(o))
        assert len(o) == 4 and st.pending == []
    assert runs[0] == runs[1]


def test_fixed_rate_streams():
    codec = S2vcCodec.random(seed=1)
    st = codec.new_encoder(64, 64, RateTarget(q=1.0), 4, Structure(6))
    assert not st.search


def test_psnr_yuv_sees_colour():
    rng = np.random.default_rng(0)
    a = rng.integers(40, 200, (2, 16, 16, 3), dtype=np.uint8)
    b = a.copy()
    b[..., 2] += 8  # mostly a Cb change
    c = a.copy()
    c[..., 1] += 3  # mostly a luma change of about the same luma error
    assert metrics.psnr_yuv(a, a) == float("inf")
    assert metrics.psnr_y(a, b) > metrics.psnr_yuv(a, b)
    py = [metrics.psnr_y(a, x) for x in (b, c)]
    pyuv = [metrics.psnr_yuv(a, x) for x in (b, c)]
    assert pyuv[0] - py[0] < pyuv[1] - py[1]  # the Cb error weighs in


def test_psnr_yuv_over_many_frames_is_one_mean():
    """Computed a few frames at a time, it is the PSNR of the whole clip's squared errors."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (19, 8, 12, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    r, g, bl = (a.astype(float)[..., i] for i in range(3))
    r2, g2, b2 = (b.astype(float)[..., i] for i in range(3))
    d = np.stack([r - r2, g - g2, bl - b2], -1)
    m = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0],
                  [112.0, -93.786, -18.214]]) / 255
    planes = d @ m.T
    p = [10 * np.log10(255 ** 2 / np.mean(planes[..., k] ** 2)) for k in range(3)]
    assert metrics.psnr_yuv(a, b) == pytest.approx((6 * p[0] + p[1] + p[2]) / 8, abs=1e-9)
    assert metrics.psnr_yuv(list(a), list(b)) == metrics.psnr_yuv(a, b)
