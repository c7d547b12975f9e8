"""S²VC's conditional coder (Xue et al., "Single-step Diffusion-based Video Coding with
Semantic-Temporal Guidance", CVPR 2026), in the style of DCVC (Li, Li, Lu, "Deep Contextual
Video Compression", NeurIPS 2021) and DCVC-RT's implicit temporal modelling (Jia et al., CVPR
2025): no motion is sent; a feature buffer of the previous decoded frame is the condition.

    x_t ──feat──> f_t (F, 1/8)         buffer: F_{t-1} (1/8) and x_rec_{t-1} (the last frame)
                   │                     c_t = ctx(F_{t-1}) + pix(space-to-depth_8(x_rec_{t-1}))
                   └──── enc(f_t, c_t) ──*gain(q)──> y (M, 1/16) ── h_a ──> z (N, 1/64)
    (scale, mean) = prior(h_s(z_hat), y_prev_hat)      temporal prior: previous latent
    y_hat = Q(y - mean) + mean
    F_t = dec(y_hat * inv_gain(q), c_t)   (1/8)  -> the next frame's buffer and the generator's input
    x_rec = x_rec_{t-1} + recon(F_t)              the coder's own reconstruction (--no-generate)

The entropy parameters depend on integer-exact quantities only (z_hat, and the previous frame's
y_hat, both multiples of 2^-16): h_s and the temporal prior run as integer networks
(`integer_hyper`, Ballé et al. 2019) in the codec, so parsing is identical on every device.
The temporal prior from the previous *latent* follows DCVC-HEM (Li, Li, Lu, ACM MM 2022,
"latent prior"); S²VC/DCVC fuse a prior from the float context instead, which would make
parsing depend on float arithmetic. The feature buffer itself (float) feeds only the
reconstruction. The buffer also keeps the last decoded frame in pixels, and the reconstruction
is a correction of it (recon's last layer starts at zero): with no bits a P-frame repeats the
last frame, which a model trained for minutes on two CPU cores learns from far sooner than a
whole frame from a 1/8-resolution feature. Rate: one set of weights for a range of rates through gain units (Cui et al.
2021), as the intra model.
"""

from __future__ import annotations

from ..torch_env import torch
from torch import nn

from .intra_model import compressai_parts, conv, deconv, interpolated_gains, ste_round

STRIDE = 64  # z at 1/64


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.LeakyReLU(0.1),
                                  nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


def leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.01)  # the slope the integer networks evaluate


class ConditionalCoder(nn.Module):
    def __init__(self, F: int, M: int, N: int, levels: int):
        GDN, EntropyBottleneck, GaussianConditional = compressai_parts()
        super().__init__()
        self.F, self.M, self.N = F, M, N
        self.feat = nn.Sequential(conv(3, F), GDN(F), conv(F, F), GDN(F), conv(F, F), ResBlock(F))
        self.ctx = nn.Sequential(nn.Conv2d(F, F, 3, padding=1), nn.LeakyReLU(0.1), ResBlock(F))
        self.pix = nn.Sequential(nn.PixelUnshuffle(8), nn.Conv2d(192, F, 1))
        self.enc = nn.Sequential(nn.Conv2d(2 * F, F, 3, padding=1), nn.LeakyReLU(0.1),
                                 ResBlock(F), conv(F, M))
        self.h_a = nn.Sequential(conv(M, N, 3, 1), leaky(), conv(N, N), leaky(), conv(N, N))
        self.h_s = nn.Sequential(deconv(N, N), leaky(), deconv(N, N * 3 // 2), leaky(),
                                 conv(N * 3 // 2, 2 * M, 3, 1))
        # temporal prior: (h_s params, previous latent) -> (scale, mean); integer in the codec
        self.prior = nn.Sequential(conv(3 * M, 2 * M, 1, 1), leaky(), conv(2 * M, 2 * M, 3, 1),
                                   leaky(), conv(2 * M, 2 * M, 1, 1))
        self.dec_up = deconv(M, F)
        self.dec = nn.Sequential(nn.Conv2d(2 * F, F, 3, padding=1), nn.LeakyReLU(0.1),
                                 ResBlock(F), ResBlock(F))
        self.recon = nn.Sequential(deconv(F, F), GDN(F, inverse=True), deconv(F, F),
                                   GDN(F, inverse=True), deconv(F, 3))
        nn.init.zeros_(self.recon[-1].weight)
        nn.init.zeros_(self.recon[-1].bias)
        spread = 0.35 * (torch.arange(levels, dtype=torch.float32) - (levels - 1) / 2)
        self.log_gain = nn.Parameter(spread[:, None].repeat(1, M))
        self.log_inv_gain = nn.Parameter(-spread[:, None].repeat(1, M))
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    # -- pieces the codec calls one by one ------------------------------------------------
    def context(self, feature: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """c_t from the buffer: the last decoded feature and frame."""
        return self.ctx(feature) + self.pix(frame)

    def reconstruct(self, feature: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """The coder's own frame: the last frame, corrected."""
        return frame + self.recon(feature)

    def analyze(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The latent of frame x given the context, before the gain."""
        return self.enc(torch.cat([self.feat(x), c], 1))

    def params(self, hyper: torch.Tensor, y_prev: torch.Tensor) -> torch.Tensor:
        return self.prior(torch.cat([hyper, y_prev], 1))

    def synthesize(self, y_hat: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The decoded feature F_t from the de-gained latent and the context."""
        return self.dec(torch.cat([self.dec_up(y_hat), c], 1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The feature buffer entry of a frame decoded by the I-frame coder."""
        return self.feat(x)

    def gains(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As IntraModel.gains (bitstream_spec.md 15, intra, rate_code)."""
        return interpolated_gains(self.log_gain, self.log_inv_gain, q)

    # -- training -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, buffer: torch.Tensor, frame: torch.Tensor,
                y_prev: torch.Tensor, q: torch.Tensor) -> dict:
        """One P-frame, noisy rate, straight-through rounding (training)."""
        gain, inv_gain = self.gains(q)
        c = self.context(buffer, frame)
        y = self.analyze(x, c) * gain
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        scales, means = self.params(self.h_s(z_hat), y_prev).chunk(2, 1)
        _, y_lik = self.gaussian_conditional(y, scales, means=means)
        y_hat = ste_round(y - means) + means
        feature = self.synthesize(y_hat * inv_gain, c)
        return {"feature": feature, "x_rec": self.reconstruct(feature, frame), "y_hat": y_hat,
                "likelihoods": (y_lik, z_lik)}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.loss()
