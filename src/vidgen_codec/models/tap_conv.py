"""Convolutions on the CPU as a sum of per-tap matrix products (issue 17, part 3).

With oneDNN off (`numerics.thread_invariant`: its blocking, and so its sums, change with the
thread count), torch runs Conv3d through `slow_conv3d`, an im2col whose buffer for the refiner's
first layer (192 input channels x 27 taps) is hundreds of MB: 62 % of a refiner window's time
(benchmarks/RESULTS.md). Writing the convolution as

    y[n, t, h, w, :] = b + sum over taps (i, j, k) of x[n, s_t t + i, s_h h + j, s_w w + k, :] @ W[:, :, i, j, k].T

(the taps gathered into one matrix, or one product per tap's output plane, taps summed in a
fixed order) needs no giant im2col buffer, and each product is one sgemm, which
`thread_invariant` already keeps independent of the thread count. 3-4x faster than slow_conv3d
on the refiner's layers; channels first (rows copied whole) a further 1.3-2x on its small
layers than the first, channels-last version.

`use_tap_convs(module)` routes every Conv2d/Conv3d of a module through it on the CPU (zero
padding, groups 1, dilation 1; anything else, every other device, and layers with at most 16
channels on both sides, where torch's im2col buffer is small and its one C++ call beats a
Python loop over taps, keep torch's own path).
It is the same function of the inputs as torch's convolution, up to float rounding: the sum's
order differs, so a model gives slightly different floats with and without it, and the decoder
and the encoder's refinement gate both run with it.
"""

from __future__ import annotations

import functools

from ..torch_env import torch
import torch.nn.functional as F
from torch import nn


def tap_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
             stride: tuple[int, ...], padding: tuple[int, ...]) -> torch.Tensor:
    """N-d convolution (x: (B, C, *spatial), weight (O, C, *kernel)), groups 1, dilation 1.

    Channels first throughout (a tap's slice of a plane copies in runs of a whole row, and the
    product lands in the output's layout), one sgemm on whichever side has fewer channels:
    - C_in <= C_out (or strided): gather the taps' input slices into one (C_in*taps x pixels)
      matrix, then one product with the (C_out x C_in*taps) weight;
    - C_in > C_out: one product of all taps' weights (taps*C_out x C_in) with the whole
      unpadded input (C_in x pixels), then each tap's output plane, shifted, added in tap
      order where it lands (zero padding adds nothing).
    """
    d = weight.dim() - 2
    kernel, o = tuple(weight.shape[2:]), weight.shape[0]
    b, c = x.shape[:2]
    taps = _taps(kernel)
    if c <= o or any(s != 1 for s in stride):
        if any(padding):
            x = F.pad(x, [p for q in reversed(padding) for p in (q, q)])
        size = tuple((x.shape[2 + a] - kernel[a]) // stride[a] + 1 for a in range(d))
        cols = x.new_empty((b, c, len(taps)) + size)
        for n, tap in enumerate(taps):
            cols[:, :, n] = x[(slice(None), slice(None)) + tuple(
                slice(tap[a], tap[a] + stride[a] * (size[a] - 1) + 1, stride[a])
                for a in range(d))]
        out = _mm(weight.reshape(o, -1), cols.view(b, c * len(taps), -1))  # taps in `taps` order
    else:  # stride 1; the padding is never materialised: each tap adds where it lands
        inner = tuple(x.shape[2:])
        size = tuple(inner[a] + 2 * padding[a] - kernel[a] + 1 for a in range(d))
        w = weight.flatten(2).permute(2, 0, 1).reshape(-1, c)  # (taps*O, C)
        planes = _mm(w, x.reshape(b, c, -1)).view((b, len(taps), o) + inner)
        out = x.new_zeros((b, o) + size)
        for n, tap in enumerate(taps):
            dst, src = [slice(None)] * 2, [slice(None)] * 2
            for a in range(d):
                shift = tap[a] - padding[a]  # output sample i reads input sample i + shift
                lo, hi = max(0, -shift), min(size[a], inner[a] - shift)
                dst.append(slice(lo, max(lo, hi)))
                src.append(slice(lo + shift, max(lo, hi) + shift))
            out[tuple(dst)].add_(planes[:, n][tuple(src)])
        out = out.view(b, o, -1)
    if bias is not None:
        out.add_(bias[:, None])
    return out.view((b, o) + size)


def _mm(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(M, K) @ (B, K, N): one sgemm when B is 1 (a broadcast matmul goes through bmm, 10-20 %
    slower on the CPU)."""
    return torch.mm(w, x[0])[None] if x.shape[0] == 1 else w @ x


def _taps(kernel) -> list[tuple[int, ...]]:
    taps = [()]
    for k in kernel:
        taps = [t + (i,) for t in taps for i in range(k)]
    return taps


SMALL = 16  # both sides at most this many channels: torch's own im2col is faster (1.5-2.5x)


def _conv_forward(module, fallback, x, weight, bias):
    if (x.device.type != "cpu" or module.groups != 1 or any(v != 1 for v in module.dilation)
            or module.padding_mode != "zeros" or isinstance(module.padding, str)
            or max(weight.shape[:2]) <= SMALL):
        return fallback(x, weight, bias)
    return tap_conv(x, weight, bias, tuple(module.stride), tuple(module.padding))


def use_tap_convs(model: nn.Module) -> nn.Module:
    """Route the Conv2d/Conv3d layers of `model` through `tap_conv` on the CPU (in place)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)) and "_conv_forward" not in m.__dict__:
            m._conv_forward = functools.partial(_conv_forward, m, m._conv_forward)
    return model
