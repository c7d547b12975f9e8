"""The refiner's objective: what each band term rewards and what it forgives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidgen_codec.train.refiner_loss import (_amplitudes, _bands, fidelity_terms, laplacian_l1,
                                             normalized_band_l1)


def _texture(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.5 + 0.4 * (F.avg_pool2d(torch.rand(1, 3, 66, 66, generator=g), 3, 1) - 0.5) * 3
            ).clamp(0, 1)


def test_terms_vanish_for_the_source_itself():
    x = _texture()[:, :, None].expand(1, 3, 4, 64, 64)
    terms = fidelity_terms(x, x)
    assert all(float(v) < 1e-6 for v in terms.values()), terms


def test_masked_band_difference_counts_noise_on_flat_areas_more():
    """The same noise costs more on a flat source than inside texture (contrast masking); the
    plain Laplacian L1 charges both alike."""
    noise = 0.02 * torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    flat, tex = torch.full((1, 3, 64, 64), 0.5), _texture()
    def costs(x):
        yb, xb = _bands(x + noise), _bands(x)
        return (normalized_band_l1(yb, xb, _amplitudes(yb), _amplitudes(xb)),
                laplacian_l1(yb, xb))

    cost = {"flat": costs(flat), "tex": costs(tex)}
    assert cost["flat"][0] > 1.5 * cost["tex"][0]
    assert abs(cost["flat"][1] - cost["tex"][1]) < 0.1 * cost["tex"][1]

