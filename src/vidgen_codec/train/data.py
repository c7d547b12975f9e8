"""Training images from a data folder: photos plus frames sampled from videos.

Layout expected (as in ../shared/data): any tree of images (.jpg/.png) and videos
(.mp4/.avi/.mkv/.mov/.webm/.y4m). Clips whose file name is listed in `holdout` are skipped so
they stay a validation set.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

import numpy as np
from ..torch_env import torch

from ..errors import TrainingDataError

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".y4m"}
DEFAULT_HOLDOUT = ("cup.mp4", "tree.avi")


def training_files(root: str | Path, holdout, exts) -> list[Path]:
    """Files under root with one of `exts`, in name order, less the held-out names."""
    return sorted(p for p in Path(root).rglob("*")
                  if p.is_file() and p.suffix.lower() in exts and p.name not in holdout)


def read_photo(path: Path, fit: Callable[[int, int], tuple[int, int]]) -> np.ndarray:
    """RGB uint8 array of an image, resized (bicubic) to fit(width, height)."""
    from PIL import Image

    im = Image.open(path).convert("RGB")
    size = fit(*im.size)
    if size != im.size:
        im = im.resize(size, Image.BICUBIC)
    return np.asarray(im)


def load_pool(root: str | Path, *, holdout=DEFAULT_HOLDOUT, frame_step: int = 6,
              max_side: int = 1024) -> list[np.ndarray]:
    """Decode every image and every `frame_step`-th frame of each video into RGB uint8 arrays.

    Large photos are downscaled so their longer side is at most `max_side` (photos are much
    larger than the video frames the codec sees).
    """
    from ..video_io import read_frames

    def fit(w, h):
        s = min(1.0, max_side / max(w, h))
        return round(w * s), round(h * s)

    pool: list[np.ndarray] = []
    for p in training_files(root, holdout, IMAGE_EXT | VIDEO_EXT):
        if p.suffix.lower() in IMAGE_EXT:
            pool.append(read_photo(p, fit))
        else:
            for i, f in enumerate(read_frames(str(p))):
                if i % frame_step == 0:
                    pool.append(f)
    if not pool:
        raise TrainingDataError(f"no images or videos found under {root}")
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

