"""The S²VC model: the conditional coder (`s2vc_coder`) and the generator (`s2vc_generator`),
saved as one weights folder whose config names its I-frame coder's weights (`intra_dir`, as
stem does) and, for a full-size model, the diffusers folder its U-Net and VAE come from.

    S2vcConfig.unet / .vae   diffusers configs of the tiny networks we train, or None: the
                             U-Net (`unet/`) and VAE (`vae/`) of an SD-1.5-shaped diffusers
                             folder, `base_dir` (relative to the weights folder, or absolute);
                             the safetensors then hold everything else (coder, head, CSG, TCG,
                             LoRA adapters I and P), `adapter_state`
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

from ..torch_env import torch  # noqa: F401  (numerics: thread-invariant settings)

from ..errors import WeightsError
from ..weights import architecture
from .s2vc_coder import ConditionalCoder
from .s2vc_generator import Generator, tiny_unet_config, tiny_vae_config


@dataclass
class S2vcConfig:
    F: int = 32  # feature channels (1/8)
    M: int = 48  # latent channels (1/16)
    N: int = 32  # hyper-latent channels (1/64)
    # rate levels, lower than intra's: P-frames at 0.01-0.05 bpp (ultra-low clip targets)
    lambdas: list[float] = field(default_factory=lambda: [0.0001, 0.0002, 0.0004, 0.0008,
                                                          0.0016, 0.0032])
    unet: dict | None = field(default_factory=tiny_unet_config)
    vae: dict | None = field(default_factory=tiny_vae_config)
    base_dir: str = ""  # diffusers folder with unet/ and vae/ when unet and vae are None
    grid: int = 4  # CSG tokens: grid x grid
    tcg_blocks: int = 1
    timestep: float = 500.0
    skip: bool = True
    skip_head: int = 0  # width of the generator's full-resolution skip head (0: none)
    lora_rank: int = 0
    gop: int = 32  # the reset period: an I-frame every gop frames
    i_weight: float = 4.0  # an I-frame's share of a GOP's bytes against a P-frame's 1
    intra_dir: str = "../intra"
    intra_sha256: str = ""
    model_id: str = "s2vc-tiny"

    @property
    def levels(self) -> int:
        return len(self.lambdas)

    def to_dict(self) -> dict:
        return asdict(self)


class S2vcModel(nn.Module):
    def __init__(self, cfg: S2vcConfig, base: Path | None = None):
        super().__init__()
        self.cfg = cfg
        self.coder = ConditionalCoder(cfg.F, cfg.M, cfg.N, cfg.levels)
        unet, vae = _networks(cfg, base)
        self.generator = Generator(cfg.F, unet, vae, grid=cfg.grid, tcg_blocks=cfg.tcg_blocks,
                                   timestep=cfg.timestep, skip=cfg.skip,
                                   lora_rank=cfg.lora_rank, skip_head=cfg.skip_head)

    def adapter_state(self) -> dict:
        """What the weights file holds: all, or on a pretrained base all but its weights."""
        state = self.state_dict()
        if self.cfg.unet is not None:
            return state
        keep = ("generator.unet.conv_in.", "generator.csg.", "generator.tcg.")
        return {k: v for k, v in state.items()
                if not k.startswith("generator.") or k.startswith(keep) or "lora_" in k}


def _networks(cfg: S2vcConfig, base: Path | None):
    from diffusers import AutoencoderKL, UNet2DConditionModel

    if cfg.unet is not None and cfg.vae is not None:
        return UNet2DConditionModel(**cfg.unet), AutoencoderKL(**cfg.vae)
    if base is None:
        raise WeightsError("this s2vc model's U-Net and VAE come from a diffusers folder "
                           f"({cfg.base_dir or 'base_dir unset'}), and none was found")
    for sub in ("unet", "vae"):
        if not (base / sub / "config.json").is_file():
            raise WeightsError(f"{base} is not a diffusers folder: no {sub}/config.json")
    try:
        return (UNet2DConditionModel.from_pretrained(base / "unet"),
                AutoencoderKL.from_pretrained(base / "vae"))
    except (OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"cannot load the U-Net and VAE in {base}: {e}") from None


@architecture("S2vcModel")
def _build(config: dict) -> S2vcModel:
    return S2vcModel(S2vcConfig(**config))
