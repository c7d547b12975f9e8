"""Parallel encode and decode against the worker count, and a long clip's time and memory
(issue 16).

    python benchmarks/parallel.py --data ../shared/data/videos [--workers 1,2] [--minutes 5]

Table 1: `vgc encode` / `vgc decode` of one clip (the development clips joined, scaled to
--size, --frames frames) with --workers 1, 2, ...: wall time, fps, speedup, whether the .vgc
and the decoded frames are identical to the 1-worker run, peak memory of the vgc process and
of the largest Ray worker (process-tree RSS, sampled every 0.1 s).
Table 2: the development clips looped to 1 minute and to --minutes minutes at 25 fps, at
--long-size, encoded with `--fast` (no structure search and gate: the default takes 5x longer)
and --workers 1: time, fps, peak memory (to show that it does not grow with the clip), and
the bpp of the whole file against the target.
Every figure is measured in this run; nothing is carried over.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import psutil

VGC = [sys.executable, "-m", "vidgen_codec"]


def make_clip(data: Path, out: str, size: tuple[int, int], frames: int) -> str:
    """The development videos, each scaled to `size`, joined (scene cuts between them) and
    looped to `frames` frames, as lossless FFV1."""
    sources = sorted(p for p in data.iterdir() if p.suffix in (".mp4", ".avi", ".mkv"))
    w, h = size
    with av.open(out, "w") as dst:
        st = dst.add_stream("ffv1", rate=25)
        st.width, st.height, st.pix_fmt = w, h, "bgr0"
        n = 0
        while n < frames:
            for src in sources:
                with av.open(str(src)) as c:
                    for f in c.decode(video=0):
                        rgb = f.to_ndarray(format="rgb24", width=w, height=h)
                        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                        vf.pts, vf.time_base = n, Fraction(1, 25)
                        dst.mux(st.encode(vf))
                        n += 1
                        if n == frames:
                            break
                if n == frames:
                    break
        dst.mux(st.encode(None))
    return out


def run(cmd: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS of the process tree's main process, peak RSS of one Ray worker)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = {"main": 0, "worker": 0}

    def sample():
        proc = psutil.Process(p.pid)
        while p.poll() is None:
            try:
                peak["main"] = max(peak["main"], proc.memory_info().rss)
                for c in proc.children(recursive=True):
                    try:
                        if "ray::" in " ".join(c.cmdline()[:1]):
                            peak["worker"] = max(peak["worker"], c.memory_info().rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            time.sleep(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = p.communicate()
    t.join()
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.decode()[-500:]}")
    return time.perf_counter() - t0, peak["main"], peak["worker"]


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f}" if n else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/videos")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--bpp", type=float, default=0.02)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--long-size", default="160x120")
    ap.add_argument("--skip-long", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    size = tuple(int(v) for v in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="vgc-parallel-"))
    clip = make_clip(Path(args.data), str(tmp / "clip.mkv"), size, args.frames)
    print(f"machine: {os.cpu_count()} CPUs; clip {args.size}, {args.frames} frames, "
          f"--bpp {args.bpp}\n")
    print("| workers | encode s | enc fps | speedup | decode s | dec fps | speedup | "
          "identical .vgc / frames | peak MiB vgc / worker (enc) | (dec) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = None
    for n in [int(v) for v in args.workers.split(",")]:
        vgc, rec = tmp / f"w{n}.vgc", tmp / f"w{n}.y4m"
        te, me, we = run(VGC + ["encode", clip, str(vgc), "--bpp", str(args.bpp), "-y", "-q",
                                "--workers", str(n)])
        td, md, wd = run(VGC + ["decode", str(vgc), str(rec), "-y", "-q",
                                "--workers", str(n)])
        same = "-"
        if base is None:
            base = (te, td, vgc.read_bytes(), rec.read_bytes())
        else:
            same = f"{vgc.read_bytes() == base[2]} / {rec.read_bytes() == base[3]}"
        print(f"| {n} | {te:.1f} | {args.frames / te:.2f} | {base[0] / te:.2f}x | {td:.1f} | "
              f"{args.frames / td:.2f} | {base[1] / td:.2f}x | {same} | {mib(me)} / {mib(we)} | "
              f"{mib(md)} / {mib(wd)} |")
    if args.skip_long:
        return
    lsize = tuple(int(v) for v in args.long_size.split("x"))
    print(f"\nlong clip: {args.long_size}, the development clips looped, 25 fps, "
          f"--bpp {args.bpp}, --fast, --workers 1\n")
    print("| length | frames | encode s | fps | peak MiB | bytes | bpp |")
    print("|---|---|---|---|---|---|---|")
    for minutes in (1.0, args.minutes):
        n = int(minutes * 60 * 25)
        src = make_clip(Path(args.data), str(tmp / f"long{n}.mkv"), lsize, n)
        out = tmp / f"long{n}.vgc"
        t, m, _ = run(VGC + ["encode", src, str(out), "--bpp", str(args.bpp), "--fast", "-y",
                             "-q"])
        size_b = out.stat().st_size
        print(f"| {minutes:g} min | {n} | {t:.0f} | {n / t:.1f} | {mib(m)} | {size_b:,} | "
              f"{size_b * 8 / (lsize[0] * lsize[1] * n):.5f} |")
        os.remove(src)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
