"""s2vc's I-frame share search: a GOP is held, coded at each candidate share, and the best by
Y'CbCr PSNR within the budget is kept, chunks and encoder state; --fast, fixed rates and
one-frame GOPs stream at the config's share."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import synthetic_frames as moving_frames
from vidgen_codec import metrics
from vidgen_codec.codecs.base import RateTarget, Structure
from vidgen_codec.codecs.s2vc import S2vcCodec
from vidgen_codec.codecs.s2vc import share_search
from vidgen_codec.codecs.common.chunks import chunk_bytes
from vidgen_codec.frames import pad_to_multiple, to_tensor, to_uint8
from vidgen_codec.pictures.fit import BUDGET_SLACK, choose_within_budget


def _frames(n):
    return [pad_to_multiple(to_tensor(f), 64)[0] for f in moving_frames(64, 64, n)]


# av1 I-frames: the random intra model's I-frames span too few sizes to tell shares apart
def _structure(search=True, gop=6):
    return Structure(gop, backbone="av1", search=search)


def _new(codec, n, search=True, bpp=0.6, gop=6):
    return codec.new_encoder(64, 64, RateTarget(bpp=bpp), n, _structure(search, gop))


def _encode(codec, frames, st):
    per_frame, states = [], []
    for x in frames:
        out, st = codec.encode_frame(st, x)
        per_frame.append(out)
        states.append(st)
    out, st = codec.flush(st)
    return per_frame + [out], states


def _key(chunks):
    return [(c.chunk_type, c.payload.frame_index, c.payload.rate_code, c.payload.streams)
            for c in chunks]


def test_search_keeps_the_best_share_and_its_state():
    codec = S2vcCodec.random(seed=1)
    frames = _frames(12)
    per_frame, states = _encode(codec, frames, _new(codec, 12))
    # nothing comes out until a GOP is complete; then the whole GOP
    assert [len(c) for c in per_frame] == [0] * 5 + [6] + [0] * 5 + [6] + [0]
    u8 = [to_uint8(x)[0] for x in frames]
    start = _new(codec, 12)
    budget = share_search.open_gop(start.rate, 6).gop_budget
    cands = [share_search._code_share(codec, start, u8[:6], codec.cfg.i_weight * k)
             for k in share_search.SHARES]
    sizes = [sum(chunk_bytes(c.payload) for c in chunks) for chunks, _, _ in cands]
    assert len({chunk_bytes(chunks[0].payload) for chunks, _, _ in cands}) == 3  # I sizes
    fits = [i for i, b in enumerate(sizes) if b <= BUDGET_SLACK * budget]
    assert fits, "the test's budget should leave a candidate within it"
    best = max(fits, key=lambda i: (cands[i][2], -sizes[i]))
    assert _key(per_frame[5]) == _key(cands[best][0])
    # the encoder goes on from the chosen candidate's state, not another's
    after = states[5]
    chosen_end = cands[best][1]
    assert after.index == chosen_end.index == 6 and after.pending == [] and after.p_left == 0
    assert after.rate == chosen_end.rate and torch.equal(after.y_prev, chosen_end.y_prev)
    assert torch.equal(after.buffer, chosen_end.buffer)
    # and the second GOP is the search run from there
    second, _ = share_search.code_gop(codec, replace(chosen_end, pending=u8[6:]))
    assert _key(per_frame[11]) == _key(second)


def test_choice_within_budget():
    cands = [("a", 30.0, 100), ("b", 31.0, 105), ("c", 31.0, 101), ("d", 40.0, 200)]
    score, size = (lambda c: c[1]), (lambda c: c[2])
    assert choose_within_budget(cands, 100, score, size)[0] == "c"  # 101, 103 within 3 %
    assert choose_within_budget(cands, 80, score, size)[0] == "a"  # none fits: the smallest
    assert choose_within_budget(cands, None, score, size)[0] == "d"


def test_fast_streams_at_the_configured_share():
    codec = S2vcCodec.random(seed=1)
    frames = _frames(7)
    per_frame, _ = _encode(codec, frames, _new(codec, 7, search=False))
    assert [len(c) for c in per_frame] == [1] * 7 + [0]
    u8 = [to_uint8(x)[0] for x in frames]
    chunks, _, _ = share_search._code_share(codec, _new(codec, 7), u8, codec.cfg.i_weight)
    assert _key([c for out in per_frame for c in out]) == _key(chunks)


def test_fixed_rate_and_one_frame_gops_stream():
    codec = S2vcCodec.random(seed=1)
    st = codec.new_encoder(64, 64, RateTarget(q=1.0), 4, Structure(6))
    assert not st.search
    per_frame, _ = _encode(codec, _frames(4), st)
    assert [len(c) for c in per_frame] == [1, 1, 1, 1, 0]
    per_frame, _ = _encode(codec, _frames(3), _new(codec, 3, gop=1))  # every frame an I-frame
    assert [len(c) for c in per_frame] == [1, 1, 1, 0]
    assert not share_search.searchable(1, 64, 64)
    assert not share_search.searchable(2, 1 << 14, 1 << 14)  # more than HOLD_LIMIT bytes


def test_search_is_deterministic_and_flushes_a_short_stream():
    codec = S2vcCodec.random(seed=2)
    frames = _frames(4)
    runs = []
    for _ in range(2):  # the clip's length unknown (a pipe): the input ends inside a GOP
        st = _new(codec, None)
        for x in frames:
            out, st = codec.encode_frame(st, x)
            assert out == []
        out, st = codec.flush(st)
        runs.append(_key(out))
        assert len(out) == 4 and st.pending == [] and st.index == 4
    assert runs[0] == runs[1]


def test_psnr_yuv_sees_colour():
    rng = np.random.default_rng(0)
    a = rng.integers(40, 200, (2, 16, 16, 3), dtype=np.uint8)
    b = a.copy()
    b[..., 2] += 8  # mostly a Cb change
    c = a.copy()
    c[..., 1] += 3  # mostly a luma change
    assert metrics.psnr_yuv(a, a) == metrics.PSNR_CAP  # each plane capped
    assert metrics.psnr_y(a, b) > metrics.psnr_yuv(a, b)
    py = [metrics.psnr_y(a, x) for x in (b, c)]
    pyuv = [metrics.psnr_yuv(a, x) for x in (b, c)]
    assert pyuv[0] - py[0] < pyuv[1] - py[1]  # the Cb error weighs in
    with pytest.raises(ValueError):
        metrics.psnr_yuv([], [])
    with pytest.raises(ValueError):
        metrics.psnr_yuv(a, a[:1])


def test_psnr_yuv_over_many_frames_is_one_mean():
    """Computed a few frames at a time, it is the PSNR of the whole clip's squared errors,
    whatever the input type."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (19, 8, 12, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    d = a.astype(float) - b.astype(float)
    m = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0],
                  [112.0, -93.786, -18.214]]) / 255
    planes = d @ m.T
    p = [10 * np.log10(255 ** 2 / np.mean(planes[..., k] ** 2)) for k in range(3)]
    want = (6 * p[0] + p[1] + p[2]) / 8
    assert metrics.psnr_yuv(a, b) == pytest.approx(want, abs=1e-9)
    assert metrics.psnr_yuv(list(a), list(b)) == metrics.psnr_yuv(a, b)
    ta = to_tensor(a)
    assert metrics.psnr_yuv(ta, b) == pytest.approx(want, abs=1e-4)  # float32 in [0, 1]
    one = metrics.psnr_yuv(a[0], b[0])  # a single HxWx3 frame, and a 3xHxW tensor
    assert metrics.psnr_yuv(ta[0], b[0]) == pytest.approx(one, abs=1e-4)
