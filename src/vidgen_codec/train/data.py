"""Training images from a data folder: photos plus frames sampled from videos.

Layout expected (as in ../shared/data): any tree of images (.jpg/.png) and videos
(.mp4/.avi/.mkv/.mov/.webm/.y4m). Clips whose file name is listed in `holdout` are skipped so
they stay a validation set.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".y4m"}
DEFAULT_HOLDOUT = ("cup.mp4", "tree.avi")


def load_pool(root: str | Path, *, holdout=DEFAULT_HOLDOUT, frame_step: int = 6,
              max_side: int = 1024) -> list[np.ndarray]:
    """Decode every image and every `frame_step`-th frame of each video into RGB uint8 arrays.

    Large photos are downscaled so their longer side is at most `max_side` (photos are much
    larger than the video frames the codec sees).
    """
    from PIL import Image

    from ..video_io import read_frames

    pool: list[np.ndarray] = []
    files = sorted(p for p in Path(root).rglob("*") if p.is_file())
    for p in files:
        ext = p.suffix.lower()
        if p.name in holdout:
            continue
        if ext in IMAGE_EXT:
            im = Image.open(p).convert("RGB")
            s = max_side / max(im.size)
            if s < 1:
                im = im.resize((round(im.width * s), round(im.height * s)), Image.BICUBIC)
            pool.append(np.asarray(im))
        elif ext in VIDEO_EXT:
            for i, f in enumerate(read_frames(str(p))):
                if i % frame_step == 0:
                    pool.append(f)
    if not pool:
        raise FileNotFoundError(f"no images or videos found under {root}")
    return pool


class PatchSampler:
    """Random crops (with random downscale and flips) from the pool, as float tensors."""

    def __init__(self, pool: list[np.ndarray], size: int, seed: int):
        self.pool = [p for p in pool if min(p.shape[:2]) >= size]
        self.size = size
        self.rng = random.Random(seed)

    def batch(self, n: int) -> torch.Tensor:
        out = []
        for _ in range(n):
            img = self.pool[self.rng.randrange(len(self.pool))]
            h, w = img.shape[:2]
            # crop a window of side c >= size and resize it down to size: scale augmentation
            c = min(h, w, int(self.size * self.rng.uniform(1.0, 2.0)))
            y0, x0 = self.rng.randrange(h - c + 1), self.rng.randrange(w - c + 1)
            t = torch.from_numpy(np.ascontiguousarray(img[y0:y0 + c, x0:x0 + c]))
            t = t.permute(2, 0, 1).float().div(255).unsqueeze(0)
            if c != self.size:
                t = torch.nn.functional.interpolate(t, size=(self.size, self.size),
                                                    mode="area")
            if self.rng.random() < 0.5:
                t = t.flip(3)
            out.append(t)
        return torch.cat(out)

