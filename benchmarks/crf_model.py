"""Fit the table of `pictures/av1_rate.py`: how the first pass's measure predicts the av1
backbone's bytes at each CRF.

    python benchmarks/crf_model.py mega_s.mkv:1 box_s.mkv:1 mega2.mkv:2 mega.mkv:3 box.mkv:3 \
        mega720.mkv:5 box720.mkv:5

Each argument is a clip and the first pass's subsampling step at its width (1 up to 256 px, 2
up to 512, 3 up to 768, 5 up to 1280). For each clip (its first 60 frames): c = bytes per small
pixel of the first pass's measure (`av1_rate.complexity`), and b(crf) = bytes per pixel of the
frames coded by SVT-AV1 at preset 8 for CRF 20, 25, .., 70. It prints ln(b / c) per clip and
the mean per step: the rows of `av1_rate.G`. The shipped table came from clips that are not
held out: Megamind.avi and box.mp4 (../shared/data/videos) at 176x144, 352x256, 640x360 (a
crop), 640x480 and 1280x720.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict

from vidgen_codec.pictures.av1 import Av1Settings, encode_sequence
from vidgen_codec.pictures.av1_rate import CRFS, complexity, small
from vidgen_codec.video_io import read_frames


def curve(clip: str) -> list[float]:
    frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2]
              for f in list(read_frames(clip))[:60]]
    c = complexity([small(f) for f in frames])
    pixels = len(frames) * frames[0].shape[0] * frames[0].shape[1]
    sizes = [sum(map(len, encode_sequence(frames, crf, Av1Settings()))) for crf in CRFS]
    return [round(math.log(b / pixels / c), 3) for b in sizes]


def main() -> None:
    by_step = defaultdict(list)
    for arg in sys.argv[1:]:
        clip, step = arg.rsplit(":", 1)
        g = curve(clip)
        by_step[int(step)].append(g)
        print(clip, g, flush=True)
    for step, gs in sorted(by_step.items()):
        print(step, [round(sum(col) / len(col), 2) for col in zip(*gs)])


if __name__ == "__main__":
    main()
