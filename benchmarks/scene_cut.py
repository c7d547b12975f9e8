"""Per-frame PSNR around a hard cut: two development clips joined, coded by stem with the av1
backbone (scene-cut GOPs, failed predictions refused) and with the learned backbone (the
encoder before scene cuts), and by SVT-AV1 at the same size. Prints a table.

    python benchmarks/scene_cut.py --data ../shared/data/videos --bpp 0.02

The clip: box.mp4 frames 0..23 then cup.mp4 frames 0..23 (both 640x480, scaled to 320x240),
a hard cut at frame 24, written losslessly.
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/videos")
    ap.add_argument("--bpp", type=float, default=0.02)
    ap.add_argument("--frames", type=int, default=24, help="frames of each shot")
    a = ap.parse_args()
    import av

    from vidgen_codec import api, metrics
    from vidgen_codec.eval.baselines import baseline_at_bytes
    from vidgen_codec.video_io import read_frames

    def shot(name):
        out = []
        for f in read_frames(str(Path(a.data) / name), count=a.frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(320, 240)
            out.append(vf.to_ndarray(format="rgb24"))
        return out

    frames = shot("box.mp4") + shot("cup.mp4")
    cut = a.frames
    with tempfile.TemporaryDirectory() as d:
        clip = str(Path(d) / "cut.mkv")
        with av.open(clip, "w") as c:
            s = c.add_stream("ffv1", rate=Fraction(25))
            s.width, s.height, s.pix_fmt = 320, 240, "bgr0"
            for i, f in enumerate(frames):
                vf = av.VideoFrame.from_ndarray(f, format="rgb24")
                vf.pts, vf.time_base = i, Fraction(1, 25)
                c.mux(s.encode(vf))
            c.mux(s.encode(None))
        rows, sizes = {}, {}
        for name, kw in (("stem av1", {}), ("stem learned", {"backbone": "learned"})):
            out = str(Path(d) / "a.vgc")
            rep = api.encode(clip, out, bpp=a.bpp, refine=False, progress=False, **kw)
            api.decode(out, str(Path(d) / "d.mkv"), progress=False)
            rows[name] = metrics.psnr_per_frame(list(read_frames(str(Path(d) / "d.mkv"))), frames)
            sizes[name] = rep.bytes
        b = baseline_at_bytes(frames, Fraction(25), "svtav1", sizes["stem av1"])
        rows["SVT-AV1"] = metrics.psnr_per_frame(b.frames, frames)
        sizes["SVT-AV1"] = b.bytes_used
    names = list(rows)
    print(f"hard cut at frame {cut}, {a.bpp} bpp, 320x240, RGB PSNR per frame (dB)")
    print("bytes:  " + "  ".join(f"{n} {sizes[n]}" for n in names))
    print(f"{'frame':>5} " + " ".join(f"{n:>13}" for n in names))
    for t in range(len(frames)):
        print(f"{t:>5} " + " ".join(f"{rows[n][t]:>13.2f}" for n in names))
    for n in names:
        q = np.array(rows[n])
        second = q[cut:]
        print(f"{n}: shot 2 median {np.median(second):.2f} dB, worst {second.min():.2f} dB "
              f"(frame {cut + int(second.argmin())}), shot 1 median {np.median(q[:cut]):.2f}")


if __name__ == "__main__":
    main()
