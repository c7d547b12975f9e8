"""`vgc decode x.vgc out.mp4`: what the .mp4 writer's x264 settings cost and keep (issue 31).

    python benchmarks/mp4_output.py cup720.mkv vtest360.mkv tree.mkv --frames 60

Writes each clip's frames (RGB, standing in for what the decoder hands `video_writer`) to
H.264 at several (preset, crf) pairs, the first the writer's old setting and the third its
new one, through PyAV with the writer's stream settings, and prints seconds to write, bytes,
and the RGB PSNR of the read-back frames against the frames written (4:2:0 chroma included,
which caps it).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import av
import numpy as np

from vidgen_codec.video_io import read_frames

SETTINGS = (("medium", 10), ("faster", 8), ("veryfast", 6), ("superfast", 8))


def write(path: str, frames: list[np.ndarray], preset: str, crf: int) -> float:
    h, w = frames[0].shape[:2]
    t = time.perf_counter()
    with av.open(path, "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": str(crf), "preset": preset}
        s.codec_context.colorspace, s.codec_context.color_range = 6, 1
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            out.mux(s.encode(vf))
        out.mux(s.encode(None))
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    print("| clip | preset, crf | write s | bytes | PSNR dB |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for clip in args.clips:
            frames = list(read_frames(clip, count=args.frames))
            for preset, crf in SETTINGS:
                path = os.path.join(d, "o.mp4")
                sec = write(path, frames, preset, crf)
                back = list(read_frames(path))
                mse = np.mean([np.mean((a.astype(np.float64) - b) ** 2)
                               for a, b in zip(frames, back, strict=True)])
                print(f"| {os.path.basename(clip)} | {preset}, {crf} | {sec:.2f} | "
                      f"{os.path.getsize(path):,} | {10 * np.log10(255 ** 2 / mse):.2f} |")


if __name__ == "__main__":
    main()
