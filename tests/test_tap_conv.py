"""Convolutions as per-tap matrix products (models/tap_conv.py, issue 17 part 3): the same
function as torch's convolutions, on both of its paths, and independent of the thread count."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from vidgen_codec.models.refiner import Refiner, RefinerConfig, seeded_noise
from vidgen_codec.models.tap_conv import tap_conv, use_tap_convs

CASES = [  # (input shape, weight shape, stride, padding): both paths, strides, 2-D and 3-D
    ((2, 5, 7, 9, 11), (4, 5, 3, 3, 3), (1, 1, 1), (0, 0, 0)),  # C > O: output planes
    ((1, 3, 6, 8, 10), (7, 3, 3, 3, 3), (1, 1, 1), (1, 1, 1)),  # C <= O: gathered taps
    ((2, 5, 7, 9, 11), (4, 5, 3, 1, 1), (2, 1, 1), (0, 0, 0)),  # strided in time
    ((2, 5, 9, 11), (4, 5, 3, 3), (2, 2), (1, 1)),  # strided 2-D
    ((1, 6, 8, 8, 8), (6, 6, 1, 2, 2), (1, 2, 2), (0, 0, 0)),  # patch embedding
    ((1, 6, 5, 7, 9), (3, 6, 3, 3, 3), (1, 1, 1), (1, 1, 1)),  # output planes, padded
    ((2, 5, 9, 11), (4, 5, 3, 3), (1, 1), (1, 1)),  # output planes, padded 2-D
    ((1, 5, 4, 6, 7), (2, 5, 1, 3, 3), (1, 1, 1), (0, 2, 2)),  # padding wider than the taps
]


@pytest.mark.parametrize("xs,ws,stride,padding", CASES)
def test_tap_conv_is_torch_convolution(xs, ws, stride, padding):
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(xs, generator=g), torch.randn(ws, generator=g), torch.randn(ws[0], generator=g)
    conv = F.conv3d if len(ws) == 5 else F.conv2d
    torch.testing.assert_close(tap_conv(x, w, b, stride, padding), conv(x, w, b, stride, padding),
                               rtol=1e-5, atol=1e-4)


def test_modules_route_through_taps_and_keep_their_output():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv3d(4, 6, 3, padding=1), torch.nn.SiLU(),
                            torch.nn.Conv3d(6, 3, (1, 3, 3)))
    x = torch.randn(1, 4, 5, 12, 12)
    want = m(x)
    use_tap_convs(m)
    assert "_conv_forward" in m[0].__dict__
    torch.testing.assert_close(m(x), want, rtol=1e-5, atol=1e-5)
    use_tap_convs(m)  # twice: still one level of routing
    torch.testing.assert_close(m(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # over 10 s on 2 cores: .ci/run runs it, make test does not
def test_refiner_output_does_not_depend_on_the_thread_count():
    code = (
        "import sys, torch, hashlib\n"
        "from vidgen_codec.models.refiner import Refiner, RefinerConfig, seeded_noise\n"
        "from vidgen_codec.numerics import thread_invariant\n"
        "torch.set_num_threads(int(sys.argv[1])); torch.manual_seed(0)\n"
        "ref = Refiner(RefinerConfig()).eval()\n"
        "for p in ref.parameters(): p.data.add_(torch.randn_like(p) * 0.05)\n"
        "x = torch.rand(1, 3, 9, 64, 96, generator=torch.Generator().manual_seed(1))\n"
        "t = torch.zeros(1, 9, dtype=torch.long)\n"
        "run = thread_invariant(torch.no_grad()(lambda: ref(x, t, seeded_noise(ref.latent_shape(9, 64, 96), 0, 0))))\n"
        "print(hashlib.sha256(run().numpy().tobytes()).hexdigest())\n")
    out = {subprocess.run([sys.executable, "-c", code, str(n)], capture_output=True, text=True,
                          check=True).stdout for n in (1, 2, 3)}
    assert len(out) == 1, out
