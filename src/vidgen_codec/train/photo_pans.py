"""Still photos as camera pans: texture-rich training clips for the refiner.

The training videos are mostly flat (a surveillance scene, animation); foliage, fabric, water
and fur come from the photos. Each photo becomes one clip: a `size` x `size` window that moves at
a constant sub-pixel velocity (up to `max_speed` px per frame, any direction) and zooms slowly,
resampled bilinearly from the photo (downscaled first so its shorter side is 2 * size). The
motion is what block motion and warping meet in real pans; the sub-pixel steps and resampling
keep the frames from being exact copies of one another.
"""

from __future__ import annotations

import math
import random

import numpy as np
from ..torch_env import torch
import torch.nn.functional as F

from .data import DEFAULT_HOLDOUT, IMAGE_EXT, read_photo, training_files


def photo_pans(root, *, frames: int = 40, size: int = 256, max_speed: float = 2.0,
               seed: int = 0, holdout=DEFAULT_HOLDOUT) -> list[np.ndarray]:
    """One (frames, size, size, 3) uint8 pan clip per photo under `root`."""
    def fit(w, h):
        s = 2 * size / min(w, h)
        return max(size, round(w * s)), max(size, round(h * s))

    rng = random.Random(seed)
    return [pan(read_photo(p, fit), frames, size, max_speed, rng)
            for p in training_files(root, holdout, IMAGE_EXT)]


def pan(photo: np.ndarray, frames: int, size: int, max_speed: float,
        rng: random.Random) -> np.ndarray:
    h, w = photo.shape[:2]
    angle, speed = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, max_speed)
    zoom = rng.uniform(-0.003, 0.003)  # relative scale change per frame
    vx, vy = speed * math.cos(angle), speed * math.sin(angle)
    # the window's path must stay inside the photo (the zoom only shrinks or grows it a little)
    span_x, span_y = abs(vx) * (frames - 1), abs(vy) * (frames - 1)
    margin = size * abs(zoom) * frames
    x0 = rng.uniform(margin + (span_x if vx < 0 else 0),
                     max(margin, w - size - margin - (span_x if vx > 0 else 0)))
    y0 = rng.uniform(margin + (span_y if vy < 0 else 0),
                     max(margin, h - size - margin - (span_y if vy > 0 else 0)))
    src = torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None].float()
    lin = torch.linspace(0, size - 1, size)
    out = []
    for t in range(frames):
        scale = 1 + zoom * t
        cx, cy = x0 + vx * t + size / 2, y0 + vy * t + size / 2
        xs = (cx + (lin - size / 2) * scale) / (w - 1) * 2 - 1
        ys = (cy + (lin - size / 2) * scale) / (h - 1) * 2 - 1
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)[None]
        f = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)
        out.append(f[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())
    return np.stack(out)
