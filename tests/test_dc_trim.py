"""Encoder-side DC trim: a second coding against the first one's mean error."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidgen_codec.codecs.stem import motion as sm
from vidgen_codec.codecs.dc_trim import trimmed
from vidgen_codec.codecs.stem import StemCodec
from vidgen_codec.weights import repo_weights_dir


def _biased_coder(bias: torch.Tensor, sizes: dict):
    """A stand-in coder whose payload is (call number, what it coded) and whose decoder adds a
    fixed bias."""
    x = torch.rand(1, 3, 8, 8)
    calls = []

    def code_at(offset):
        calls.append(offset)
        return len(calls) + 1, x - offset

    return x, (1, x), code_at, lambda p: p[1] + bias, lambda p: sizes[p[0]], calls


def test_bias_is_coded_away():
    bias = torch.tensor([0.02, -0.01, 0.005]).view(1, 3, 1, 1)
    x, first, code_at, decode, size, calls = _biased_coder(bias, {1: 100, 2: 101})
    payload, rec = trimmed(x, first, code_at, decode, size)
    assert payload[0] == 2 and torch.allclose(calls[0], bias)
    assert float((rec - x).abs().max()) < 1e-6


def test_second_coding_must_fit_the_slack():
    bias = torch.full((1, 3, 1, 1), 0.02)
    x, first, code_at, decode, size, _ = _biased_coder(bias, {1: 100, 2: 103})
    payload, rec = trimmed(x, first, code_at, decode, size)
    assert payload[0] == 1 and torch.allclose(rec, x + bias)


def test_second_coding_stays_within_the_budget():
    """A first coding that fits its budget is not traded for one over it, even within the
    slack: a P residual over its budget is dropped."""
    bias = torch.full((1, 3, 1, 1), 0.02)
    for budget, kept in ((100, 1), (101, 2), (90, 1)):  # 90: the first is over already, the
        # second is kept only if it is no bigger
        x, first, code_at, decode, size, _ = _biased_coder(bias, {1: 100, 2: 101})
        assert trimmed(x, first, code_at, decode, size, budget=budget)[0][0] == kept, budget


def test_invisible_bias_is_not_coded_twice():
    x, first, code_at, decode, size, calls = _biased_coder(
        torch.full((1, 3, 1, 1), 0.1 / 255), {1: 100})
    assert trimmed(x, first, code_at, decode, size)[0][0] == 1 and not calls


@pytest.mark.skipif(not (repo_weights_dir() / "stem" / "config.json").exists(),
                    reason="no shipped stem weights")
@pytest.mark.parametrize("q", [1.0, 4.0])
@torch.no_grad()
def test_shipped_residual_coder_bias_is_trimmed(q):
    """The shipped P residual coder lifts a textured frame's mean by about half a level at
    these rates; the trim takes most of it back without spending more."""
    codec = StemCodec.load()
    g = torch.Generator().manual_seed(0)
    x = ((F.avg_pool2d(torch.rand(1, 3, 132, 132, generator=g), 5, 1) - 0.5) * 3 + 0.5)
    x = x.clamp(0, 1)[..., :128, :128]
    pred = torch.roll(x, (1, 2), (2, 3))
    res = codec.residual

    def code_at(offset):
        return res.code_latent(res.analyze(sm.residual_image(x - offset, pred)), q)

    def decode(streams):
        return sm.add_residual(pred, res.decode_streams(streams, q, 128, 128))

    size = lambda s: sum(map(len, s))  # noqa: E731
    first = res.code_latent(res.analyze(sm.residual_image(x, pred)), q)
    rec0 = decode(first)
    second, rec1 = trimmed(x, first, code_at, decode, size)
    bias0 = float((rec0 - x).mean().abs())
    assert bias0 * 255 > 0.5, "the coder no longer shows the bias this test was written for"
    assert float((rec1 - x).mean().abs()) < bias0 / 2
    assert float(((rec1 - x) ** 2).mean()) < float(((rec0 - x) ** 2).mean())
    assert size(second) <= 1.02 * size(first)
