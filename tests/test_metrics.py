"""metrics: identical inputs score perfectly, more noise scores lower, both input conventions agree."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from vidgen_codec.frames import to_tensor
from vidgen_codec.metrics import (PSNR_CAP, ms_ssim, ms_ssim_scales, psnr, psnr_capped,
                                  psnr_per_frame, psnr_y)


def noisy(frames: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).round().astype(np.uint8)


@pytest.fixture
def clip(make_frames) -> np.ndarray:
    return np.stack(make_frames(64, 48, 3))


def needs_msssim():
    pytest.importorskip("pytorch_msssim")


def test_identical_is_perfect(clip):
    assert psnr(clip, clip) == math.inf and psnr_y(clip, clip) == math.inf
    assert psnr_capped(clip, clip) == PSNR_CAP
    assert psnr_per_frame(clip, clip) == [math.inf] * 3
    needs_msssim()
    assert ms_ssim(clip, clip) == pytest.approx(1.0, abs=1e-6)


def test_more_noise_scores_lower(clip):
    low, high = noisy(clip, 2), noisy(clip, 12)
    assert psnr(clip, low) > psnr(clip, high) > 20
    assert psnr_y(clip, low) > psnr_y(clip, high)
    assert psnr_capped(clip, low) == psnr(clip, low)
    needs_msssim()
    assert 1.0 > ms_ssim(clip, low) > ms_ssim(clip, high) > 0


def test_psnr_known_value():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a + 1  # MSE 1 -> 20 log10(255)
    assert psnr(a, b) == pytest.approx(20 * math.log10(255))
    assert psnr_y(a, b) > psnr(a, b)  # luma range is 219/255 of the RGB step


def test_numpy_and_tensor_inputs_agree(clip):
    other = noisy(clip, 5)
    assert psnr(to_tensor(clip), to_tensor(other)) == pytest.approx(psnr(clip, other), abs=1e-6)
    assert psnr(list(clip), other) == pytest.approx(psnr(clip, other))
    assert psnr(clip[0], other[0]) == pytest.approx(psnr_per_frame(clip, other)[0])
    needs_msssim()
    assert ms_ssim(to_tensor(clip), other) == pytest.approx(ms_ssim(clip, other), abs=1e-5)


@pytest.mark.parametrize("size,scales", [((200, 180), 5), ((48, 64), 3), ((29, 37), 2),
                                         ((15, 20), 1), ((6, 9), 1)])
def test_ms_ssim_small_frames(size, scales):
    h, w = size
    assert ms_ssim_scales(h, w) == scales
    needs_msssim()
    a = np.random.default_rng(0).integers(0, 256, (1, h, w, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "skipping Gaussian smoothing" fallbacks
        value = ms_ssim(a, noisy(a, 10))
    assert 0 < value < 1


def test_bad_inputs():
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(TypeError):
        psnr(a.astype(np.float32), a)
    with pytest.raises(TypeError):
        psnr(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), a)
