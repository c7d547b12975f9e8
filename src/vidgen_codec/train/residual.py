"""`vgc train residual`: the P-frame residual model of STEM, fine-tuned from the intra model.

A training sample is what the STEM encoder codes for a P backbone (DVC-style residual coding,
Lu et al., "DVC: An End-to-end Deep Video Compression Framework", CVPR 2019):

    clip frames (ref at t, target at t+g, |g| in 1..16)
      ref --(half of the time) intra model round trip at a random level--> decoded-like ref
      DIS flow(target -> ref) -> block field (block 8/16/32) -> quantized (1/4..1 pel)
      pred = warp(ref, dense(field));  residual image r = (target - pred) / 2 + 0.5

The model is an IntraModel (same architecture, same code path in the codec) trained on r with
distortion weighted x4, since the frame error is twice the residual-image error.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from ..torch_env import torch

from ..codecs.stem.motion import RESIDUAL_SCALE, residual_image
from ..errors import TrainingDataError
from ..models.intra_model import IntraConfig, IntraModel
from ..motion.estimate import block_field, dense_flow
from ..motion.warp import dense_from_blocks, warp
from .data import DEFAULT_HOLDOUT, VIDEO_EXT, training_files
from ..weights import without_tables
from .intra import peek_step, train_rd



def load_clips(root, *, holdout=DEFAULT_HOLDOUT, only=None,
               max_frames: int = 400) -> list[np.ndarray]:
    """Each training video (or each one named in `only`) as a (T, H, W, 3) uint8 array of its
    first `max_frames` frames."""
    from ..video_io import read_frames

    clips = []
    for p in training_files(root, holdout, VIDEO_EXT):
        if only is None or p.name in only:
            clips.append(np.stack(list(read_frames(str(p), count=max_frames))))
    if not clips:
        raise TrainingDataError(f"no training videos under {root}")
    return clips


class ResidualSampler:
    """Random motion-compensated residual patches (see module docstring)."""

    def __init__(self, clips: list[np.ndarray], size: int, seed: int,
                 degrade: IntraModel | None = None):
        self.clips = [c for c in clips if min(c.shape[1:3]) >= size + 32 and len(c) >= 2]
        if not self.clips:
            raise TrainingDataError(f"no training clip of 2+ frames at least {size + 32} px")
        self.size = size
        self.rng = random.Random(seed)
        self.degrade = degrade

    def pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(target, prediction), each (1,3,size,size) in [0,1]."""
        r = self.rng
        clip = self.clips[r.randrange(len(self.clips))]
        t_len, h, w = clip.shape[:3]
        g = r.randint(1, min(16, t_len - 1)) * (1 if r.random() < 0.5 else -1)
        i = r.randrange(max(0, -g), t_len - max(0, g))
        s = self.size
        y0, x0 = r.randrange(h - s + 1), r.randrange(w - s + 1)
        ref_u8 = clip[i, y0:y0 + s, x0:x0 + s]
        tgt_u8 = clip[i + g, y0:y0 + s, x0:x0 + s]
        block = r.choice([8, 16, 32])
        step = r.choice([0.25, 0.5, 1.0])
        field = np.round(block_field(dense_flow(tgt_u8, ref_u8), block) / step) * step
        ref = _tensor(ref_u8)
        if self.degrade is not None and r.random() < 0.5:
            with torch.no_grad():
                k = torch.tensor([float(r.randrange(self.degrade.cfg.levels))])
                ref = self.degrade(ref, k)["x_hat"].clamp(0, 1)
        pred = warp(ref, dense_from_blocks(torch.from_numpy(field), s, s))
        return _tensor(tgt_u8), pred

    def batch(self, n: int) -> torch.Tensor:
        out = []
        for _ in range(n):
            tgt, pred = self.pair()
            out.append(residual_image(tgt, pred))
        return torch.cat(out)


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float().div(255)


def train_residual(data: str, out: str, *, init_weights=None, steps: int = 4000,
                   resume: bool = False, batch: int = 8, patch: int = 128,
                   lr: float = 1e-4, seed: int = 0, ckpt_every: int = 250,
                   device: str = "cpu", deadline: float | None = None,
                   init_stem=None) -> Path:
    """Fine-tune the residual model from the intra weights, or from the residual model of
    the stem weights folder `init_stem` (or continue a run)."""
    from ..codecs.intra import IntraCodec

    intra = IntraCodec.load(init_weights)
    cfg = IntraConfig(**{**intra.cfg.to_dict(), "model_id": "stem-residual-n64m96"})
    start = intra.model
    if init_stem is not None:
        from ..codecs.stem import StemCodec

        start = StemCodec.load(init_stem).model.residual
        cfg = start.cfg
    step = peek_step(Path(out) / "ckpt.pt") if resume else 0
    clips = load_clips(data)
    sampler = ResidualSampler(clips, patch, seed=seed + step, degrade=intra.model.eval())
    val = None
    try:  # validation on the held-out clips, when the data folder has them
        held = load_clips(data, holdout=(), only=DEFAULT_HOLDOUT, max_frames=60)
        val = ResidualSampler(held, 128, seed=12345).batch(8)
    except FileNotFoundError:
        pass
    return train_rd(out, sampler, val, steps=steps, resume=resume, batch=batch, lr=lr,
                    seed=seed, ckpt_every=ckpt_every, cfg=cfg,
                    init=without_tables(start.state_dict()), dist_scale=RESIDUAL_SCALE**2,
                    desc="train residual", device=device, deadline=deadline)
