"""Benchmark of the `intra` codec: CPU speed at 640x480 and rate-distortion next to x264
all-intra and JPEG at matched bytes, on a held-out clip. Prints a table (not a test).

    python benchmarks/intra.py [--clip ../shared/data/videos/cup.mp4] [--frames 20]

Every vgc point is a real .vgc file; its bytes (the whole file) are what x264 (`-g 1`, packets
without SEI) and JPEG (whole .jpg files) are matched to.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import jpeg_at_bytes, x264_intra_at_bytes  # noqa: E402

from vidgen_codec import api  # noqa: E402
from vidgen_codec.metrics import ms_ssim, psnr  # noqa: E402
from vidgen_codec.video_io import probe, read_frames  # noqa: E402
from vidgen_codec.video_writer import VideoWriter  # noqa: E402

DEFAULT_CLIP = Path(__file__).resolve().parents[1].parent / "shared/data/videos/cup.mp4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clip", default=str(DEFAULT_CLIP))
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--bpp", default="0.05,0.1,0.2,0.4")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = probe(args.clip)
    ref = list(read_frames(args.clip, count=args.frames))
    n, h, w = len(ref), info.height, info.width
    tmp = Path(tempfile.mkdtemp())
    src = tmp / "src.mkv"
    with VideoWriter(str(src), w, h, info.fps) as vw:
        for f in ref:
            vw.write(f)
    print(f"clip {args.clip}: {n} frames {w}x{h} @ {float(info.fps):.3f} fps, "
          f"torch threads {torch.get_num_threads()}, device cpu\n")
    rows = []
    for target in (float(b) for b in args.bpp.split(",")):
        out, dec = tmp / f"{target}.vgc", tmp / f"{target}_dec"
        t0 = time.perf_counter()
        rep = api.encode(str(src), str(out), bpp=target, progress=False)
        t1 = time.perf_counter()
        api.decode(str(out), str(dec) + "/", progress=False)
        t2 = time.perf_counter()
        rec = list(read_frames(str(dec) + "/"))
        nbytes = out.stat().st_size
        rows.append(("vgc intra", target, nbytes, psnr(ref, rec), ms_ssim(ref, rec),
                     n / (t1 - t0), n / (t2 - t1)))
        x = x264_intra_at_bytes(ref, info.fps, nbytes)
        rows.append(("x264 -g 1", target, x.bytes_used, psnr(ref, x.frames),
                     ms_ssim(ref, x.frames), None, None))
        j = jpeg_at_bytes(ref, nbytes)
        rows.append(("JPEG", target, j.bytes_used, psnr(ref, j.frames), ms_ssim(ref, j.frames),
                     None, None))
    print(f"{'codec':<11}{'target':>8}{'bytes':>9}{'bpp':>9}{'PSNR dB':>9}{'MS-SSIM':>9}"
          f"{'enc fps':>9}{'dec fps':>9}")
    for name, target, nbytes, p, m, ef, df in rows:
        bpp = nbytes * 8 / (w * h * n)
        fps = (f"{ef:>9.2f}{df:>9.2f}" if ef else f"{'-':>9}{'-':>9}")
        print(f"{name:<11}{target:>8.3f}{nbytes:>9}{bpp:>9.4f}{p:>9.2f}{m:>9.4f}{fps}")
    print("\nvgc fps include model loading once per call (decode: also PNG writing).")


if __name__ == "__main__":
    main()
