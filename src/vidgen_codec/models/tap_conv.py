"""Convolutions on the CPU as a sum of per-tap matrix products (issue 17, part 3).

With oneDNN off (`numerics.thread_invariant`: its blocking, and so its sums, change with the
thread count), torch runs Conv3d through `slow_conv3d`, an im2col whose buffer for the refiner's
first layer (192 input channels x 27 taps) is hundreds of MB: 62 % of a refiner window's time
(benchmarks/RESULTS.md). Writing the convolution as

    y[n, t, h, w, :] = b + sum over taps (i, j, k) of x[n, s_t t + i, s_h h + j, s_w w + k, :] @ W[:, :, i, j, k].T

(channels last, one (pixels x C_in) @ (C_in x C_out) product per tap, taps summed in a fixed
order) needs no im2col buffer, and each product is one sgemm, which `thread_invariant` already
keeps independent of the thread count. 3-4x faster than slow_conv3d on the refiner's layers.

`use_tap_convs(module)` routes every Conv2d/Conv3d of a module through it on the CPU (zero
padding, groups 1, dilation 1; anything else, and every other device, keeps torch's own path).
It is the same function of the inputs as torch's convolution, up to float rounding: the sum's
order differs, so a model gives slightly different floats with and without it, and the decoder
and the encoder's refinement gate both run with it.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


def tap_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
             stride: tuple[int, ...], padding: tuple[int, ...]) -> torch.Tensor:
    """N-d convolution (x: (B, C, *spatial), weight (O, C, *kernel)), groups 1, dilation 1.

    One sgemm either way, on whichever side has fewer channels:
    - C_in <= C_out (or strided): gather the taps' input slices into one channels-last
      (pixels x taps*C_in) matrix, then one product with the (taps*C_in x C_out) weight;
    - C_in > C_out: one product of the whole padded input with all taps' weights
      (pixels x C_in) @ (C_in x taps*C_out), then each tap's output plane, shifted, summed.
    """
    d = weight.dim() - 2
    if any(padding):
        x = F.pad(x, [p for q in reversed(padding) for p in (q, q)])
    kernel, o = tuple(weight.shape[2:]), weight.shape[0]
    size = [(x.shape[2 + a] - kernel[a]) // stride[a] + 1 for a in range(d)]
    taps = _taps(kernel)
    xl = x.movedim(1, -1)  # (B, *spatial, C)
    c = xl.shape[-1]

    def window(t, shift, step):
        return t[(slice(None),) + tuple(slice(shift[a], shift[a] + step[a] * (size[a] - 1) + 1,
                                              step[a]) for a in range(d))]

    if c <= o or any(s != 1 for s in stride):
        cols = xl.new_empty(xl.shape[:1] + tuple(size) + (len(taps), c))
        for n, tap in enumerate(taps):
            cols[..., n, :] = window(xl, tap, stride)
        w = weight.movedim(1, -1).reshape(o, -1)  # (O, taps*C), taps in `taps` order
        out = cols.flatten(-2) @ w.t()
    else:
        w = weight.flatten(2).permute(1, 2, 0).reshape(c, -1)  # (C, taps*O)
        planes = (xl.contiguous() @ w).unflatten(-1, (len(taps), o))
        out = window(planes[..., 0, :], taps[0], stride).clone()
        for n, tap in enumerate(taps[1:], 1):
            out.add_(window(planes[..., n, :], tap, stride))
    if bias is not None:
        out.add_(bias)
    return out.movedim(-1, 1).contiguous()


def _taps(kernel) -> list[tuple[int, ...]]:
    taps = [()]
    for k in kernel:
        taps = [t + (i,) for t in taps for i in range(k)]
    return taps


def _conv_forward(module, fallback, x, weight, bias):
    if (x.device.type != "cpu" or module.groups != 1 or any(v != 1 for v in module.dilation)
            or module.padding_mode != "zeros" or isinstance(module.padding, str)):
        return fallback(x, weight, bias)
    return tap_conv(x, weight, bias, tuple(module.stride), tuple(module.padding))


def use_tap_convs(model: nn.Module) -> nn.Module:
    """Route the Conv2d/Conv3d layers of `model` through `tap_conv` on the CPU (in place)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)) and "_conv_forward" not in m.__dict__:
            m._conv_forward = functools.partial(_conv_forward, m, m._conv_forward)
    return model
