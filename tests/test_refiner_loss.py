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



def test_psnr_gain_loss_is_minus_the_gates_measure_in_db():
    """Each window's luma PSNR gain over its input, as metrics.psnr_y scores uint8 frames
    (up to the rounding power the loss adds), averaged over windows in dB: a window at 45 dB
    counts as much as one at 28 dB."""
    import numpy as np

    from vidgen_codec import metrics
    from vidgen_codec.train.refiner_loss import psnr_gain_loss

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(2, 3, 3, 32, 32, generator=g) * 255).round() / 255  # 8-bit, as the clips
    noise = torch.randn(x.shape, generator=g)
    inp = (x + torch.tensor([0.04, 0.004]).view(2, 1, 1, 1, 1) * noise).clamp(0, 1)
    inp = (inp * 255).round() / 255  # the refiner's inputs are decoded 8-bit frames
    y = (x + (inp - x) * torch.tensor([0.5, 1.5]).view(2, 1, 1, 1, 1)).clamp(0, 1)

    def u8(t):
        return (t * 255).round().byte().permute(0, 2, 3, 4, 1).numpy()

    want = np.mean([metrics.psnr_y(u8(y)[b], u8(x)[b]) - metrics.psnr_y(u8(inp)[b], u8(x)[b])
                    for b in range(2)])
    assert abs(-float(psnr_gain_loss(y, x, inp)) - want) < 0.08  # rounding, modelled
    # the halved error of the noisy window (+6 dB) and the grown one of the clean window
    # (-3.5 dB) weigh alike, where an MSE pools them into a gain
    assert float(psnr_gain_loss(y, x, inp)) > -3.5
    assert float(((y - x) ** 2).mean()) < float(((inp - x) ** 2).mean())
    assert float(psnr_gain_loss(inp, x, inp)) >= 0  # no change: no gain (rounding: a little less)
