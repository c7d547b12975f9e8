"""Where a synthesised av1 GOP gets extra backbones (issue 30, part 1): the frames rebuilt
worst between their two backbones (`chosen_gop.split` codes them, bitstream_spec.md, stem, GOP
header bit 7 EXTRA).

A backbone interval's rebuilt frames fail where the motion between its backbones is fast or
not linear (cup.mp4 at 640x360, 0.005 bpp, interval 2: frame 49, where the cup turns, 10 dB
under its backbones, its lid ghosted). The encoder measures each rebuilt frame's luma PSNR
and tries the worst frame of each such interval as a backbone.
"""

from __future__ import annotations

import numpy as np

from ... import metrics

SPLIT_DB = 3.0  # a rebuilt frame this far below its two backbones' mean (luma PSNR) is tried
# as a backbone (2 and 1.5 were measured: benchmarks/RESULTS.md, tenth session)


def split_points(frame_db, pos: list[int]) -> list[int]:
    """The worst rebuilt frame of each interval between backbones `pos` where it is more than
    SPLIT_DB below the mean of the interval's two backbones (`frame_db`: luma PSNR per frame)."""
    out = []
    for a, e in zip(pos, pos[1:]):
        if e - a > 1:
            worst = min(range(a + 1, e), key=frame_db.__getitem__)
            if (frame_db[a] + frame_db[e]) / 2 - frame_db[worst] > SPLIT_DB:
                out.append(worst)
    return out


def luma_psnr(ya: np.ndarray, yb: np.ndarray) -> float:
    """Luma PSNR of two frames given as `pictures.ssim.luma` planes (the search's score
    computes them anyway: `synth_gop.candidate`), capped at 99 dB: `chosen_gop.split`'s
    per-frame measure, 11x cheaper than `metrics.psnr_y`."""
    return min(metrics.psnr_from_mse(metrics.sse(ya, yb) / ya.size), 99.0)
