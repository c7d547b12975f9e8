"""Hyper-synthesis in integer-exact arithmetic, so every device picks the same CDF tables.

The decoder must choose the same table for every symbol as the encoder. The hyper-synthesis
h_s computes the (scale, mean) that choose them; in floating point its last bits depend on the
device, the library, the summation order and the thread count, and one flipped table index
derails the rest of a stream (CompressAI issues #279 and #309, DCVC issues #118 and #150). We
follow Ballé, Johnston and Minnen, "Integer networks for data compression with latent-variable
models" (ICLR 2019): evaluate h_s with integer arithmetic only. Here the integer network is
derived from the trained float h_s at load time (the weights file is unchanged):

    z_hat --round(* 2^F)--> a0 (integers: fixed point with F fractional bits)
    per conv layer:  acc = sum(W_q * a) + b_q     W_q = round(W * 2^e_o), 16-bit, per output channel
                     a   = floor((acc + 2^(e_o - 1)) / 2^e_o)            back to F fractional bits
                     clamped to |a| <= 2^ACT_BITS
    LeakyReLU:       a < 0 -> floor((a * 655 + 2^15) / 2^16)              slope 655/2^16 ~ 0.01
                     (computed as max(a, that), equal for every integer a)
    output:          scale = a[:M] / 2^F, mean = a[M:] / 2^F              exact binary fractions

The integers are held in float64 tensors and convolved with torch's ordinary float64 kernels.
Every product and every partial sum is an integer below 2^53 in magnitude (checked per layer
when the network is built: taps * 2^15 * 2^ACT_BITS + |bias| < 2^53), so each float64 addition
is exact and the result does not depend on the order of summation, the blocking, the number of
threads or the device; the divisions are by powers of two and floor is exact. `forward_int64`
computes the same network in numpy int64, as a reference for the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ..torch_env import torch
from torch import nn
from torch.nn import functional as F

FRAC_BITS = 16  # fractional bits of activations, input and output (scale and mean: 2^-16 steps)
WEIGHT_BITS = 15  # |W_q| <= 2^15
ACT_BITS = 26  # |a| <= 2^26 (in units of 2^-FRAC_BITS: |activation| <= 1024)
MAX_SHIFT = 30  # weight exponents e_o are capped (channels of tiny weights)
LEAKY_NUM, LEAKY_SHIFT = 655, 16  # LeakyReLU slope 655/65536 (the float model uses 0.01)
EXACT_LIMIT = 2.0 ** 53


@dataclass
class _IntLayer:
    """One convolution in fixed point: float64 tensors holding integers."""

    transposed: bool
    weight: torch.Tensor  # integer-valued float64, torch layout of the layer
    bias: torch.Tensor  # [out] integer-valued float64, in units of 2^-(F + shift)
    shift: torch.Tensor  # [out] float64 powers of two 2^-e_o
    half: torch.Tensor  # [out] float64 2^(e_o - 1) (0 where e_o = 0)
    bias_half: torch.Tensor  # bias + half: the rounding offset rides on the bias
    stride: int
    padding: int
    output_padding: int


class IntegerHyperSynthesis:
    """h_s as an integer network (see module docstring). Call with z_hat -> (scale, mean)."""

    def __init__(self, h_s: nn.Sequential):
        self.steps: list[_IntLayer | str] = []
        for layer in h_s:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                self.steps.append(_quantize_layer(layer))
            elif isinstance(layer, nn.LeakyReLU):
                if abs(layer.negative_slope - LEAKY_NUM / 2 ** LEAKY_SHIFT) > 1e-4:
                    raise ValueError(f"LeakyReLU slope {layer.negative_slope} is not ~0.01")
                self.steps.append("leaky")
            else:
                raise ValueError(f"integer hyper-synthesis cannot evaluate {type(layer).__name__}")

    # -- float64 holding integers (any device) --------------------------------------------
    @torch.no_grad()
    def __call__(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, mean), float64 multiples of 2^-FRAC_BITS, from z_hat (N, C, h, w)."""
        a = self.fixed_input(z_hat)
        dev = a.device
        # cuDNN may pick transform-based algorithms (FFT, Winograd): keep to plain GEMMs there.
        with torch.backends.cudnn.flags(enabled=False):
            for step in self.steps:
                if step == "leaky":  # max(a, floor((655 a + 2^15) / 2^16)) == the rule for a < 0
                    neg = torch.floor(a.mul(LEAKY_NUM).add_(2.0 ** (LEAKY_SHIFT - 1))
                                      .mul_(2.0 ** -LEAKY_SHIFT))
                    a = torch.maximum(a, neg)
                    continue
                w, b = step.weight.to(dev), step.bias_half.to(dev)
                if step.transposed:
                    acc = F.conv_transpose2d(a, w, b, step.stride, step.padding,
                                             step.output_padding)
                else:
                    acc = F.conv2d(a, w, b, step.stride, step.padding)
                a = acc.mul_(step.shift.to(dev).view(1, -1, 1, 1)).floor_()
                a = a.clamp_(-(2.0 ** ACT_BITS), 2.0 ** ACT_BITS)
        return _split(a * 2.0 ** -FRAC_BITS)

    @staticmethod
    def fixed_input(z_hat: torch.Tensor) -> torch.Tensor:
        """z_hat in fixed point: round-half-even(z_hat * 2^F), clamped, as float64."""
        a = torch.round(z_hat.double() * 2.0 ** FRAC_BITS)
        return a.clamp(-(2.0 ** ACT_BITS), 2.0 ** ACT_BITS)

    # -- numpy int64 reference ------------------------------------------------------------
    def forward_int64(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same network in numpy int64 (slow; for tests on small inputs)."""
        a = self.fixed_input(z_hat.cpu()).numpy().astype(np.int64)
        for step in self.steps:
            if step == "leaky":
                a = np.where(a < 0, (a * LEAKY_NUM + (1 << (LEAKY_SHIFT - 1))) >> LEAKY_SHIFT, a)
                continue
            acc = _conv_int64(a, step) + step.bias.numpy().astype(np.int64).reshape(1, -1, 1, 1)
            e = np.round(-np.log2(step.shift.numpy())).astype(np.int64).reshape(1, -1, 1, 1)
            half = np.where(e > 0, np.left_shift(1, np.maximum(e - 1, 0)), 0)
            a = np.clip((acc + half) >> e, -(1 << ACT_BITS), 1 << ACT_BITS)
        return _split(torch.from_numpy(a).double() * 2.0 ** -FRAC_BITS)


def _split(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scale, mean = out.chunk(2, 1)
    return scale, mean


def _quantize_layer(layer: nn.Conv2d | nn.ConvTranspose2d) -> _IntLayer:
    transposed = isinstance(layer, nn.ConvTranspose2d)
    w = layer.weight.detach().cpu().double()
    out_dim = 1 if transposed else 0
    per_out = w.transpose(0, out_dim).reshape(w.shape[out_dim], -1)  # [out, taps*in]
    peak = per_out.abs().amax(1)
    # e_o: the largest exponent with peak * 2^e_o < 2^WEIGHT_BITS (frexp is exact)
    exps = [min(MAX_SHIFT, WEIGHT_BITS - math.frexp(p)[1]) if p > 0 else 0 for p in peak.tolist()]
    exps = [max(e, 0) for e in exps]
    scale = torch.tensor([2.0 ** e for e in exps], dtype=torch.float64)
    shape = [1] * w.dim()
    shape[out_dim] = -1
    wq = torch.round(w * scale.view(shape))
    b = layer.bias.detach().cpu().double() if layer.bias is not None else torch.zeros(len(exps))
    bq = torch.round(b * scale * 2.0 ** FRAC_BITS)
    taps = w.numel() // w.shape[out_dim]  # inputs that feed one output: in * kh * kw
    bound = taps * 2.0 ** WEIGHT_BITS * 2.0 ** ACT_BITS + float(bq.abs().max()) + 2.0 ** MAX_SHIFT
    if bound >= EXACT_LIMIT:
        raise ValueError(f"integer hyper-synthesis layer {layer} could exceed 2^53 ({bound:.3g})")
    e = torch.tensor(exps, dtype=torch.float64)
    half = torch.where(e > 0, torch.pow(2.0, e - 1), torch.zeros_like(e))
    return _IntLayer(
        transposed=transposed, weight=wq, bias=bq, shift=torch.pow(2.0, -e), half=half,
        bias_half=bq + half,
        stride=layer.stride[0], padding=layer.padding[0],
        output_padding=layer.output_padding[0] if transposed else 0,
    )


def _conv_int64(a: np.ndarray, step: _IntLayer) -> np.ndarray:
    """Exact integer convolution (or transposed convolution) of a (N, C, H, W) int64 array."""
    w = step.weight.numpy().astype(np.int64)
    if step.transposed:  # zero-insertion upsampling, then a correlation with the flipped kernel
        n, c, h, wd = a.shape
        k = w.shape[2]
        s, p, op = step.stride, step.padding, step.output_padding
        up = np.zeros((n, c, (h - 1) * s + 1, (wd - 1) * s + 1), np.int64)
        up[:, :, ::s, ::s] = a
        lo, hi = k - 1 - p, k - 1 - p + op
        a = np.pad(up, ((0, 0), (0, 0), (lo, hi), (lo, hi)))
        w = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (out, in, k, k)
        stride = 1
    else:
        a = np.pad(a, ((0, 0), (0, 0), (step.padding,) * 2, (step.padding,) * 2))
        stride = step.stride
    k = w.shape[2]
    win = np.lib.stride_tricks.sliding_window_view(a, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True)
