"""The encoder's refinement gate: which refiner windows of a GOP the decoder applies.

The encoder has the originals, so it runs the decoder's refiner on each window of a coded GOP
(`windows.window_spans`, `windows.run_window`: the same windows, noise and frames as the
decoder) and sets bit k of the GOP's refine mask when window k's refined frames score higher
than its unrefined ones on the structure search's measure (a fast luma SSIM against the
originals, `codecs/stem/candidate.py` score). A refined window is so never worse than the unrefined one on its
own frames; a frame shared by two windows is the mean of their versions (`windows`).
"""

from __future__ import annotations

from ..torch_env import torch

from ..frames import to_uint8
from .windows import WindowItem, run_window, window_spans


@torch.no_grad()
def choose_mask(ref, frames: list[torch.Tensor], types: list[int], t0: int, seed: int,
                score, levels: list | None = None) -> int:
    """frames: the GOP's decoded (1,3,hp,wp) frames in display order, types their frame
    types, levels their `BackboneLevel`s (None: unknown); score(list of uint8 frames,
    offset of the first in the GOP) -> higher is better."""
    w = ref.cfg.window
    mask = 0
    for k, (s, m) in enumerate(window_spans(len(frames), w)):
        items = [WindowItem(t0 + i, frames[i], types[i], *([levels[i]] if levels else []))
                 for i in range(s, s + m)]
        items += [items[-1]] * (w - m)
        refined = run_window(ref, items, seed)[:m]
        plain = [to_uint8(f)[0] for f in frames[s:s + m]]
        better = [to_uint8(f.clamp(0, 1))[0] for f in refined]
        if score(better, s) > score(plain, s):
            mask |= 1 << k
    return mask
