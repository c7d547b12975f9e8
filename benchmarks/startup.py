"""What a user waits for: `vgc encode` and `vgc decode` as commands (a fresh Python process
each, imports and model loading included), beside SVT-AV1 preset 8 run the same way (a fresh
process that reads the clip with PyAV, codes it and writes an .mkv, as `ffmpeg -c:v libsvtav1`
would) at the CRF that gives vgc's bytes (issue 31).

    python benchmarks/startup.py cup360.mkv vtest360.mkv --bpp 0.02 --repeat 3
    python benchmarks/startup.py cup360.mkv --src /tmp/old/src   # another checkout's code

Prints per clip the seconds (fastest of --repeat) and frames per second of each command, and
the in-process encode time (`api.encode` after a warm-up in the same process, what
benchmarks/pareto.py times; fastest of --repeat) so that the fixed start-up cost shows. --src
runs vgc (the commands and the in-process encode) from another source tree (PYTHONPATH) for a
before/after table; its weights folder is that tree's. The SVT-AV1 command's CRF is searched in
this process (`eval.baselines.pyav_encode_at_bytes`). It converts each frame to RGB and back to
4:2:0 as vgc reads (a 4:4:4 source reformatted straight to 4:2:0 by swscale codes to about 4
times the bytes at one CRF); ffmpeg would skip that work, so its time is a little high.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

SVT = """
import sys, av
from fractions import Fraction
src, dst, crf = sys.argv[1:4]
with av.open(src) as i, av.open(dst, "w") as o:
    vs = i.streams.video[0]
    s = o.add_stream("libsvtav1", rate=vs.average_rate or 25)
    s.width, s.height, s.pix_fmt = vs.width, vs.height, "yuv420p"
    s.codec_context.time_base = Fraction(1, int(vs.average_rate or 25))
    s.options = {"preset": "8", "svtav1-params": "crf=" + crf}
    for n, f in enumerate(i.decode(vs)):
        # through RGB as vgc reads (a 4:4:4 source reformatted straight to 4:2:0 by swscale
        # codes to about 4 times the bytes at one CRF)
        g = av.VideoFrame.from_ndarray(f.to_ndarray(format="rgb24"), format="rgb24")
        g = g.reformat(format="yuv420p")
        g.pts = n
        for p in s.encode(g):
            o.mux(p)
    for p in s.encode():
        o.mux(p)
"""


INPROC = """
import sys, tempfile, time
from vidgen_codec import api
clip, bpp, repeat = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
best = float("inf")
with tempfile.TemporaryDirectory() as d:
    api.encode(clip, d + "/w.vgc", bpp=bpp, progress=False)  # imports, models, kernels
    for _ in range(repeat):
        t = time.perf_counter()
        api.encode(clip, d + "/a.vgc", bpp=bpp, progress=False)
        best = min(best, time.perf_counter() - t)
print(best)
"""


def timed(cmd: list[str], env: dict, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--bpp", type=float, default=0.02)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--src", help="run vgc from this source tree instead of the installed one")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.path.abspath(args.src)
    vgc = [sys.executable, "-m", "vidgen_codec"]

    from vidgen_codec.eval.baselines import pyav_encode_at_bytes
    from vidgen_codec.video_io import probe, read_frames

    print("| clip | frames | vgc bytes | vgc encode s (fps) | in-process encode s | "
          "vgc decode s (fps) | SVT-AV1 p8 bytes | SVT-AV1 p8 s (fps) |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        frames = list(read_frames(clip))
        n = len(frames)
        with tempfile.TemporaryDirectory() as d:
            out, dec, ref = (os.path.join(d, x) for x in ("a.vgc", "a.mkv", "s.mkv"))
            enc = timed(vgc + ["encode", clip, out, "--bpp", str(args.bpp), "-y", "-q"], env,
                        args.repeat)
            size = os.path.getsize(out)
            de = timed(vgc + ["decode", out, dec, "-y", "-q"], env, args.repeat)
            inproc = float(subprocess.run(
                [sys.executable, "-c", INPROC, clip, str(args.bpp), str(args.repeat)],
                check=True, env=env, capture_output=True, text=True).stdout.split()[-1])
            fps = Fraction(probe(clip).fps)
            crf = pyav_encode_at_bytes([np.asarray(f) for f in frames], fps, "libsvtav1", size,
                                       intra_only=False, options={"preset": "8"},
                                       tolerance=0.02).quality
            svt = timed([sys.executable, "-c", SVT, clip, ref, f"{crf:g}"], env,
                        args.repeat)
            svt_bytes = os.path.getsize(ref)
        print(f"| {os.path.basename(clip)} | {n} | {size:,} | {enc:.2f} ({n / enc:.1f}) | "
              f"{inproc:.2f} | {de:.2f} ({n / de:.1f}) | {svt_bytes:,} (mkv) | "
              f"{svt:.2f} ({n / svt:.1f}) |", flush=True)


if __name__ == "__main__":
    main()
