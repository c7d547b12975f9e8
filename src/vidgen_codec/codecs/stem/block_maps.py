"""The encoder's block mode maps for a synthesised GOP (issue 30, part 1): which rebuild each
32x32 block of each interval takes (`motion.block_modes`; bitstream_spec.md, stem, "Block
mode maps"), chosen for rate and distortion against the originals.

    decoded backbones + the intervals' mode bits
        --per interval: the decoder's motion field, then per block the squared error of all
          four rebuilds over the interval's frames (`bilateral.block_errors`, one pass)-->
        per block: the symbol of least error + LAMBDA x its code length (`block_modes.choose`)
        --> the section's bytes, or None when no block leaves its interval's mode

The price of a bit: spending the map's bytes on the backbones instead would raise the GOP's PSNR
by about KAPPA dB per unit of ln(bytes) (vtest360 at 0.005 bpp: +0.20 dB for 10 % more bytes,
benchmarks/side_info.py --rd), so a bit is worth KAPPA ln(10) / 10 x SSE / (8 bytes) of squared
error. Whether the GOP keeps its maps is the search's call (`chosen_gop.mapped`): it codes the
backbones again with the maps' bytes taken from the budget and keeps what scores better.
"""

from __future__ import annotations

import math

import numpy as np

from ... import metrics
from ...bitstream.ids import EntropyCoderId
from ...entropy.select import get_backend
from ...motion import bilateral, block_modes
from ...threads import map_threads
from . import decoder as sd

BLOCK = 32  # 16 gave more PSNR for twice the bytes, and lost 0.02 JOD where 32 held level
KAPPA = 2.0  # dB of PSNR per unit of ln(bytes), see the module's docstring


def choose(backs: list, pos: list[int], modes: tuple[int, ...], originals, h: int, w: int,
           gop_bytes: int) -> tuple[np.ndarray | None, list]:
    """(symbols (G, hb, wb) of the maps of a synthesised GOP whose decoded backbones (hp x wp
    x 3 uint8) sit at `pos`, or None when every block keeps its interval's mode; the
    intervals' motion fields, for `rebuilt`)."""
    hp, wp = backs[0].shape[:2]
    hb, wb = block_modes.grid(hp, wp, BLOCK)

    def interval(gap):  # (errors, field) of one interval (independent of the others)
        j, a, e = gap
        field = sd.motion_field(backs[j], backs[j + 1])
        out = np.zeros((4, hb, wb), np.int64)
        for m in range(1, e - a):
            bilateral.block_errors(backs[j], backs[j + 1], field, m, e - a,
                                   np.ascontiguousarray(originals[a + m][:h, :w]), BLOCK, out)
        return out, field

    gaps = [(j, a, e) for j, (a, e) in enumerate(zip(pos, pos[1:])) if e - a > 1]
    done = map_threads(interval, gaps)
    errors, fields = [out for out, _ in done], [field for _, field in done]
    sse = sum(metrics.sse(backs[j][:h, :w], originals[p][:h, :w]) for j, p in enumerate(pos))
    sse += sum(int(out[mode].sum()) for out, mode in zip(errors, modes))
    if not errors:
        return None, fields
    lam = KAPPA * math.log(10) / 10 * sse / (8 * max(gop_bytes, 1))
    sym = block_modes.choose(np.stack(errors).astype(np.float64), np.array(modes), lam)
    return (sym if sym.any() else None), fields


def section(sym: np.ndarray) -> bytes:
    return block_modes.pack(BLOCK, sym, get_backend(EntropyCoderId.VGC_RANS))


def rebuilt(head, backs: list, h: int, w: int, fields: list | None = None) -> list:
    """The GOP's frames (h x w x 3 uint8, display order) as the decoder rebuilds them with the
    maps of `head` (`decoder.synthesised_frames`, cropped); `fields`: the intervals' motion
    fields when the caller has them (`choose`'s), else estimated there."""
    return [f[:h, :w] for f in sd.synthesised_frames(head, backs, fields)]
