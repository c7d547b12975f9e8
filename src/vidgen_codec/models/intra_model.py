"""Variable-rate learned image codec used for backbone I-frames.

Follows the mean-scale hyperprior of Minnen, Balle & Toderici, "Joint Autoregressive and
Hierarchical Priors for Learned Image Compression" (NeurIPS 2018, without the autoregressive
context) on top of Balle et al., "Variational image compression with a scale hyperprior"
(ICLR 2018). One set of weights covers a range of rates with the gain units of Cui et al.,
"Asymmetric Gained Deep Image Compression With Continuous Rate Adaptation" (CVPR 2021):
per-channel gains scale the latent before quantization and inverse gains undo it after; a
continuous rate parameter `q` interpolates the gain vectors of neighbouring trained levels
geometrically.

    x ──g_a──> y ──*gain(q)──> y' ──h_a──> z ──Q──> z_hat ──h_s──> (scale, mean)
                                 │                                      │
                                 └──────────── Q(y' - mean) + mean ─────┘ = y'_hat
    x_hat <──g_s── y'_hat * inv_gain(q)

Layers and entropy models come from compressai (GDN, EntropyBottleneck, GaussianConditional),
imported when a model is built: importing compressai takes about 4 s on 2 cores (its package
imports its point-cloud datasets, and torch_geometric with them), and the av1 backbone, vgc's
default, never builds this model (issue 31: that import was most of a short `vgc encode`).
Entropy *coding* is not done here: `codecs/intra.py` turns symbols and table indexes into bytes
through an explicit entropy backend.
"""

from __future__ import annotations

import math

from ..torch_env import torch
from torch import nn

from ..weights import architecture
from .configs import INTRA_ARCHITECTURE, Q_EXTRA, Q_MIN, STRIDE, IntraConfig, q_max  # noqa: F401


def compressai_parts() -> tuple:
    """compressai's (GDN, EntropyBottleneck, GaussianConditional), imported when a model is
    built (see the module's docstring)."""
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional
    from compressai.layers import GDN

    return GDN, EntropyBottleneck, GaussianConditional


def conv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=s, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=s, padding=k // 2, output_padding=s - 1)


class IntraModel(nn.Module):
    """Mean-scale hyperprior image codec with continuous-rate gain units (see module doc)."""

    def __init__(self, cfg: IntraConfig):
        GDN, EntropyBottleneck, GaussianConditional = compressai_parts()
        super().__init__()
        self.cfg = cfg
        N, M = cfg.N, cfg.M
        self.g_a = nn.Sequential(
            conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M)
        )
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.h_a = nn.Sequential(
            conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N), nn.LeakyReLU(inplace=True),
            conv(N, N),
        )
        self.h_s = nn.Sequential(
            deconv(N, N), nn.LeakyReLU(inplace=True), deconv(N, N * 3 // 2),
            nn.LeakyReLU(inplace=True), conv(N * 3 // 2, 2 * M, 3, 1),
        )
        # log-gains, level k trained with lambdas[k]. Initialised spread out (a factor e^0.35
        # in quantization step per level, which is about what one lambda doubling needs) so
        # the levels differ from the first step; training refines them per channel.
        spread = 0.35 * (torch.arange(cfg.levels, dtype=torch.float32) - (cfg.levels - 1) / 2)
        self.log_gain = nn.Parameter(spread[:, None].repeat(1, M))
        self.log_inv_gain = nn.Parameter(-spread[:, None].repeat(1, M))
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    # -- rate parameter -------------------------------------------------------------------
    def gains(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gain and inverse gain for continuous rate parameters q (shape [B]) -> [B, M, 1, 1].

        Log-linear interpolation between neighbouring levels (Cui et al. 2021, eq. 9);
        linear extrapolation of the log-gains outside the trained levels.
        """
        return interpolated_gains(self.log_gain, self.log_inv_gain, q)

    def hyper_synthesis(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scales, means = self.h_s(z_hat).chunk(2, 1)
        return scales, means

    # -- training -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, q: torch.Tensor) -> dict:
        """Training pass: noisy rate, straight-through rounding for the decoder input."""
        gain, inv_gain = self.gains(q)
        y = self.g_a(x) * gain
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        scales, means = self.hyper_synthesis(z_hat)
        _, y_lik = self.gaussian_conditional(y, scales, means=means)
        y_hat = ste_round(y - means) + means
        x_hat = self.g_s(y_hat * inv_gain)
        return {"x_hat": x_hat, "likelihoods": (y_lik, z_lik)}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.loss()


def interpolated_gains(log_gain: torch.Tensor, log_inv_gain: torch.Tensor, q: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gains of levels [K, M] at continuous rate parameters q (see IntraModel.gains)."""
    K = log_gain.shape[0]
    q = q.clamp(Q_MIN, q_max(K)).to(log_gain.dtype)
    lo = q.floor().clamp(0, K - 2).long()
    t = (q - lo.to(q.dtype)).unsqueeze(1)
    g = log_gain[lo] * (1 - t) + log_gain[lo + 1] * t
    ig = log_inv_gain[lo] * (1 - t) + log_inv_gain[lo + 1] * t
    return g.exp()[:, :, None, None], ig.exp()[:, :, None, None]


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return (torch.round(x) - x).detach() + x


def rd_loss(out: dict, x: torch.Tensor, lam: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """lambda * 255^2 * MSE + bpp, with per-sample lambdas (CompressAI's convention)."""
    B, _, H, W = x.shape
    bits = sum(torch.log(lk).sum(dim=(1, 2, 3)) for lk in out["likelihoods"]) / -math.log(2)
    bpp = bits / (H * W)
    mse = ((out["x_hat"] - x) ** 2).mean(dim=(1, 2, 3))
    loss = (lam * 255**2 * mse + bpp).mean()
    return loss, {"bpp": bpp.mean().item(), "mse": mse.mean().item()}


@architecture(INTRA_ARCHITECTURE)
def _build(config: dict) -> IntraModel:
    return IntraModel(IntraConfig(**config))
