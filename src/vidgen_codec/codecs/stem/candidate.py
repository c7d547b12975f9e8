"""A candidate coding of one GOP in the av1 backbone's structure search, and the search's
measure (`score`): `av1` codes every frame AV1 or with motion frames, `synth_gop` synthesised
GOPs, `chosen_gop` what is tried on the chosen one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import metrics
from ...bitstream import FramePayload
from ...pictures import ssim


@dataclass
class Candidate:
    interval: int
    scale: int
    crf: float
    payload: FramePayload  # the GOP chunk's
    bytes: int
    score: float  # `score` over the GOP
    failed: bool
    refine_mask: int = 0  # set by `av1._gate`
    synth: bool = False  # frames between backbones rebuilt by the decoder
    upsampled: bool = False  # the priors were tried on it (`chosen_gop.upsampled`)
    extra: tuple[int, ...] = ()  # a synthesised GOP's backbones off its interval's grid
    frame_db: tuple[float, ...] = ()  # a synthesised GOP's luma PSNR per frame
    # (`chosen_gop.split`)
    slower: bool = False  # its backbones at the slower preset whatever its interval
    # (`chosen_gop.slower`)


def score(rec: list[np.ndarray], real: list[np.ndarray], lumas: list | None = None) -> float:
    """The structure search's, the upsampler choice's and the refinement gate's measure: the
    fast luma SSIM (`pictures.ssim.ssim_y`, 8x8 windows) of decoded frames against the
    originals (uint8 RGB), averaged over the frames, as -10 log10(1 - SSIM), capped at 99.
    Frames with a side under 8 pixels, which it cannot measure, score their luma PSNR.
    `lumas`: the frames' (decoded, original) `ssim.luma` planes, where the caller has them."""
    h, w = real[0].shape[:2]
    if min(h, w) < ssim.WINDOW:
        return min(metrics.psnr_y(np.stack(rec), np.stack(real)), 99.0)
    if lumas is None:
        return ssim.db(ssim.mean_ssim_y(rec, real))
    return ssim.db(float(np.mean([ssim.ssim_luma(x, y) for x, y in lumas])))
