"""One-step video diffusion refiner with a Frame Type Embedder (Diff-SIT's ODFTE, Zhou, Chen,
Zhang 2026, arXiv 2603.18501), built on diffusers' Wan classes (Wan 2.1, Wan Team 2025).

    intermediate frames x (1,3,T,H,W) in [0,1], frame types (T,)   [from the STEM decoder]
      -> AutoencoderKLWan encoder (posterior mode) -> z, normalised by latents_mean/std
      -> z_t = (1 - s) z + s eps,  s = timestep / 1000,  eps from the stream's seed
      -> WanTransformer3DModel at the fixed timestep, per-token condition
             temb = time_embedding(timestep) + FTE(types of the frames under the token)
         -> velocity v;  z0 = z_t - s v            (rectified-flow x0 estimate, one step)
      -> AutoencoderKLWan decoder -> y   (+ skip, when cfg.skip > 0: see SkipHead)
      output "residual": frames = x + y   (the decoder predicts a correction)
      output "image":    frames = y       (a pretrained Wan VAE decodes images)

The Frame Type Embedder is added to the timestep embedding rather than put in place of the text:
the timestep embedding drives every block's adaptive LayerNorm (shift, scale and gate of the
attention and feed-forward branches), so a per-token type embedding sets per frame how strongly
the step rewrites it, which is what "how much to trust this frame" means; a cross-attended text
token carries content, and would reach every token equally. It follows the class conditioning
of DiT (Peebles & Xie 2023), per token as in Wan 2.2's per-token timesteps. The text input is
kept as a few learned context tokens (no text encoder is shipped).

"residual" output is for our small model trained from scratch: with the decoder's last layer
zero-initialised the refiner starts as the identity, and the VAE need not learn to reproduce
every pixel (the skip idea of pix2pix-turbo, Parmar et al. 2024). pix2pix-turbo also adds
encoder-to-decoder skip connections through zero-initialised convolutions, so that the input's
detail need not pass the latent bottleneck; `SkipHead` is that connection at the VAE's pixel-patch
level (see its docstring). A 16-channel latent per 8x8x2 pixels cannot say where each edge is,
and without the skip a correction of edge-level detail has to be learned through it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..torch_env import torch
from torch import nn

from ..weights import architecture
from .tap_conv import use_tap_convs
from .rms_norm import use_fast_rms_norms

N_FRAME_TYPES = 4  # I, P, M, R (bitstream_spec.md section 11.3)


def tiny_vae_config() -> dict:
    """The shipped size (refiner-tiny-v6): 8x8 pixel patches (Wan 2.2 style patchify), one 2x
    stage, so 16x spatial and 2x temporal, on 8 and 16 channels. v5 had 4x4 patches and 16/32
    channels; v6 is about 7x cheaper on the CPU (benchmarks/RESULTS.md, issue 17 part 3)."""
    return dict(base_dim=8, z_dim=16, dim_mult=[1, 2], num_res_blocks=1, attn_scales=[],
                temperal_downsample=[True], latents_mean=[0.0] * 16, latents_std=[1.0] * 16,
                in_channels=192, out_channels=192, patch_size=8, scale_factor_spatial=16,
                scale_factor_temporal=2)


def tiny_transformer_config() -> dict:
    return dict(patch_size=[1, 2, 2], num_attention_heads=2, attention_head_dim=32,
                in_channels=16, out_channels=16, text_dim=16, freq_dim=64, ffn_dim=128,
                num_layers=2, rope_max_seq_len=1024)


def wan21_1_3b_transformer_config() -> dict:
    """Wan2.1-T2V-1.3B dimensions (its diffusers transformer/config.json)."""
    return dict(patch_size=[1, 2, 2], num_attention_heads=12, attention_head_dim=128,
                in_channels=16, out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960,
                num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                eps=1e-6, rope_max_seq_len=1024)


@dataclass
class RefinerConfig:
    vae: dict | None = field(default_factory=tiny_vae_config)  # None: from --model-dir
    transformer: dict | None = field(default_factory=tiny_transformer_config)
    timestep: float = 100.0  # the one fixed step, in Wan's 0..1000 scale
    output: str = "residual"  # "residual" or "image"
    window: int = 9  # frames per window: 1 + k * temporal compression
    context_tokens: int = 4
    lora_rank: int = 0  # > 0: peft LoRA adapters on the transformer's attention
    skip: int = 24  # > 0: width of the encoder-to-decoder SkipHead (0: none)
    skip_blocks: int = 1  # residual blocks in the SkipHead (FFDNet-style restoration path)
    levels: bool = True  # condition on each frame's backbone level (LevelEmbedder)
    level_kind: str = "qindex"  # which level: "qindex" (AV1 base_q_idx) or "bpp" (v6)
    level_octaves: float = 0.5  # spacing of the level features' frequencies (level_features)
    skip_levels: bool = True  # the level also scales and shifts the SkipHead, per frame
    model_id: str = "refiner-tiny-v8"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RefinerConfig":
        """A saved config; one written before `skip_blocks`, `levels`, `level_kind`,
        `level_octaves` or `skip_levels` existed had none (refiner-tiny-v4 and earlier; v5)
        or the bits-per-pixel level, octave-spaced, in the transformer only (v6), not the
        current defaults."""
        return cls(**{"skip_blocks": 0, "levels": False, "level_kind": "bpp",
                      "level_octaves": 1.0, "skip_levels": False, **d})


class FrameTypeEmbedder(nn.Module):
    """Frame types -> one embedding per latent frame (the mean over the frames it covers).

    Zero-initialised, so an untrained embedder leaves the timestep embedding as it is.
    """

    def __init__(self, dim: int, temporal_ratio: int):
        super().__init__()
        self.table = nn.Embedding(N_FRAME_TYPES, dim)
        nn.init.zeros_(self.table.weight)
        self.ratio = temporal_ratio

    def forward(self, types: torch.Tensor) -> torch.Tensor:
        """types (B,T) long, T = 1 + k * ratio -> (B, 1 + k, dim)."""
        e = self.table(types)
        first, rest = e[:, :1], e[:, 1:]
        rest = rest.unflatten(1, (-1, self.ratio)).mean(2)
        return torch.cat([first, rest], 1)


LEVEL_KINDS = ("qindex", "bpp")
UNKNOWN_QINDEX_CODE = -1.25  # a qindex level of -1 (unknown): below every real quantiser
LEVEL_FREQS = 8


def level_code(levels: torch.Tensor, kind: str) -> torch.Tensor:
    """Backbone levels (B,T,2): [bits per pixel, AV1 base_q_idx (-1: unknown)] per frame
    (`codecs.base.BackboneLevel`) -> one number per frame, about [-1, 1].

    "bpp" (refiner-tiny-v6): log2(bpp), clamped to [-12, 2] (a level of 0, unknown, is the
    clamp's floor). "qindex": base_q_idx / 127.5 - 1, the quantiser itself, which is what
    FFDNet's noise level is to a denoiser (Zhang, Zuo & Zhang 2018); an unknown one (a learned
    backbone, a header the reader does not parse) is UNKNOWN_QINDEX_CODE."""
    if kind == "bpp":
        return (torch.log2(levels[..., 0].clamp_min(2.0 ** -12)).clamp(-12, 2) + 5) / 7
    if kind == "qindex":
        q = levels[..., 1]
        return torch.where(q < 0, torch.full_like(q, UNKNOWN_QINDEX_CODE), q / 127.5 - 1)
    raise ValueError(f"refiner level_kind {kind!r}: 'qindex' or 'bpp'")


# The spacing of the level features' frequencies, in octaves (the config's level_octaves):
# v6's log2(bpp) code spans 14 octaves of rate in [-1, 1], and its features double (1: up to
# 2^7 x pi/2 rad per unit of the code). A qindex code is linear in the quantiser (1/127.5 per
# step): at that spacing its finest feature would turn by 1.6 rad per qindex step, and
# neighbouring quantisers would look unrelated; half-octave steps (0.5: up to 2^3.5 x pi/2 rad
# per unit, 0.14 rad per qindex step) keep it smooth.


def level_features(u: torch.Tensor, octaves: float = 1.0) -> torch.Tensor:
    """(B,T) level codes -> (B,T,2*LEVEL_FREQS) sinusoidal features, frequencies
    (pi/2) 2^(octaves k), k = 0 .. LEVEL_FREQS-1."""
    k = torch.arange(LEVEL_FREQS, device=u.device, dtype=u.dtype)
    a = u[..., None] * (math.pi / 2) * 2.0 ** (octaves * k)
    return torch.cat([a.sin(), a.cos()], -1)


class LevelEmbedder(nn.Module):
    """Backbone levels -> one embedding per latent frame, as FrameTypeEmbedder does for types.

    A frame's level is what the decoder knows of how hard its backbone was quantised
    (`level_code`), the role FFDNet's noise-level map plays (Zhang, Zuo & Zhang 2018). Its
    sinusoidal features go through a 2-layer MLP whose last layer is zero-initialised: an
    untrained embedder changes nothing.
    """

    FREQS = LEVEL_FREQS

    def __init__(self, dim: int, temporal_ratio: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * self.FREQS, dim), nn.SiLU(), nn.Linear(dim, dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.ratio = temporal_ratio

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """`level_features` (B,T,2F) -> (B, 1 + (T-1)/ratio, dim)."""
        h = _small_linear(features, self.net[0])
        e = _small_linear(self.net[1](h), self.net[2])
        first, rest = e[:, :1], e[:, 1:]
        return torch.cat([first, rest.unflatten(1, (-1, self.ratio)).mean(2)], 1)


def _small_linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """`layer(x)` as a product and a sum: on a handful of rows MKL's sgemm sums differently at
    1 and 2 threads, and torch's reduction of so few elements runs on one thread."""
    return (x[..., :, None] * layer.weight.t()).sum(-2) + layer.bias


class SkipHead(nn.Module):
    """Encoder-to-decoder skip at the pixel-patch level (pix2pix-turbo's skip connections,
    Parmar et al. 2024, placed where a patchified Wan VAE (Wan 2.2) meets the pixels).

    Input: the patchified input frames (what the encoder's first convolution sees, 3*p*p
    channels at 1/p resolution) and the decoder's last features (the input of its conv_out, at
    the same resolution), concatenated. Output: a correction in the decoder's patch space,
    added to the decoder's output before unpatchify.

        [patches, features] -> 3x3 conv [-> h (1 + scale) + shift] -> SiLU
                            -> `blocks` x (h + 3x3 conv, SiLU, 3x3 conv)
                            -> 3x3 conv (zero-initialised: an untrained skip adds nothing)
                            [-> x (1 + gain)]       [..]: with levels, per frame

    Working on pixel patches (a reversible 1/p downsampling) with a stack of 3x3 convolutions is
    FFDNet's design (Zhang, Zuo & Zhang 2018) for restoring detail cheaply: the latent, one
    16-channel vector per 8x8x2 pixels, says what to correct; this path says where each edge is.
    The residual blocks widen to 2x and end in a zero-initialised convolution, so adding them to
    a trained head leaves its output unchanged until they train. Every convolution is per frame
    (no temporal kernel), which keeps the VAE's causality.
    """

    def __init__(self, patch_channels: int, decoder_channels: int, width: int, blocks: int = 0,
                 levels: bool = False):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(patch_channels + decoder_channels, width, (1, 3, 3), padding=(0, 1, 1)),
            nn.SiLU(),
            nn.Conv3d(width, patch_channels, (1, 3, 3), padding=(0, 1, 1)),
        )
        self.blocks = nn.ModuleList(_residual_block(width) for _ in range(blocks))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.film = None
        if levels:  # per frame: width scales, width shifts, one gain
            self.film = nn.Linear(2 * LEVEL_FREQS, 2 * width + 1)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, patches: torch.Tensor, features: torch.Tensor,
                level: torch.Tensor | None = None) -> torch.Tensor:
        """patches, features (B,C,T,h,w); level (B,T,2F) `level_features` (with `levels`)."""
        # `net` keeps the layer names of the block-less head (net.0, net.2), so a warm start
        # from it copies them; the blocks run between its two convolutions
        # the first convolution of [patches, features] as the sum of one over each part (the
        # same function; no copy of the 200-channel concatenation)
        first, c = self.net[0], patches.shape[1]
        h = first._conv_forward(patches, first.weight[:, :c], first.bias)
        h = h.add_(first._conv_forward(features, first.weight[:, c:], None))
        gain = None
        if self.film is not None:
            if level is None:
                raise ValueError("a SkipHead with levels runs with each frame's level")
            f = _small_linear(level, self.film).transpose(1, 2)[..., None, None]  # (B,2w+1,T,1,1)
            w = h.shape[1]
            h = h * (1 + f[:, :w]) + f[:, w:2 * w]
            gain = 1 + f[:, 2 * w:]
        h = self.net[1](h)
        for block in self.blocks:
            h = h + block(h)
        out = self.net[2](h)
        return out if gain is None else out * gain


def _residual_block(width: int) -> nn.Sequential:
    block = nn.Sequential(
        nn.Conv3d(width, 2 * width, (1, 3, 3), padding=(0, 1, 1)),
        nn.SiLU(),
        nn.Conv3d(2 * width, width, (1, 3, 3), padding=(0, 1, 1)),
    )
    nn.init.zeros_(block[-1].weight)
    nn.init.zeros_(block[-1].bias)
    return block


class Refiner(nn.Module):
    def __init__(self, cfg: RefinerConfig, vae=None, transformer=None):
        super().__init__()
        from diffusers import AutoencoderKLWan, WanTransformer3DModel

        self.cfg = cfg
        self.vae = vae if vae is not None else AutoencoderKLWan(**cfg.vae)
        self.transformer = (transformer if transformer is not None
                            else WanTransformer3DModel(**cfg.transformer))
        tc = self.transformer.config
        inner = tc.num_attention_heads * tc.attention_head_dim
        self.fte = FrameTypeEmbedder(inner, self.temporal_ratio)
        self.level_embedder = LevelEmbedder(inner, self.temporal_ratio) if cfg.levels else None
        self.context = nn.Parameter(torch.zeros(1, cfg.context_tokens, tc.text_dim))
        if cfg.output == "residual" and vae is None:
            last = self.vae.decoder.conv_out
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.skip = None
        if cfg.skip:
            p = self.pixel_patch
            self.skip = SkipHead(3 * p * p, self.vae.decoder.conv_out.in_channels, cfg.skip,
                                 cfg.skip_blocks, cfg.levels and cfg.skip_levels)
        if cfg.level_kind not in LEVEL_KINDS:
            raise ValueError(f"refiner level_kind {cfg.level_kind!r}: one of {LEVEL_KINDS}")
        use_tap_convs(self)  # thread-invariant and fast on the CPU (tap_conv.py)
        use_fast_rms_norms(self)  # the VAE's norms as plane sums (rms_norm.py)
        if cfg.output not in ("residual", "image"):
            raise ValueError(f"refiner output {cfg.output!r}: 'residual' or 'image'")
        if (cfg.window - 1) % self.temporal_ratio:
            raise ValueError(f"window {cfg.window} is not 1 + k * {self.temporal_ratio}")

    @property
    def pixel_patch(self) -> int:
        """Side of the VAE's pixel patches (Wan 2.2 style patchify; 1: none)."""
        return int(self.vae.config.patch_size or 1)

    @property
    def temporal_ratio(self) -> int:
        return int(self.vae.config.scale_factor_temporal or 1)

    @property
    def spatial_multiple(self) -> int:
        """Frame sides must be multiples of this (VAE stride times transformer patch)."""
        p = self.transformer.config.patch_size
        return int(self.vae.config.scale_factor_spatial) * int(max(p[1], p[2]))

    @property
    def sigma(self) -> float:
        return self.cfg.timestep / 1000.0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,T,H,W) in [-1,1] -> normalised latent (posterior mode: no sampling noise)."""
        z = self.vae.encode(x).latent_dist.mode()
        mean, std = self._latent_stats(z)
        return (z - mean) / std

    def decode(self, z: torch.Tensor, x: torch.Tensor | None = None,
               level: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised latent -> frames in [-1,1]; with a SkipHead, `x` is the refiner's input
        (and `level` its frames' `level_features`, for a head with levels; None: unknown)."""
        mean, std = self._latent_stats(z)
        if self.skip is None:
            return self.vae.decode(z * std + mean).sample
        if x is None:
            raise ValueError("a refiner with a skip head decodes with its input frames")
        from diffusers.models.autoencoders.autoencoder_kl_wan import patchify, unpatchify

        features: list[torch.Tensor] = []  # conv_out's input, one chunk per latent frame
        hook = self.vae.decoder.conv_out.register_forward_pre_hook(
            lambda _m, args: features.append(args[0]))
        try:
            y = self.vae.decode(z * std + mean).sample
        finally:
            hook.remove()
        p = self.pixel_patch
        if level is None and self.skip.film is not None:
            level = self.level_features(None, (x.shape[0], x.shape[2]), x.device)
        correction = self.skip(patchify(x, p), torch.cat(features, 2), level)
        return y + unpatchify(correction, p)

    def _latent_stats(self, z):
        c = self.vae.config
        shape = (1, -1, 1, 1, 1)
        mean = torch.tensor(c.latents_mean, dtype=z.dtype, device=z.device).view(shape)
        std = torch.tensor(c.latents_std, dtype=z.dtype, device=z.device).view(shape)
        return mean, std

    def velocity(self, zt: torch.Tensor, types: torch.Tensor,
                 level: torch.Tensor | None = None) -> torch.Tensor:
        """The transformer's prediction at the fixed timestep, with FTE added to the timestep
        embedding of every token (the stock forward takes one embedding per batch or per token
        from timesteps only; this is that forward with the addition)."""
        tr = self.transformer
        b, _, f, h, w = zt.shape
        pt, ph, pw = tr.config.patch_size
        rotary = tr.rope(zt)
        hs = tr.patch_embedding(zt).flatten(2).transpose(1, 2).contiguous()
        ce = tr.condition_embedder
        t = torch.full((b,), self.cfg.timestep, device=zt.device)
        dtype = next(ce.time_embedder.parameters()).dtype
        temb = ce.time_embedder(ce.timesteps_proj(t).to(dtype))  # (B, inner)
        per_frame = self.fte(types).to(temb.dtype)  # (B, f, inner)
        if self.level_embedder is not None:
            if level is None:
                level = self.level_features(None, types.shape, zt.device)
            per_frame = per_frame + self.level_embedder(level.to(zt.device, temb.dtype))
        tokens = (h // ph) * (w // pw)
        temb = temb[:, None, :] + per_frame.repeat_interleave(tokens, dim=1)  # (B, seq, inner)
        tproj = ce.time_proj(ce.act_fn(temb)).unflatten(2, (6, -1))
        ctx = ce.text_embedder(self.context.expand(b, -1, -1).to(temb.dtype))
        for block in tr.blocks:
            hs = block(hs, ctx, tproj, rotary)
        shift, scale = (tr.scale_shift_table.unsqueeze(0) + temb.unsqueeze(2)).chunk(2, dim=2)
        hs = tr.norm_out(hs.float()) * (1 + scale.squeeze(2)) + shift.squeeze(2)
        hs = tr.proj_out(hs.type_as(zt))
        hs = hs.reshape(b, f // pt, h // ph, w // pw, pt, ph, pw, -1)
        return hs.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)

    def forward(self, frames: torch.Tensor, types: torch.Tensor,
                noise: torch.Tensor | None, levels: torch.Tensor | None = None) -> torch.Tensor:
        """frames (B,3,T,H,W) in [0,1], types (B,T) long, noise like the latent (or None:
        no noise), levels (B,T,2) backbone levels [bpp, qindex] (`level_code`; None: unknown)
        -> refined frames (B,3,T,H,W) in [0,1]."""
        x = frames * 2 - 1
        z = self.encode(x)
        s = self.sigma
        zt = z if noise is None else (1 - s) * z + s * noise
        level = (self.level_features(levels, types.shape, frames.device)
                 if self.cfg.levels else None)
        z0 = zt - s * self.velocity(zt, types, level)
        y = self.decode(z0, x, level)
        if self.cfg.output == "residual":
            y = x + y
        return ((y + 1) / 2).clamp(0, 1)

    def level_features(self, levels: torch.Tensor | None, shape, device) -> torch.Tensor:
        """(B,T,2) levels (None: every frame's unknown) -> (B,T,2F) features of this
        refiner's level kind."""
        if levels is None:
            levels = torch.tensor([0.0, -1.0], device=device).expand(*shape, 2)
        dtype = next(self.parameters()).dtype
        return level_features(level_code(levels.to(device, dtype), self.cfg.level_kind),
                              self.cfg.level_octaves)

    def latent_shape(self, t: int, h: int, w: int) -> tuple[int, ...]:
        r, s = self.temporal_ratio, int(self.vae.config.scale_factor_spatial)
        return (1, int(self.vae.config.z_dim), 1 + (t - 1) // r, h // s, w // s)


def seeded_noise(shape, seed: int, window: int) -> torch.Tensor:
    """The noise of window `window`: a CPU generator seeded from the stream's seed, so every
    device draws the same numbers."""
    g = torch.Generator(device="cpu").manual_seed((seed * 1_000_003 + window) % 2**63)
    return torch.randn(shape, generator=g)


@architecture("Refiner")
def _build(config: dict) -> Refiner:
    return Refiner(RefinerConfig.from_dict(config))
