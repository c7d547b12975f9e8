"""Seek time at the default key frame interval (issue 31): how long `vgc decode --start k
--frames 1` takes to give frame k, for frames across two GOPs, against a 33-frame keyint.

    python benchmarks/seek.py clip.mkv [--bpp 0.02] [--frames 258]

Decoding starts at the GOP that holds frame k (the INDEX chunk) and decodes the GOP's frames
up to k (an av1 GOP's AV1 units are one sequence), so the time grows with k's distance from
its GOP's key frame. Timed in this process after a warm-up decode; the refiner is not run.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from vidgen_codec import api


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("--bpp", type=float, default=0.02)
    ap.add_argument("--frames", type=int, default=258)
    a = ap.parse_args()
    print("| keyint | frame | seconds to frame |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for keyint in (None, 33):
            f = f"{d}/k{keyint}.vgc"
            api.encode(a.clip, f, bpp=a.bpp, frames=a.frames, keyint=keyint, progress=False)
            api.decode(f, f"{d}/w.mkv", frames=1, progress=False)
            for k in (0, 32, 64, 128, 200, a.frames - 1):
                t0 = time.perf_counter()
                api.decode(f, f"{d}/s.mkv", start=k, frames=1, progress=False, refine=False)
                print(f"| {keyint or 'default (129)'} | {k} | {time.perf_counter() - t0:.3f} |",
                      flush=True)


if __name__ == "__main__":
    main()
