"""Turn a training checkpoint into shipped weights (safetensors + config.json + sha256)."""

from __future__ import annotations

from pathlib import Path

from ..torch_env import torch

from ..errors import WeightsError
from ..weights import TABLE_BUFFERS, without_tables


def export_checkpoint(ckpt: Path, out_dir: Path) -> bytes:
    from ..codecs.intra import export_intra
    from ..models.intra_model import IntraConfig, IntraModel

    if not ckpt.exists():
        raise WeightsError(f"no checkpoint at {ckpt}")
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    model = IntraModel(IntraConfig(**ck["config"]))
    _load_checked(model, ck["model"], ckpt)
    return export_intra(model.eval(), out_dir)


def _load_checked(model, state: dict, ckpt: Path) -> None:
    """load_state_dict that tolerates only the CDF tables (rebuilt at export) being absent."""
    missing, unexpected = model.load_state_dict(without_tables(state), strict=False)
    missing = [k for k in missing if not k.endswith(TABLE_BUFFERS)]
    if missing or unexpected:
        raise WeightsError(f"{ckpt} does not fit the model: missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}")


def export_residual(ckpt: Path, out_dir: Path, intra_dir: str = "../intra") -> bytes:
    """STEM weights: the residual model of `ckpt` plus the motion tables, naming the intra
    weights at `intra_dir` (relative to `out_dir`) by their sha256."""
    from ..codecs.intra import build_tables
    from ..models.intra_model import IntraConfig, IntraModel
    from ..models.stem_model import StemConfig, StemModel
    from ..weights import read_config, save_weights

    if not ckpt.exists():
        raise WeightsError(f"no checkpoint at {ckpt}")
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    residual = IntraModel(IntraConfig(**ck["config"]))
    _load_checked(residual, ck["model"], ckpt)
    build_tables(residual)
    intra_meta = read_config((out_dir / intra_dir).resolve(), "IntraModel")
    cfg = StemConfig(residual=residual.cfg.to_dict(), intra_dir=intra_dir,
                     intra_sha256=intra_meta["sha256"])
    model = StemModel(cfg)
    model.residual = residual.eval()
    return save_weights(model, cfg.to_dict(), "StemModel", out_dir)


def export_refiner(ckpt: Path, out_dir: Path) -> bytes:
    """Shipped weights from a checkpoint: the whole tiny refiner, or an adapter folder."""
    from ..models.refiner import Refiner, RefinerConfig
    from ..refine.loading import ARCHITECTURE
    from ..weights import save_state

    if not ckpt.exists():
        raise WeightsError(f"no checkpoint at {ckpt}")
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = RefinerConfig.from_dict(ck["config"])
    if cfg.vae is not None:  # check it loads before writing
        Refiner(cfg).load_state_dict(ck["model"], strict=True)
    return save_state(ck["model"], cfg.to_dict(), ARCHITECTURE, out_dir)


def export_s2vc(ckpt: Path, out_dir: Path, intra_dir: str = "../intra") -> bytes:
    """Shipped weights from a checkpoint: CDF tables built, naming the intra weights it
    was trained with (by sha256, as stem does)."""
    from ..codecs.intra import build_tables
    from ..models.s2vc_model import S2vcConfig, S2vcModel
    from ..weights import read_config, save_state

    if not ckpt.exists():
        raise WeightsError(f"no checkpoint at {ckpt}")
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    intra_meta = read_config((Path(out_dir) / intra_dir).resolve(), "IntraModel")
    cfg = S2vcConfig(**{**ck["config"], "intra_dir": intra_dir,
                        "intra_sha256": intra_meta["sha256"]})
    model = S2vcModel(cfg, Path(cfg.base_dir) if cfg.unet is None else None)
    model.load_state_dict(ck["model"], strict=cfg.unet is not None)
    build_tables(model.coder)
    return save_state(model.adapter_state(), cfg.to_dict(), "S2vcModel", Path(out_dir))


def export_upsampler(ckpt: Path, out_dir: Path) -> bytes:
    """Shipped weights from an upsampler checkpoint (`train.upsampler`, read by `priors.own`),
    checked to build before they are written."""
    from ..priors.own import ARCHITECTURE, chain_model
    from ..priors.upconv7 import UpConv7
    from ..weights import save_state

    if not ckpt.exists():
        raise WeightsError(f"no checkpoint at {ckpt}")
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    UpConv7(chain_model(ck["tensors"], ck["config"]))
    return save_state(ck["tensors"], ck["config"], ARCHITECTURE, out_dir)
