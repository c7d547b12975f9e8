"""Write the demo's sample clip: 2 s of real footage if ../shared/data is beside the repo,
otherwise a synthetic 2 s 640x360 scene (textured background, moving and rotating objects).

    python -m vidgen_codec.tools.sample_clip demo/sample.mp4
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "videos" / "cup.mp4"


def synthetic_frames(n: int = 50, w: int = 640, h: int = 360, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # smooth "landscape": a few sinusoids + noise texture, panned over time
    tex = rng.random((h, w * 2), dtype=np.float32)
    for t in range(n):
        pan = 3 * t
        base = (0.5 + 0.25 * np.sin((xx + pan) / 37.0) * np.cos(yy / 23.0)
                + 0.15 * tex[:, pan:pan + w])
        img = np.stack([base, base * 0.9 + 0.05 * np.sin(yy / 11.0), 1 - base * 0.7], -1)
        cx, cy = 100 + 8 * t, 180 + 60 * np.sin(t / 8)
        disk = (xx - cx) ** 2 + (yy - cy) ** 2 < 45 ** 2
        img[disk] = [0.9, 0.2, 0.1]
        a = t / 10
        u, v = (xx - 450) * np.cos(a) + (yy - 150) * np.sin(a), -(xx - 450) * np.sin(a) + (yy - 150) * np.cos(a)
        img[(np.abs(u) < 60) & (np.abs(v) < 25)] = [0.1, 0.3, 0.9]
        yield (np.clip(img, 0, 1) * 255).astype(np.uint8)


def main(out: str) -> None:
    from ..video_io import VideoWriter, probe, read_frames

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if SHARED.exists():
        info = probe(str(SHARED))
        frames = read_frames(str(SHARED), count=int(2 * info.fps))
        w, h, fps, src = info.width, info.height, info.fps, f"{SHARED} (first 2 s)"
    else:
        frames, w, h, fps, src = synthetic_frames(), 640, 360, Fraction(25), "synthetic scene"
    with VideoWriter(out, w, h, fps) as vw:
        for f in frames:
            vw.write(f)
    print(f"{out}: sample clip from {src}")


USAGE = """usage: python -m vidgen_codec.tools.sample_clip [OUT]

Writes the demo's sample clip to OUT (default demo/sample.mp4): 2 s of
../shared/data/videos/cup.mp4 when it is there, else a synthetic scene.

Example:
  python -m vidgen_codec.tools.sample_clip demo/sample.mp4"""

if __name__ == "__main__":
    arg = sys.argv[1] if len(sys.argv) > 1 else "demo/sample.mp4"
    if arg in ("-h", "--help"):
        print(USAGE)
    elif arg.startswith("-") or len(sys.argv) > 2:
        sys.exit(f"sample_clip: one output path, not {' '.join(sys.argv[1:])!r}\n{USAGE}")
    else:
        main(arg)
