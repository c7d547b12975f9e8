"""Rate control: bisection on real sizes, running budget, and the shipped intra model's accuracy."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from conftest import write_clip
from vidgen_codec import api
from vidgen_codec.tools.sample_clip import synthetic_frames
from vidgen_codec.codecs.common.chunks import NEAR_CHUNK, fit_chunk
from vidgen_codec.ratecontrol import frame_budget, init_rate, search_q, update_rate
from vidgen_codec.weights import repo_weights_dir


def test_search_q_picks_largest_fitting_rate():
    size = lambda q: int(100 * math.exp(q))  # noqa: E731  monotone, like a real codec
    for guess in (None, -1.0, 2.3, 4.9):
        q, s = search_q(size, budget=1000, lo=-1.5, hi=5.0, guess=guess)
        assert s <= 1000 and size(q + 0.011) > 1000, guess
    for guess in (None, 0.0):
        assert search_q(size, budget=1, lo=-1.5, hi=5.0, guess=guess)[0] == -1.5  # lowest
        assert search_q(size, budget=1e9, lo=-1.5, hi=5.0, guess=guess)[0] == 5.0  # highest


class _Chunk:
    """A stand-in payload: `fit_chunk` measures it with `chunk_bytes` (pack() + framing)."""

    def __init__(self, n: int):
        self.n = n

    def pack(self) -> bytes:
        return bytes(self.n)


def _wobbly(scale: float, slope: float):
    """Chunk sizes that grow as exp(slope q), wobbling by 2 % from one q to the next, as the
    learned coders' do."""
    return lambda q: _Chunk(int(scale * math.exp(slope * q) * (1 + 0.02 * math.sin(40 * q))))


@pytest.mark.parametrize("guess", [None, -1.0, 6.5])
@pytest.mark.parametrize("budget", [500, 2000, 9000])
def test_fit_chunk_lands_under_the_budget_in_a_few_codings(guess, budget):
    """Issue 31, part 1: from the previous frame's q (or none), a few codings land within
    NEAR_CHUNK under the chunk budget, with a size curve steeper than the model's."""
    from vidgen_codec.codecs.common.chunks import chunk_bytes

    tried = []
    sizes = _wobbly(600, 0.4)

    def payload(q):
        tried.append(q)
        return sizes(q)

    q, pl = fit_chunk(payload, budget, 6, guess)
    got = chunk_bytes(pl)
    assert (1 - NEAR_CHUNK) * budget <= got <= budget, (tried, got)
    assert len(tried) <= 5, tried


def test_fit_chunk_never_ends_far_under_a_reachable_budget():
    """Where the search from the guess does not land (sizes that wobble keep the secant's
    codings just over), the bracket its codings give is halved as the bisection did: every
    budget between the ends of the range ends within 10 %, never over."""
    from vidgen_codec.codecs.common.chunks import chunk_bytes

    for curve in (_wobbly(600, 0.4), _wobbly(1000, 0.3)):
        for budget in range(int(1.1 * chunk_bytes(curve(-1.5))), chunk_bytes(curve(7.0)), 97):
            for guess in (None, -1.0, 2.0, 6.5):
                got = chunk_bytes(fit_chunk(curve, budget, 6, guess)[1])
                assert 0.9 * budget <= got <= budget, (budget, guess, got)


def test_fit_chunk_goes_on_down_when_every_coding_was_over():
    """A flat size curve the slope model overshoots: the codings from the guess are over, and
    the search halves its bracket down to the boundary."""
    from vidgen_codec.codecs.common.chunks import SEARCH_RESOLUTION, chunk_bytes

    curve = lambda q: _Chunk(int(1000 * math.exp(0.05 * q)))  # noqa: E731
    q, pl = fit_chunk(curve, 1000, 6, 3.0)
    boundary = max(k / 1000 for k in range(-1500, 7001) if chunk_bytes(curve(k / 1000)) <= 1000)
    assert chunk_bytes(pl) <= 1000 and q >= boundary - SEARCH_RESOLUTION - 1e-9
    q, pl = fit_chunk(lambda q: _Chunk(5000), 1000, 6, 3.0)  # nothing fits: the lowest q
    assert q == pytest.approx(-1.5)


def test_running_budget_repays_overshoot():
    st = init_rate(0.1, 640, 480, 100)
    b0 = frame_budget(st)
    st = update_rate(st, int(b0 * 1.5), 1.0)  # first frame overshot by 50 %
    assert frame_budget(st) < b0
    st = update_rate(st, int(frame_budget(st)), 1.0)
    assert abs(st.spent - 2 * b0) <= 2


SHIPPED = repo_weights_dir() / "intra" / "config.json"


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped intra weights in weights/intra")
@pytest.mark.parametrize("target", [0.05, 0.1, 0.3])
def test_shipped_intra_meets_bpp_target(tmp_path, target):
    """The demo's synthetic scene (smooth shapes + mild texture), 320x192, 5 frames."""
    frames = list(synthetic_frames(n=5, w=320, h=192))
    write_clip(str(tmp_path / "c.mkv"), frames, Fraction(25))
    rep = api.encode(str(tmp_path / "c.mkv"), str(tmp_path / "a.vgc"), codec="intra", bpp=target,
                     progress=False)
    real = (tmp_path / "a.vgc").stat().st_size * 8 / (320 * 192 * 5)
    assert rep.bpp == pytest.approx(real)
    assert abs(real - target) / target <= 0.10, f"real {real:.4f} vs target {target}"
