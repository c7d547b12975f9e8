"""Turn a training checkpoint into shipped weights (safetensors + config.json + sha256)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import WeightsError


def export_checkpoint(ckpt: Path, out_dir: Path) -> bytes:
    from ..codecs.intra import export_intra
    from ..models.intra_model import IntraConfig, IntraModel

    if not ckpt.exists():
        raise WeightsError(f"no checkpoint at {ckpt}")
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    model = IntraModel(IntraConfig(**ck["config"]))
    model.load_state_dict(ck["model"], strict=False)
    return export_intra(model.eval(), out_dir)
