"""Distortion metrics: RGB PSNR, BT.601 luma PSNR and MS-SSIM (Wang et al., 2003), on the CPU.

Inputs, one convention per type (either argument may use either):

    numpy uint8        HxWx3 or NxHxWx3, RGB in [0, 255]   (what video_io yields)
    list of the above  stacked along N
    torch float        3xHxW or Nx3xHxW, RGB in [0, 1]     (what frames.to_tensor gives)

Everything is compared on the [0, 255] scale: PSNR peak 255, MS-SSIM data_range 255.

    a, b --as Nx3xHxW in [0,255]--> psnr    (MSE over every pixel of every frame)
                                  -> psnr_y  (same on BT.601 limited-range luma)
                                  -> psnr_yuv (6:1:1 mean of Y', Cb, Cr PSNRs)
                                  -> ms_ssim (mean over frames)

MS-SSIM uses 5 scales and an 11-tap window, which needs the short side to exceed 160 px.
Smaller frames get fewer scales (the largest count that fits, with the standard weights
renormalised); below 11 px, single-scale SSIM with a smaller window. `ms_ssim_scales` tells
how many were used: scores at different scale counts are not comparable. MS-SSIM needs the
pytorch-msssim package (the `bench` extra) and torch; the PSNRs of numpy frames are computed in
numpy (no torch: the av1 encoder's measures), of tensors in torch.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported on first use: `sse` (the av1 encoder's) needs no torch
    import torch

PSNR_CAP = 100.0
"""Value `psnr_capped` reports for identical inputs (and caps anything above it)."""

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW, _SIGMA = 11, 1.5
_CHUNK = 8  # frames per MS-SSIM batch, to bound memory on long clips


def sse(a: np.ndarray, b: np.ndarray) -> int:
    """Sum of squared differences of two integer arrays of one shape (uint8 frames), exact."""
    d = a.astype(np.int64) - b
    return int(np.sum(d * d))


def psnr(a, b) -> float:
    """RGB PSNR in dB, peak 255, over all pixels of all frames; inf when a == b."""
    return psnr_from_mse(_mse(_as_255(a), _as_255(b)))


def psnr_capped(a, b, cap: float = PSNR_CAP) -> float:
    """`psnr` limited to `cap` dB, so identical frames average and plot as finite numbers."""
    return min(psnr(a, b), cap)


def psnr_per_frame(a, b) -> list[float]:
    """RGB PSNR of each frame (inf for identical frames)."""
    x, y = _check_pair(_as_255(a), _as_255(b))
    return [psnr_from_mse(_mse(x[i], y[i])) for i in range(x.shape[0])]


def psnr_y(a, b) -> float:
    """PSNR of BT.601 luma, Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in
    [0, 255] (limited range, Y in [16, 235], as ffmpeg converts to yuv420p), peak 255."""
    x, y = _check_pair(_as_255(a), _as_255(b))
    return psnr_from_mse(_mse(_luma(x), _luma(y)))


def psnr_yuv(a, b) -> float:
    """(6 PSNR_Y + PSNR_Cb + PSNR_Cr) / 8 of BT.601 limited-range Y'CbCr at full resolution,
    each over all frames, peak 255: the weighting of JVET's common test conditions, which
    counts colour errors that `psnr_y` cannot see. Each plane's PSNR is capped at PSNR_CAP, so
    an exact plane does not make the mean infinite."""
    return psnr_yuv_from_sse(*ycbcr_sse(a, b))


def ycbcr_sse(a, b) -> tuple[tuple[float, float, float], int]:
    """(sums of squared Y', Cb, Cr differences, pixels per plane) over every frame, read a few
    frames at a time (a GOP of 1080p frames in float64 is gigabytes)."""
    sse, count = [0.0, 0.0, 0.0], 0
    for x, y in _chunks(a, b):
        for k, plane in enumerate((_luma, _cb, _cr)):
            sse[k] += float(((plane(x) - plane(y)) ** 2).sum())
        count += x.shape[0] * x.shape[2] * x.shape[3]
    return (sse[0], sse[1], sse[2]), count


def psnr_yuv_from_sse(sse: tuple[float, float, float], count: int) -> float:
    """`psnr_yuv` from `ycbcr_sse`'s sums (added up over parts of a clip)."""
    if count <= 0:
        raise ValueError("no pixels to compare")
    py, pb, pr = (min(psnr_from_mse(e / count), PSNR_CAP) for e in sse)
    return (6 * py + pb + pr) / 8


def ms_ssim(a, b) -> float:
    """MS-SSIM on RGB with data_range 255, averaged over frames; 1.0 when a == b.

    Frames with a short side of 160 px or less use fewer scales, see `ms_ssim_scales`.
    """
    x, y = _check_pair(_tensor(_as_255(a)), _tensor(_as_255(b)))
    total = 0.0
    for i in range(0, x.shape[0], _CHUNK):
        xs, ys = x[i:i + _CHUNK].float(), y[i:i + _CHUNK].float()
        total += float(_ms_ssim_batch(xs, ys).sum())
    return total / x.shape[0]


def ms_ssim_scales(height: int, width: int) -> int:
    """Number of MS-SSIM scales `ms_ssim` uses for frames of this size (5 is the standard)."""
    side, scales = min(height, width), 1
    while scales < len(_MS_SSIM_WEIGHTS) and side > (_WINDOW - 1) * 2 ** scales:
        scales += 1
    return scales


# --- internals ----------------------------------------------------------------------------

def _as_255(x):
    """Any accepted input -> (N,3,H,W) float64 on the [0, 255] scale: a numpy array for numpy
    frames (no torch: the av1 encoder's measures), a tensor for tensors."""
    if isinstance(x, (list, tuple)):
        x = np.stack(x)
    torch = sys.modules.get("torch")
    if isinstance(x, np.ndarray):
        if x.dtype != np.uint8:
            raise TypeError(f"numpy frames must be uint8 RGB, got {x.dtype}")
        x = (x if x.ndim == 4 else x[None]).transpose(0, 3, 1, 2).astype(np.float64)
    elif torch is not None and isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"tensors must be float in [0, 1], got {x.dtype}")
        x = (x if x.dim() == 4 else x[None]).detach().cpu().double() * 255
    else:
        raise TypeError(f"expected uint8 numpy frames or a float tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB frames, got shape {tuple(x.shape)} (as N,C,H,W)")
    return x


def _tensor(x) -> torch.Tensor:
    """An `_as_255` result as a tensor."""
    from .torch_env import torch

    return torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x


def _chunks(a, b):
    """(x, y) pairs as `_as_255` gives them, _CHUNK frames at a time."""
    n = _count(a)
    if _count(b) != n:
        raise ValueError(f"frame counts differ: {n} vs {_count(b)}")
    for i in range(0, n, _CHUNK):
        yield _check_pair(_as_255(_part(a, i)), _as_255(_part(b, i)))


def _count(x) -> int:
    if isinstance(x, (list, tuple)):
        return len(x)
    torch = sys.modules.get("torch")
    if isinstance(x, np.ndarray) or (torch is not None and isinstance(x, torch.Tensor)):
        return x.shape[0] if x.ndim == 4 else 1
    return _as_255(x).shape[0]  # raises its TypeError


def _part(x, i: int):
    if isinstance(x, (list, tuple)) or x.ndim == 4:
        return x[i:i + _CHUNK]
    return x


def _check_pair(x, y):
    """x, y of one shape; one numpy and one tensor: both tensors."""
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(f"frames differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    if isinstance(x, np.ndarray) != isinstance(y, np.ndarray):
        return _tensor(x), _tensor(y)
    return x, y


def _mse(x, y) -> float:
    x, y = _check_pair(x, y)
    return float(((x - y) ** 2).mean())


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error of 0..255 samples; inf at 0."""
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def _luma(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255


def _cb(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255


def _cr(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255


def _window(height: int, width: int) -> int:
    """11 taps, or the largest odd size that fits a frame smaller than that."""
    side = min(height, width)
    return _WINDOW if side >= _WINDOW else max(1, side - (1 - side % 2))


def _ms_ssim_batch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-frame MS-SSIM of (N,3,H,W) float32 tensors on [0, 255]."""
    try:
        from pytorch_msssim import ms_ssim as library_ms_ssim
        from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim  # 1.0's per-scale SSIM
    except ImportError:
        raise ImportError("ms_ssim needs pytorch-msssim: pip install 'vidgen_codec[bench]'") \
            from None
    h, w = x.shape[-2:]
    scales = ms_ssim_scales(h, w)
    if scales == len(_MS_SSIM_WEIGHTS):
        return library_ms_ssim(x, y, data_range=255, size_average=False)
    # Too small for 5 scales: the same product of per-scale contrast-structure terms and the
    # coarsest SSIM, over fewer scales with the leading weights renormalised to sum to 1.
    from .torch_env import torch
    import torch.nn.functional as F

    weights = torch.tensor(_MS_SSIM_WEIGHTS[:scales], dtype=x.dtype)
    weights = weights / weights.sum()
    win = _fspecial_gauss_1d(_window(h, w), _SIGMA).repeat([x.shape[1], 1, 1, 1])
    terms = []
    for i in range(scales):
        ssim_per_channel, cs = _ssim(x, y, win=win, data_range=255, size_average=False,
                                     K=(0.01, 0.03))
        if i < scales - 1:
            terms.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    terms.append(torch.relu(ssim_per_channel))
    per_channel = torch.prod(torch.stack(terms) ** weights.view(-1, 1, 1), dim=0)
    return per_channel.mean(1)
