"""The waifu2x UpConv7 super-resolution network as a torch module, built from ncnn files.

waifu2x (nagadomi, https://github.com/nagadomi/waifu2x, MIT licence; itself after SRCNN, Dong
et al., "Image Super-Resolution Using Deep Convolutional Networks", TPAMI 2016) ships "UpConv7":
a plain stack of unpadded 3x3 convolutions, each followed by LeakyReLU(0.1), widening
3 -> 16 -> 32 -> 64 -> 128 -> 128 -> 256, then one 4x4, stride-2 transposed convolution
(256 -> 3, cropping 3 samples a side) that upsamples by 2 at the end, so all the work runs at
the input's resolution. In the ncnn files of waifu2x-ncnn-vulkan (nihui, MIT) the six
convolutions are `Convolution` layers with the LeakyReLU fused in (9=2, -23310=1,0.1) and the
upsampler a `Deconvolution` (0=3 1=4 3=2 4=3); about 0.55 M weights, stored as fp16. With n
input samples a side the output has 2n - 28: a caller pads the input by 7 a side (the
receptive field: output samples 2m and 2m+1 read input m-7 .. m+7) to get exactly 2n.

`UpConv7(model)` builds the chain from any parsed ncnn graph of that shape (one Input, then
Convolution / Deconvolution / ReLU layers each reading the previous one): every noise level of
the `models-upconv_7_photo` (and `_anime_style_art_rgb`) folders.

Determinism. The codec does not run this float32 module: it runs its exact-integer form
(`exact.py`), the same samples on every device. This module is the port the tests check against
the ncnn runtime; its forward runs under `numerics.thread_invariant` and its convolutions
through `models.tap_conv` on the CPU, so its bits do not depend on the thread count either.

The transposed convolution is written as a stride-1 convolution, by phase decomposition:
output sample s*m + r (phase r of s) is a correlation of the input near m with the taps
k = r + pad - s*d (d the input offset), so one convolution with s*s*O output channels (each
phase's taps, zeros where a phase has none) followed by a pixel shuffle gives the transposed
convolution exactly, up to float rounding (Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network", CVPR 2016, for the equivalence).
"""

from __future__ import annotations

import numpy as np
from ..torch_env import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..models.tap_conv import use_tap_convs
from ..numerics import thread_invariant
from .ncnn_format import NcnnLayer, NcnnModel


class PhaseDeconv(nn.Module):
    """A transposed convolution (ncnn `Deconvolution`: out_full[s*i + k] += x[i] * w[k], then
    `pad` samples cropped from each side) as one stride-1 convolution and a pixel shuffle."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None, stride: int,
                 pads: tuple[int, int, int, int]):
        super().__init__()
        o, c, kh, kw = weight.shape
        s = stride
        self.stride, self.kernel, self.pads = s, (kh, kw), pads  # pads: top, bottom, left, right
        (ylo, yhi), (xlo, xhi) = _offsets(kh, s, pads[0]), _offsets(kw, s, pads[2])
        self.lo, self.hi = (ylo, xlo), (yhi, xhi)
        w = np.zeros((o, s, s, c, yhi - ylo + 1, xhi - xlo + 1), np.float32)
        for ry in range(s):
            for rx in range(s):
                for dy in range(ylo, yhi + 1):
                    ky = ry + pads[0] - s * dy
                    if not 0 <= ky < kh:
                        continue
                    for dx in range(xlo, xhi + 1):
                        kx = rx + pads[2] - s * dx
                        if 0 <= kx < kw:
                            w[:, ry, rx, :, dy - ylo, dx - xlo] = weight[:, :, ky, kx]
        self.conv = nn.Conv2d(c, o * s * s, w.shape[-2:], bias=bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(w.reshape(o * s * s, c, *w.shape[-2:])))
            if bias is not None:
                self.conv.bias.copy_(torch.from_numpy(np.repeat(bias, s * s)))

    def out_size(self, n: int, axis: int) -> int:
        lo, hi = (self.pads[0], self.pads[1]) if axis == 0 else (self.pads[2], self.pads[3])
        return (n - 1) * self.stride + self.kernel[axis] - lo - hi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.through(x, self.conv)

    def through(self, x: torch.Tensor, conv) -> torch.Tensor:
        """The transposed convolution of x with `conv` as its phases' convolution (this layer's
        own, or its exact-integer form: `exact.py`)."""
        s = self.stride
        size = [self.out_size(x.shape[2 + a], a) for a in range(2)]
        cells = [-(-n // s) for n in size]  # input positions m whose phases cover the output
        pad, index = [], []
        for a in (1, 0):  # F.pad's order: last axis first
            n, lo, hi = x.shape[2 + a], self.lo[a], self.hi[a]
            pad += [max(0, -lo), max(0, cells[a] + hi - n)]
        if any(pad):  # taps outside the input read zeros (none for UpConv7: its crop avoids them)
            x = F.pad(x, pad)
        for a in range(2):
            start = self.lo[a] + max(0, -self.lo[a])
            index.append(slice(start, start + cells[a] + self.hi[a] - self.lo[a]))
        y = F.pixel_shuffle(conv(x[:, :, index[0], index[1]]), s)
        return y[:, :, :size[0], :size[1]]


def _offsets(k: int, s: int, pad: int) -> tuple[int, int]:
    """The input offsets d (input m + d) any phase reads: 0 <= r + pad - s*d < k for some r."""
    ds = [d for r in range(s) for d in range(-k - pad, k + pad + 1) if 0 <= r + pad - s * d < k]
    return min(ds), max(ds)


def _activation(kind: int, params: tuple, where: str, inplace: bool = True) -> nn.Module:
    """ncnn's activation_type; in place (on a convolution's fresh output) unless told not to."""
    if kind == 0:
        return nn.Identity()
    if kind == 1:
        return nn.ReLU(inplace=inplace)
    if kind == 2:
        return nn.LeakyReLU(float(params[0]) if params else 0.0, inplace=inplace)
    raise InputError(f"{where}: activation type {kind} is not supported "
                     "(0 none, 1 ReLU, 2 LeakyReLU)")


class UpConv7(nn.Module):
    """waifu2x UpConv7 (or any chain of ncnn Convolution/Deconvolution/ReLU layers).

    forward: (B, 3, H + 2*border, W + 2*border) float in [0, 1] RGB -> (B, 3, scale*H,
    scale*W), unclamped. `border` (7 for UpConv7) and `scale` (2) come from the layers;
    `n_weights` counts the ncnn file's weights and biases.
    """

    def __init__(self, model: NcnnModel):
        super().__init__()
        layers = model.layers
        if not layers or layers[0].type != "Input" or len(layers[0].tops) != 1:
            raise InputError("the ncnn graph must start with one Input layer")
        self.input_blob = layers[0].tops[0]
        blob, steps, a, b, self.n_weights = self.input_blob, [], [1, 1], [0, 0], 0
        for layer in layers[1:]:
            where = f"layer {layer.name!r} ({layer.type})"
            if layer.bottoms != (blob,) or len(layer.tops) != 1:
                raise InputError(f"{where}: not a single-input chain (reads {layer.bottoms})")
            blob = layer.tops[0]
            if layer.type == "ReLU":
                slope = layer.get(0, 0.0)  # not in place on the caller's input
                steps.append(_activation(2 if slope else 1, (slope,), where, inplace=bool(steps)))
                continue
            if layer.type not in ("Convolution", "Deconvolution"):
                raise InputError(f"{where}: layer type not supported in an UpConv7 chain")
            step, grow = self._conv(layer, where)
            for axis in range(2):  # track out = a*in + b per axis
                scale, offset = grow[axis]
                a[axis], b[axis] = a[axis] * scale, b[axis] * scale + offset
            steps += [step, _activation(layer.get(9, 0), tuple(layer.get(10, ())), where)]
            self.n_weights += sum(int(w.size) for k, w in layer.weights.items()
                                  if k in ("weight", "bias"))
        self.output_blob = blob
        if a[0] != a[1] or b[0] != b[1] or b[0] > 0 or (-b[0]) % (2 * a[0]):
            raise InputError(f"the chain maps n input samples to {a[0]}n{b[0]:+d} x "
                             f"{a[1]}n{b[1]:+d}: no symmetric border gives an exact upscale")
        self.scale, self.border = a[0], -b[0] // (2 * a[0])
        self.steps = nn.Sequential(*steps)
        self.requires_grad_(False).eval()
        use_tap_convs(self)

    @staticmethod
    def _conv(layer: NcnnLayer, where: str):
        if layer.weight_storage not in ("fp16", "fp32", "table"):
            raise InputError(f"{where}: weights stored as {layer.weight_storage}, not float")
        weight, bias = layer.weights["weight"], layer.weights.get("bias")
        kw = layer.get(1, 1)
        kh, dil, dil_h = layer.get(11, kw), layer.get(2, 1), layer.get(12, layer.get(2, 1))
        sw = layer.get(3, 1)
        sh = layer.get(13, sw)
        left = layer.get(4, 0)
        right, top = layer.get(15, left), layer.get(14, left)
        bottom = layer.get(16, top)
        if dil != 1 or dil_h != 1:
            raise InputError(f"{where}: dilation is not supported")
        if min(left, right, top, bottom) < 0:
            raise InputError(f"{where}: automatic ('same') padding is not supported")
        if layer.type == "Convolution":
            if sw != 1 or sh != 1 or top != bottom or left != right or layer.get(8, 0):
                raise InputError(f"{where}: only stride-1, symmetric, float convolutions "
                                 "are supported")
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], (kh, kw), padding=(top, left),
                             bias=bias is not None)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(weight))
                if bias is not None:
                    conv.bias.copy_(torch.from_numpy(bias))
            return conv, [(1, 2 * top - kh + 1), (1, 2 * left - kw + 1)]
        if sw != sh or any(layer.get(k, 0) for k in (18, 19, 20, 21)):
            raise InputError(f"{where}: unequal strides or output padding/size are not supported")
        step = PhaseDeconv(weight, bias, sw, (top, bottom, left, right))
        return step, [(sw, kh - sw - top - bottom), (sw, kw - sw - left - right)]

    @thread_invariant
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.steps(x)
