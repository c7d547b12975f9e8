"""S²VC's single-step diffusion generator (Xue et al., CVPR 2026), on diffusers' Stable
Diffusion classes (`UNet2DConditionModel`, `AutoencoderKL`, Rombach et al. 2022).

    decoded feature F_t (F, 1/8) ──head (in place of the U-Net's conv_in)──> U-Net at the fixed
        timestep t*, cross-attending to CSG tokens ──> latent (4, 1/8) ──VAE decoder──> frame
    CSG  Contextual Semantic Guidance: F_t pooled to a g x g grid, one attention + feed-forward
         layer -> g^2 tokens of the cross-attention width, in place of text embeddings (no
         caption, no text encoder); a learned frame-type token (I / P) is added to each
    TCG  Temporal Consistency Guidance: after each of the first `tcg_blocks` down blocks,
         h <- h + Z(concat(h, h_prev)), h_prev the same block's output for the previous frame
         (the diffusion buffer), Z a zero-initialised 1x1 convolution, so the step starts as
         the plain U-Net and learns how much of the previous frame to carry
    skip (our tiny model, trained from scratch): frame = base + VAE decoder(latent), base the
         conditional coder's own reconstruction and the decoder's last layer zero-initialised,
         so the generator starts as --no-generate (the skip idea of pix2pix-turbo, Parmar et
         al. 2024). A pretrained SD VAE decodes images: skip off, frame = VAE decoder(latent).
    skip head (`skip_head` > 0, with skip): the VAE decoder's last feature map at full
         resolution and the base frame together through three 3x3 convolutions (the last
         zero-initialised), added to the frame: the generator sees the coder's frame at full
         resolution, as the Diff-SIT refiner's skip head sees its intermediate frame; the
         decoder alone only sees the 1/8 feature.

The paper fine-tunes a pretrained U-Net with LoRA, separate adapters for I- and P-frames: with
`lora_rank` > 0 the U-Net gets peft adapters "I" and "P" and each frame selects its own.
The diffusion buffer is state: `forward` takes the previous one and returns the new one.
"""

from __future__ import annotations

from ..torch_env import torch
from torch import nn
from torch.nn import functional as F

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
FRAME_TYPES = ("I", "P")


def tiny_unet_config() -> dict:
    return dict(sample_size=32, in_channels=4, out_channels=4, block_out_channels=[32, 64],
                layers_per_block=1, down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], cross_attention_dim=32,
                attention_head_dim=8, norm_num_groups=8)


def tiny_vae_config() -> dict:
    return dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[16, 32, 32, 32],
                layers_per_block=1, norm_num_groups=8,
                down_block_types=["DownEncoderBlock2D"] * 4,
                up_block_types=["UpDecoderBlock2D"] * 4)


class SemanticGuidance(nn.Module):
    """CSG: tokens from the decoded feature (module docstring)."""

    def __init__(self, F_ch: int, width: int, grid: int):
        super().__init__()
        self.grid = grid
        self.proj = nn.Linear(F_ch, width)
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, width))
        self.type_token = nn.Parameter(torch.zeros(len(FRAME_TYPES), width))
        self.layer = nn.TransformerEncoderLayer(width, nhead=max(1, width // 16),
                                                dim_feedforward=2 * width, dropout=0.0,
                                                batch_first=True, norm_first=True)

    def forward(self, feature: torch.Tensor, frame_type: int) -> torch.Tensor:
        g = F.adaptive_avg_pool2d(feature, self.grid).flatten(2).transpose(1, 2)
        t = self.proj(g) + self.pos + self.type_token[frame_type]
        return self.layer(t)


class Generator(nn.Module):
    def __init__(self, F_ch: int, unet, vae, *, grid: int = 4, tcg_blocks: int = 1,
                 timestep: float = 500.0, skip: bool = True, lora_rank: int = 0,
                 skip_head: int = 0):
        super().__init__()
        self.unet, self.vae = unet, vae
        self.vae.encoder = None  # only the decoder is used
        self.vae.quant_conv = None
        c0 = unet.config.block_out_channels[0]
        unet.conv_in = nn.Conv2d(F_ch, c0, 3, padding=1)  # the head
        self.csg = SemanticGuidance(F_ch, unet.config.cross_attention_dim, grid)
        widths = [unet.config.block_out_channels[i] for i in range(tcg_blocks)]
        self.tcg = nn.ModuleList(nn.Conv2d(2 * w, w, 1) for w in widths)
        for z in self.tcg:
            nn.init.zeros_(z.weight)
            nn.init.zeros_(z.bias)
        self.timestep, self.skip, self.lora_rank = timestep, skip, lora_rank
        if skip:
            nn.init.zeros_(vae.decoder.conv_out.weight)
            nn.init.zeros_(vae.decoder.conv_out.bias)
        self.head = None
        if skip and skip_head > 0:
            c = vae.decoder.conv_out.in_channels
            self.head = nn.Sequential(
                nn.Conv2d(3 + c, skip_head, 3, padding=1), nn.SiLU(),
                nn.Conv2d(skip_head, skip_head, 3, padding=1), nn.SiLU(),
                nn.Conv2d(skip_head, 3, 3, padding=1))
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)
            self._last: torch.Tensor | None = None
            vae.decoder.conv_act.register_forward_hook(self._keep_last)
        if lora_rank > 0:
            import warnings

            from peft import LoraConfig

            with warnings.catch_warnings():  # peft warns of a second adapter: one per frame type
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                for name in FRAME_TYPES:
                    unet.add_adapter(LoraConfig(r=lora_rank, lora_alpha=lora_rank,
                                                init_lora_weights=True,
                                                target_modules=LORA_TARGETS), adapter_name=name)
        self._io: dict | None = None
        for i in range(tcg_blocks):
            unet.down_blocks[i].register_forward_hook(self._hook(i))

    def _keep_last(self, module, args, out):
        self._last = out  # the VAE decoder's last feature map, before conv_out

    def _hook(self, i: int):
        def fuse(module, args, out):
            io = self._io
            h, res = out
            prev = io["prev"][i] if io["prev"] is not None else torch.zeros_like(h)
            h = h + self.tcg[i](torch.cat([h, prev], 1))
            io["new"].append(h)
            return h, res[:-1] + (h,)
        return fuse

    def forward(self, feature: torch.Tensor, base: torch.Tensor | None, frame_type: int,
                buffer: list[torch.Tensor] | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(frame (B,3,H,W), the new diffusion buffer) from the decoded feature, the frame to
        add to (skip), the frame type (0 I, 1 P) and the previous diffusion buffer (None at a
        reset)."""
        if self.lora_rank > 0:
            self.unet.set_adapter(FRAME_TYPES[frame_type])
        tokens = self.csg(feature, frame_type)
        t = torch.full((feature.shape[0],), self.timestep, device=feature.device)
        self._io = {"prev": buffer, "new": []}
        try:
            latent = self.unet(feature, t, encoder_hidden_states=tokens).sample
        finally:
            io, self._io = self._io, None
        if not self.skip:  # a pretrained SD VAE: its latents are scaled (scaling_factor)
            latent = latent / self.vae.config.scaling_factor
        z = self.vae.post_quant_conv(latent) if self.vae.post_quant_conv is not None else latent
        out = self.vae.decoder(z)
        if self.head is not None:
            last, self._last = self._last, None
            out = out + self.head(torch.cat([base, last], 1))
        frame = base + out if self.skip else (out + 1) / 2  # SD's VAE decodes [-1, 1]
        return frame, io["new"]
