"""A first guess of the AV1 backbone's CRF, from the first pass's complexity (issue 31).

    first pass: a span's frames, every step-th pixel (at most 256 px wide), SVT-AV1 preset 13,
                CRF 40 -> c bytes per small pixel                       (parallel/plan.py)
    the backbone: SVT-AV1 at the file's preset, full frames, CRF x -> b(x) bytes per pixel
    ln(b(x) / c) ~ G_step(x): a table per subsampling step, the mean over tuning clips
    guess = the x where G_step(x) = ln(target / c), interpolated in x and in ln(step)

The table was measured (benchmarks/crf_model.py) on 60-frame clips that are not among the
held-out ones: Megamind and box.mp4 at 176x144 (step 1), 352x256 (step 2), 640x360/640x480
(step 3) and 1280x720 (step 5), preset 8. Off the tuning clips the guess is off by up to about
5 CRF (tree at 320x240: ln b/c runs 0.6 above the table), so the rate fit corrects it
(`pictures.fit.fit_from_guess`, with `slope` as its first step), and the encoder carries the
first coding's error to the GOP's other candidates (`codecs/stem/rate_fit`).
"""

from __future__ import annotations

import math

import numpy as np

CRFS = (20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70)
STEPS = (1, 2, 3, 5)
G = (  # ln(b / c) at CRFS, one row per STEPS entry
    (0.97, 0.70, 0.45, 0.21, -0.04, -0.24, -0.44, -0.62, -0.97, -1.46, -1.66),
    (0.24, -0.02, -0.28, -0.54, -0.79, -1.01, -1.25, -1.48, -1.85, -2.43, -2.68),
    (0.14, -0.15, -0.50, -0.86, -1.18, -1.47, -1.73, -2.02, -2.47, -3.20, -3.56),
    (-0.28, -0.57, -0.89, -1.24, -1.57, -1.87, -2.15, -2.45, -2.88, -3.56, -3.91),
)
COMPLEXITY_CRF = 40.0  # the first pass's fixed SVT-AV1 CRF
COMPLEXITY_PRESET = 13
SMALL_WIDTH = 256  # the first pass looks at frames at most this wide (as the cut detector does)
SLOPE = 0.06  # |d ln(bytes) / d CRF| of SVT-AV1 from CRF 20 to 55 (0.04-0.07 on those clips)
SLOPE_HIGH = 0.11  # from CRF 55 to 65 (0.07-0.16)


def slope(crf: float) -> float:
    """The assumed |d ln(bytes) / d CRF| at a CRF."""
    return SLOPE if crf < 55 else SLOPE_HIGH
DEFAULT_GUESS = 45.0  # without a first pass


def guess_crf(target: float, complexity: float | None, step: int) -> float:
    """CRF whose coding of the frames should take `target` bytes per pixel, given the first
    pass's `complexity` (bytes per small pixel at step `step`); DEFAULT_GUESS without it."""
    if not complexity or target <= 0:
        return DEFAULT_GUESS
    ls = math.log(min(max(step, STEPS[0]), STEPS[-1]))
    xs = [math.log(s) for s in STEPS]
    j = max(i for i in range(len(STEPS)) if xs[i] <= ls or i == 0)
    j = min(j, len(STEPS) - 2)
    w = (ls - xs[j]) / (xs[j + 1] - xs[j])
    row = (1 - w) * np.array(G[j]) + w * np.array(G[j + 1])  # falls with the CRF
    want = math.log(target / complexity)
    # np.interp wants rising x: the table reversed; outside it, the slope carries on
    if want > row[0]:
        return CRFS[0] - (want - row[0]) / SLOPE
    if want < row[-1]:
        return CRFS[-1] + (row[-1] - want) / SLOPE_HIGH
    return float(np.interp(want, row[::-1], CRFS[::-1]))


def small_step(width: int) -> int:
    """The first pass's subsampling step for frames this wide."""
    return -(-width // SMALL_WIDTH)


def small(rgb: np.ndarray) -> np.ndarray:
    """Every step-th pixel of an HxWx3 frame, padded to even sides (edge pixels)."""
    step = small_step(rgb.shape[1])
    sub = rgb[::step, ::step]
    h, w = sub.shape[:2]
    sub = np.pad(sub, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(sub)


def complexity(frames: list[np.ndarray]) -> float:
    """Bytes per pixel of small frames (`small`) as one SVT-AV1 sequence at COMPLEXITY_CRF,
    COMPLEXITY_PRESET."""
    from .av1 import Av1Settings, encode_sequence

    units = encode_sequence(frames, COMPLEXITY_CRF, Av1Settings(preset=COMPLEXITY_PRESET))
    h, w = frames[0].shape[:2]
    return float(sum(map(len, units))) / (len(frames) * h * w)
