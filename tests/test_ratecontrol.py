"""Rate control: bisection on real sizes, running budget, and the shipped intra model's accuracy."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from conftest import write_clip
from vidgen_codec import api
from vidgen_codec.tools.sample_clip import synthetic_frames
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
