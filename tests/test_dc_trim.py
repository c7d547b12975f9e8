"""Encoder-side DC trim: a second coding against the first one's mean error."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidgen_codec.codecs import stem_motion as sm
from vidgen_codec.codecs.dc_trim import trimmed
from vidgen_codec.codecs.stem import StemCodec
from vidgen_codec.weights import repo_weights_dir


def _biased_coder(bias: torch.Tensor, sizes: dict):
    """A stand-in coder that reconstructs its input plus a fixed bias; payload = call number."""
    calls = []

    def code_at(offset):
        calls.append(offset)
        return len(calls), x - (0 if offset is None else offset) + bias

    x = torch.rand(1, 3, 8, 8)
    return x, code_at, lambda n: sizes[n], calls


def test_bias_is_coded_away():
    bias = torch.tensor([0.02, -0.01, 0.005]).view(1, 3, 1, 1)
    x, code_at, size, calls = _biased_coder(bias, {1: 100, 2: 101})
    payload, rec = trimmed(x, code_at, size)
    assert payload == 2 and torch.allclose(calls[1], bias)
    assert float((rec - x).abs().max()) < 1e-6


def test_second_coding_must_fit_the_slack():
    bias = torch.full((1, 3, 1, 1), 0.02)
    x, code_at, size, _ = _biased_coder(bias, {1: 100, 2: 103})
    assert trimmed(x, code_at, size)[0] == 1


def test_invisible_bias_is_not_coded_twice():
    x, code_at, size, calls = _biased_coder(torch.full((1, 3, 1, 1), 0.1 / 255), {1: 100})
    assert trimmed(x, code_at, size)[0] == 1 and len(calls) == 1


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
        r = sm.residual_image(x if offset is None else x - offset, pred)
        streams = res.code_latent(res.analyze(r), q)
        return streams, sm.add_residual(pred, res.decode_streams(streams, q, 128, 128))

    size = lambda s: sum(map(len, s))  # noqa: E731
    first, rec0 = code_at(None)
    second, rec1 = trimmed(x, code_at, size)
    bias0 = float((rec0 - x).mean().abs())
    assert bias0 * 255 > 0.5, "the coder no longer shows the bias this test was written for"
    assert float((rec1 - x).mean().abs()) < bias0 / 2
    assert float(((rec1 - x) ** 2).mean()) < float(((rec0 - x) ** 2).mean())
    assert size(second) <= 1.02 * size(first)
