"""The fast luma SSIM and MS-SSIM (`pictures/ssim.py`; the SSIM is the structure search's
measure): the compiled kernels against a plain numpy reading of the module's formulas, and
their behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from vidgen_codec.pictures import ssim
from vidgen_codec.codecs.stem import candidate


def luma(rgb):
    r, g, bl = (rgb[..., i].astype(np.int64) for i in range(3))
    return (16829 * r + 33039 * g + 6416 * bl + 32768) >> 16


def reference(a: np.ndarray, b: np.ndarray) -> float:
    """The module docstring's definition, window by window, in plain numpy."""
    def down(x):
        h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
        x = x[:h, :w]
        return x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]

    m = ssim.scales(*a.shape[:2])
    weights = np.array(ssim.WEIGHTS[:m]) / sum(ssim.WEIGHTS[:m])
    x, y = luma(a), luma(b)
    out = 1.0
    for k in range(m):
        c1, c2 = (0.01 * 255 * 4 ** k) ** 2, (0.03 * 255 * 4 ** k) ** 2
        lcs, css = [], []
        for i in range(0, x.shape[0] // 4 * 4 - 7, 4):
            for j in range(0, x.shape[1] // 4 * 4 - 7, 4):
                p, q = x[i:i + 8, j:j + 8], y[i:i + 8, j:j + 8]
                mx, my = p.sum() / 64, q.sum() / 64
                vx, vy = (p * p).sum() / 64 - mx * mx, (q * q).sum() / 64 - my * my
                cxy = (p * q).sum() / 64 - mx * my
                cs = (2 * cxy + c2) / (vx + vy + c2)
                css.append(cs)
                lcs.append(cs * (2 * mx * my + c1) / (mx * mx + my * my + c1))
        value = np.mean(lcs) if k == m - 1 else np.mean(css)
        out *= max(value, 0.0) ** weights[k]
        x, y = down(x), down(y)
    return float(out)


def frames(h: int, w: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 3 + yy) % 256, (yy * 2) % 256, (xx + yy * 5) % 256], -1)
    a = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-12, 13, a.shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("h,w", [(8, 8), (37, 53), (144, 176), (130, 260)])
def test_kernels_match_the_definition(h, w):
    a, b = frames(h, w)
    assert ssim.ms_ssim_y(a, b) == pytest.approx(reference(a, b), abs=1e-12)


def test_equal_frames_score_one_and_the_cap():
    a, _ = frames(40, 48)
    assert ssim.ms_ssim_y(a, a) == 1.0
    assert ssim.db(1.0) == 99.0 and ssim.db(0.9) == pytest.approx(10.0)


def test_more_noise_scores_lower():
    a, _ = frames(96, 128)
    rng = np.random.default_rng(3)
    values = [ssim.ms_ssim_y(np.clip(a + rng.normal(0, s, a.shape), 0, 255).astype(np.uint8), a)
              for s in (1, 4, 16)]
    assert values[0] > values[1] > values[2]


def test_scales_by_frame_size():
    assert ssim.scales(144, 176) == 5 and ssim.scales(8, 500) == 1
    assert ssim.scales(16, 16) == 2 and ssim.scales(127, 200) == 4
    with pytest.raises(ValueError, match="at least 8x8"):
        ssim.scales(7, 100)


def test_bad_shapes_and_empty_input_are_errors():
    a, b = frames(16, 16)
    with pytest.raises(ValueError, match="one shape"):
        ssim.ms_ssim_y(a, b[:, :8])
    with pytest.raises(ValueError, match="no frames"):
        ssim.mean_ms_ssim_y([], [])
    with pytest.raises(ValueError, match="no frames"):
        ssim.mean_ssim_y([], [])
    with pytest.raises(ValueError, match="at least 8x8"):
        ssim.ssim_y(a[:7], b[:7])


@pytest.mark.parametrize("h,w", [(8, 8), (37, 53), (144, 176)])
def test_single_scale_is_the_finest_scales_mean_l_cs(h, w):
    a, b = frames(h, w)
    x, z = luma(a), luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(0, h // 4 * 4 - 7, 4):
        for j in range(0, w // 4 * 4 - 7, 4):
            p, q = x[i:i + 8, j:j + 8], z[i:i + 8, j:j + 8]
            mx, my = p.mean(), q.mean()
            vx, vy, cxy = (p * p).mean() - mx * mx, (q * q).mean() - my * my, (p * q).mean() - mx * my
            values.append((2 * mx * my + c1) * (2 * cxy + c2)
                          / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    assert ssim.ssim_y(a, b) == pytest.approx(np.mean(values), abs=1e-12)
    assert ssim.ssim_y(a, a) == 1.0


def test_search_score_is_the_mean_in_db_and_psnr_below_8_pixels():
    a, b = frames(32, 40)
    a2, b2 = frames(32, 40, seed=1)
    want = ssim.db((ssim.ssim_y(b, a) + ssim.ssim_y(b2, a2)) / 2)
    assert candidate.score([b, b2], [a, a2]) == pytest.approx(want)
    tiny_a, tiny_b = a[:6], b[:6]
    from vidgen_codec import metrics

    assert candidate.score([tiny_b], [tiny_a]) == pytest.approx(
        metrics.psnr_y(tiny_b[None], tiny_a[None]))
