"""The prior's arithmetic in exact integers: the same samples on every device, thread count and
matrix library (issue 33, part 4: `--device cuda`).

    uint8 RGB v --table--> a = round(v * 2^A / 255)               integers at scale 2^A
    each convolution:  acc = sum of W x a + B                        W = round(w * 2^W),
                                                                     B = round(b * 2^(A+W))
        --> a = min(max(floor((acc + 2^(W-1)) / 2^W), -CLAMP), CLAMP)   back to scale 2^A
        --> LeakyReLU of slope s:  a < 0:  a = floor(a * S / 2^17),  S = round(s * 2^17)
    the last layer's a --> min(max(floor((a * 255 + 2^(A-1)) / 2^A), 0), 255), a uint8 sample

(rounding to nearest, ties to even, for the weights and biases; half up for the input table).
Every value is an integer held in a float64, and every product and every partial sum of a
convolution stays below 2^53 in magnitude (`ExactUpConv7` checks each layer's bound,
sum |W| x CLAMP + |B| + 2^(W-1), when it is built), so every order of summation gives the same exact
result: the per-tap matrix products of `models/tap_conv.py` on the CPU, with any number of
threads, and the same products through cuBLAS on a GPU agree bit for bit. This is the
fixed-point form of integer-only inference (Jacob et al., "Quantization and Training of Neural
Networks for Efficient Integer-Arithmetic-Only Inference", CVPR 2018), with 20 and 18 fractional
bits (activations, weights) where that paper has 8, and float64 to carry the integers. Against
the float32 network its samples differ by at most one, in under 1 % of them, on photos, noise
and a one-sample colour checkerboard (tests/test_priors.py), as the float32 port's own do
against the ncnn runtime.
"""

from __future__ import annotations

from ..torch_env import torch
from torch import nn

from ..errors import InputError
from ..models.tap_conv import tap_conv
from .upconv7 import PhaseDeconv, UpConv7

A_BITS = 20  # fractional bits of the activations
W_BITS = 18  # fractional bits of the weights
CLAMP = 64 << A_BITS  # activations are clamped to +-64.0 (photos stay within +-4; a 1-sample
# colour checkerboard reaches 27)
SLOPE_BITS = 17  # fractional bits of a LeakyReLU slope
EXACT = 2 ** 53  # float64 holds every integer below this exactly


class _Conv(nn.Module):
    """A convolution of integers: exact sums of exact products (no requantisation here)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        w = torch.round(conv.weight.detach().double() * 2.0 ** W_BITS)
        b = (conv.bias.detach().double() if conv.bias is not None
             else torch.zeros(w.shape[0], dtype=torch.float64, device=w.device))
        b = torch.round(b * 2.0 ** (A_BITS + W_BITS))
        # every partial sum of acc, and acc + 2^(W-1) in `_requantise`, within 2^53
        bound = float((w.abs().flatten(1).sum(1) * CLAMP + b.abs()).max()) + 2 ** (W_BITS - 1)
        if bound >= EXACT:
            raise InputError(f"the prior's weights are too large for exact arithmetic: a sum "
                             f"could reach {bound:.3g}, float64 holds integers below 2^53")
        self.register_buffer("weight", w)
        self.register_buffer("bias", b)
        self.stride, self.padding = tuple(conv.stride), tuple(conv.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tap_conv(x, self.weight, self.bias, self.stride, self.padding)


class _Deconv(nn.Module):
    """A `PhaseDeconv`'s layout (its pads, crops and pixel shuffle) around its convolution's
    exact form."""

    def __init__(self, deconv: PhaseDeconv):
        super().__init__()
        self.conv = _Conv(deconv.conv)
        self.through = deconv.through  # a bound method: the float layer is not a child here

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.through(x, self.conv)


def _requantise(acc: torch.Tensor) -> torch.Tensor:
    """Scale 2^(A+W) -> 2^A, rounded half up, clamped (all exact in float64; in place)."""
    return acc.add_(2.0 ** (W_BITS - 1)).mul_(2.0 ** -W_BITS).floor_().clamp_(-CLAMP, CLAMP)


class _Leaky(nn.Module):
    def __init__(self, slope: float):
        super().__init__()
        if not 0 <= slope <= 1:  # the next layer's bound takes |a| <= CLAMP
            raise InputError(f"no exact form for a LeakyReLU of slope {slope} (0 .. 1)")
        self.s = float(round(slope * 2 ** SLOPE_BITS))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """max(a, 0) + floor(min(a, 0) S / 2^17) (in place)."""
        neg = a.clamp(max=0).mul_(self.s).mul_(2.0 ** -SLOPE_BITS).floor_()
        return a.clamp_(min=0).add_(neg)


class ExactUpConv7(nn.Module):
    """An `UpConv7` in exact integer arithmetic (see the module's docstring).

    forward: (B, 3, H + 2*border, W + 2*border) uint8 RGB (any integer dtype) -> (B, 3,
    scale*H, scale*W) uint8 samples, as float64. `scale` and `border` are the network's."""

    def __init__(self, net: UpConv7):
        super().__init__()
        self.scale, self.border = net.scale, net.border
        steps = []
        for step in net.steps:
            if isinstance(step, nn.Conv2d):
                steps.append(_Conv(step))
            elif isinstance(step, PhaseDeconv):
                steps.append(_Deconv(step))
            elif isinstance(step, nn.LeakyReLU):
                steps.append(_Leaky(step.negative_slope))
            elif isinstance(step, nn.ReLU):
                steps.append(_Leaky(0.0))
            elif not isinstance(step, nn.Identity):
                raise InputError(f"no exact form for a {type(step).__name__} layer")
        self.steps = nn.ModuleList(steps)
        table = [(v * 2 ** (A_BITS + 1) + 255) // 510 for v in range(256)]  # round(v 2^A / 255)
        self.register_buffer("table", torch.tensor(table, dtype=torch.float64))
        self.requires_grad_(False).eval()

    @torch.inference_mode()
    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        a = self.table[rgb.long()]
        for step in self.steps:
            a = step(a)
            if not isinstance(step, _Leaky):
                a = _requantise(a)
        return torch.floor((a * 255 + 2.0 ** (A_BITS - 1)) * 2.0 ** -A_BITS).clamp_(0, 255)
