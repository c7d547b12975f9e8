"""The refiner's objective: one step, no pretrained teacher.

    L = L1(y, x)                                    fidelity
      + w_ssim  (1 - SSIM(y, x))                    structure (Wang et al. 2004)
      + w_lap   sum_k 2^k L1(Lap_k y, Lap_k x)     perceptual: Laplacian-pyramid L1
                                                   (Bojanowski et al. 2018, "Lap1"), which
                                                   weighs edges and texture over flat error
      + w_energy sum_k 2^k L1(E_k y, E_k x)       detail energy: E_k = Gaussian-blurred |Lap_k|,
                                                   the local contrast energy of band k (the
                                                   contrast-energy stage of visual difference
                                                   models, e.g. ColorVideoVDP, Mantiuk et al.
                                                   2024); it holds the output's detail to the
                                                   source's amount where a pixel loss alone
                                                   settles for a blurred mean, and removes
                                                   codec grain where the source is flat
      + w_nlpd  mean_k L1(N(Lap_k y), N(Lap_k x))    masked band difference: N(b) = b / (sigma +
                                                   blurred |b|), each image's bands divided by
                                                   their own local amplitude, after the
                                                   normalised Laplacian pyramid distance (NLPD,
                                                   Laparra et al. 2016); codec noise where the
                                                   source is flat counts in full, differences
                                                   inside texture are masked. Measured on
                                                   box.mp4 at 0.02 bpp, it orders a bilateral
                                                   filter, a blur, the codec output and an
                                                   unsharp mask as ColorVideoVDP does
      + w_temp  L1(y_t - y_{t-1}, x_t - x_{t-1})    temporal: the frame-to-frame change of the
                                                   source, so refinement does not flicker
      + w_adv   -D(y)                               adversarial, hinge (Lim & Ye 2017) with a
                                                   spectrally normalised 3D patch discriminator
                                                   (PatchGAN, Isola et al. 2017; Miyato 2018)
      + w_gain  mean_b 10 log10(MSE_Y(y_b, x_b) + r) - 10 log10 max(MSE_Y(i_b, x_b), r)
                                                   the encoder gate's measure (refine/gate.py):
                                                   minus each window's luma PSNR gain over its
                                                   input i, r the uint8 rounding's error
                                                   power. In dB every window counts alike: an
                                                   L1 loss barely sees a 45 dB window lose 1 dB
                                                   while a 28 dB one gains 0.2

Pixel-space fidelity plus adversarial training is the recipe of one-step image translation
without a teacher (pix2pix-turbo, Parmar et al. 2024); ImageNet-feature losses (LPIPS, DISTS)
are left out because their pretrained backbones cannot be fetched here.
All tensors are (B,3,T,H,W) in [0,1].
"""

from __future__ import annotations

from dataclasses import dataclass

from ..torch_env import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass
class LossWeights:
    ssim: float = 0.2
    lap: float = 0.5
    energy: float = 1.0
    nlpd: float = 0.5
    temp: float = 0.5
    adv: float = 0.005
    l1: float = 1.0
    gain: float = 0.0


def _frames(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).flatten(0, 1)  # (B*T,3,H,W)


def _gauss(x: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-(torch.arange(size, dtype=x.dtype, device=x.device) - size // 2) ** 2
                  / (2 * sigma**2))
    g = (g / g.sum())
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, size), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, size, 1), groups=c)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of (N,C,H,W) images in [0,1] (Gaussian window 11, sigma 1.5)."""
    c1, c2 = 0.01**2, 0.03**2
    ma, mb = _gauss(a), _gauss(b)
    va = _gauss(a * a) - ma * ma
    vb = _gauss(b * b) - mb * mb
    cov = _gauss(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return s.mean()


def _bands(x: torch.Tensor, levels: int = 4) -> list[torch.Tensor]:
    """Laplacian-pyramid bands of (N,C,H,W) images, finest first."""
    bands = []
    for _ in range(levels):
        down = F.avg_pool2d(x, 2)
        bands.append(x - F.interpolate(down, scale_factor=2, mode="bilinear"))
        x = down
    return bands


def laplacian_l1(a_bands: list, b_bands: list) -> torch.Tensor:
    """sum_k 2^k L1 of the band difference, from `_bands` of both images."""
    return sum((2**k) * (da - db).abs().mean()
               for k, (da, db) in enumerate(zip(a_bands, b_bands)))


def _amplitudes(bands: list) -> list[torch.Tensor]:
    """Local amplitude of each band: its magnitude, Gaussian-blurred (5 taps, sigma 1)."""
    return [_gauss(F.pad(b.abs(), (2, 2, 2, 2), mode="replicate"), 5, 1.0) for b in bands]


def detail_energy_l1(a_amps: list, b_amps: list) -> torch.Tensor:
    """sum_k 2^k L1 of the bands' local energies, from `_amplitudes` of both pyramids."""
    return sum((2**k) * (ea - eb).abs().mean() for k, (ea, eb) in enumerate(zip(a_amps, b_amps)))


def normalized_band_l1(a_bands: list, b_bands: list, a_amps: list, b_amps: list,
                       sigma: float = 0.01) -> torch.Tensor:
    """Mean over bands of L1 between the bands, each divided by its own local amplitude
    (sigma + `_amplitudes`): differences where an image is flat count in full, differences
    inside texture are masked."""
    return sum((da / (sigma + ea) - db / (sigma + eb)).abs().mean()
               for da, db, ea, eb in zip(a_bands, b_bands, a_amps, b_amps)) / len(a_bands)


def fidelity_terms(y: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
    yf, xf = _frames(y), _frames(x)
    yb, xb = _bands(yf), _bands(xf)  # one pyramid each, for all three band terms
    ya, xa = _amplitudes(yb), _amplitudes(xb)
    return {
        "l1": (y - x).abs().mean(),
        "ssim": 1 - ssim(yf, xf),
        "lap": laplacian_l1(yb, xb),
        "energy": detail_energy_l1(ya, xa),
        "nlpd": normalized_band_l1(yb, xb, ya, xa),
        "temp": ((y[:, :, 1:] - y[:, :, :-1]) - (x[:, :, 1:] - x[:, :, :-1])).abs().mean(),
    }


class PatchDiscriminator3d(nn.Module):
    """A few strided 3D convolutions -> a map of real/fake logits over space-time patches."""

    def __init__(self, ch: int = 32):
        super().__init__()
        sn = spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv3d(3, ch, (3, 4, 4), (1, 2, 2), (1, 1, 1))), nn.LeakyReLU(0.2),
            sn(nn.Conv3d(ch, ch * 2, (3, 4, 4), (1, 2, 2), (1, 1, 1))), nn.LeakyReLU(0.2),
            sn(nn.Conv3d(ch * 2, ch * 4, (3, 4, 4), (2, 2, 2), (1, 1, 1))), nn.LeakyReLU(0.2),
            sn(nn.Conv3d(ch * 4, 1, 3, 1, 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


LUMA = (0.299, 0.587, 0.114)  # BT.601 (metrics.psnr_y's, up to its scale and offset)
# error power of rounding R, G and B to 8 bits, seen in luma, in [0,1] units
ROUNDING_POWER = sum(k * k for k in LUMA) / (12 * 255.0**2)


def psnr_gain_loss(y: torch.Tensor, x: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
    """Minus the mean luma PSNR gain (dB) of the windows y over their inputs `inp`, against
    x; BT.601 luma weights (scale and offset cancel in the ratio)."""
    k = torch.tensor(LUMA, dtype=y.dtype, device=y.device).view(1, 3, 1, 1, 1)

    def mse(a):
        return (((a - x) * k).sum(1) ** 2).flatten(1).mean(1)

    out = torch.log10(mse(y) + ROUNDING_POWER)
    ref = torch.log10(mse(inp).clamp_min(ROUNDING_POWER))
    return 10 * (out - ref).mean()


def generator_loss(terms: dict, adv: torch.Tensor | None, w: LossWeights) -> torch.Tensor:
    loss = (w.l1 * terms["l1"] + w.ssim * terms["ssim"] + w.lap * terms["lap"]
            + w.energy * terms["energy"] + w.nlpd * terms["nlpd"] + w.temp * terms["temp"])
    if w.gain:
        loss = loss + w.gain * terms["gain"]
    if adv is not None:
        loss = loss + w.adv * adv
    return loss


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
