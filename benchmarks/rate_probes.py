"""Could a cheap probe predict the av1 backbone's bytes closely enough to code a GOP once
(issue 31, part 1)? For each clip (its first 60 frames) and CRF, the backbone's real bytes
(SVT-AV1 preset 8, full frames, one sequence) against five probes:

    small-p13   the first pass's frames (every step-th pixel, `av1_rate.small`) at preset 13,
                at the same CRF                                  (about 1/8 of a coding)
    small-p10   the same frames at preset 10
    full-p10    the clip's own frames at preset 10, the same CRF       (about 1/2 of a coding)
    full-p9     the same at preset 9                                    (about 3/4 of a coding)
    prefix-17   the first 17 frames at preset 8, full size, the same CRF, scaled to the clip by
                the first pass's per-frame bytes (preset 13, small frames, CRF 40)
                                                                  (about 1/4 of a coding)

A probe is useful only if ln(bytes / probe) is the same on every clip (then a table, like
`av1_rate.G`, turns the probe into the CRF): the script prints that log-ratio per clip and CRF,
and per probe and CRF its spread over the clips (largest minus smallest). A one-coding fit
within the rate bar needs a spread of about 0.1 (+-5 %).

    python benchmarks/rate_probes.py cup360.mkv tree.mkv small.mkv cut.mkv vtest360.mkv \
        cup.mkv mega.mkv box.mkv mega_s.mkv box_s.mkv mega2.mkv

Probes are compared among clips of one first-pass subsampling step (`av1_rate.small_step` of
the width: 1 up to 256 px, 2 up to 512, 3 up to 768), as `av1_rate.G` has a row per step.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict

from vidgen_codec.pictures.av1 import Av1Settings, encode_sequence
from vidgen_codec.pictures.av1_rate import COMPLEXITY_CRF, COMPLEXITY_PRESET, small, small_step
from vidgen_codec.pictures.yuv420 import rgb_to_yuv420
from vidgen_codec.video_io import read_frames

CRFS = (25, 35, 45, 55, 60)
PREFIX = 17


def size(frames, crf, preset=8) -> int:
    return sum(map(len, encode_sequence(frames, crf, Av1Settings(preset=preset))))


def ratios(clip: str) -> tuple[int, dict[str, list[float]]]:
    frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2]
              for f in list(read_frames(clip))[:60]]
    sm = [small(f) for f in frames]
    yuv = [rgb_to_yuv420(f) for f in frames]
    first = [len(u) for u in encode_sequence(sm, COMPLEXITY_CRF,
                                             Av1Settings(preset=COMPLEXITY_PRESET))]
    scale = sum(first) / sum(first[:PREFIX])
    out = defaultdict(list)
    for crf in CRFS:
        real = size(yuv, crf)
        out["small-p13"].append(math.log(real / size(sm, crf, 13)))
        out["small-p10"].append(math.log(real / size(sm, crf, 10)))
        out["full-p10"].append(math.log(real / size(yuv, crf, 10)))
        out["full-p9"].append(math.log(real / size(yuv, crf, 9)))
        out["prefix-17"].append(math.log(real / (size(yuv[:PREFIX], crf) * scale)))
    return small_step(frames[0].shape[1]), out


def main() -> None:
    by = defaultdict(list)  # (probe, step) -> [per-clip rows]
    print("| clip | probe | " + " | ".join(f"CRF {c}" for c in CRFS) + " |")
    print("|---|---|" + "---|" * len(CRFS))
    for clip in sys.argv[1:]:
        step, rows = ratios(clip)
        for probe, row in rows.items():
            by[probe, step].append(row)
            print(f"| {clip} | {probe} | " + " | ".join(f"{x:+.2f}" for x in row) + " |",
                  flush=True)
    print("\nspread over the clips (max - min of ln(bytes / probe)):\n")
    print("| probe | step | clips | " + " | ".join(f"CRF {c}" for c in CRFS) + " |")
    print("|---|---|---|" + "---|" * len(CRFS))
    for (probe, step), rows in sorted(by.items()):
        spread = [max(col) - min(col) for col in zip(*rows)]
        print(f"| {probe} | {step} | {len(rows)} | " + " | ".join(f"{x:.2f}" for x in spread)
              + " |")


if __name__ == "__main__":
    main()
