"""The learned parts of STEM that are not the intra model: the P-frame residual model and the
motion codec's probability tables, saved together as one weights folder.

    StemModel
      .residual : IntraModel trained on motion-compensated residual images (train/residual.py)
      buffers mv_cdf/mv_length/mv_offset, mode_cdf/mode_length/mode_offset (motion/tables.py)

The I-frames of STEM use the intra codec's weights, found at `intra_dir` (relative to the STEM
weights folder) and checked against `intra_sha256`.
"""

from __future__ import annotations

from ..torch_env import torch
from torch import nn

from ..motion.tables import build_tables
from ..weights import architecture
from .configs import STEM_ARCHITECTURE, IntraConfig, StemConfig
from .intra_model import IntraModel


class StemModel(nn.Module):
    def __init__(self, cfg: StemConfig):
        super().__init__()
        self.cfg = cfg
        self.residual = IntraModel(IntraConfig(**cfg.residual))
        for name, array in build_tables().items():
            self.register_buffer(name, torch.from_numpy(array))


@architecture(STEM_ARCHITECTURE)
def _build(config: dict) -> StemModel:
    return StemModel(StemConfig(**config))
