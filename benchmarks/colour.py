"""The colour conversions' two paths (`pictures.yuv420`): numpy against the Numba kernels, per
frame, and what Numba costs to start in a fresh process (issue 31: why a short job converts
with numpy).

    python benchmarks/colour.py --repeat 30

Each conversion gets a fresh copy of its input, as frames arrive in a real job (a warm cache
flatters both paths). Prints a table in ms per frame, then the seconds a fresh Python process
takes to import Numba and to load and run both cached kernels.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from vidgen_codec.pictures import yuv420

SIZES = ((176, 144), (640, 360), (1280, 720))


def per_frame(fn, make, repeat: int) -> float:
    """Fastest ms per call of fn(make()) over repeat calls, after one warm-up."""
    fn(make())
    best = float("inf")
    for _ in range(repeat):
        x = make()
        t = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t)
    return 1000 * best


def numba_start() -> tuple[float, float]:
    """Seconds a fresh process spends importing Numba, then running both cached kernels once
    (best of 3 processes)."""
    code = ("import time, numpy as np\nfrom vidgen_codec.pictures import yuv420\n"
            "t = time.perf_counter()\nimport numba\nt1 = time.perf_counter()\n"
            "yuv420.yuv420_to_rgb(np.zeros((6, 4), np.uint8), 4, 4, compiled=True)\n"
            "yuv420.rgb_to_yuv420(np.zeros((4, 4, 3), np.uint8), compiled=True)\n"
            "print(t1 - t, time.perf_counter() - t1)\n")
    runs = [tuple(map(float, subprocess.run([sys.executable, "-c", code], capture_output=True,
                                            text=True, check=True).stdout.split()))
            for _ in range(3)]
    return min(runs, key=sum)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| frame | RGB -> 4:2:0 numpy | compiled | 4:2:0 -> RGB numpy | compiled |")
    print("|---|---|---|---|---|")
    for w, h in SIZES:
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        planes = yuv420.rgb_to_yuv420(rgb, compiled=False)
        cells = []
        for compiled in (False, True):
            cells.append(per_frame(lambda x: yuv420.rgb_to_yuv420(x, compiled=compiled),
                                   rgb.copy, args.repeat))
        for compiled in (False, True):
            cells.append(per_frame(lambda x: yuv420.yuv420_to_rgb(x, h, w, compiled=compiled),
                                   planes.copy, args.repeat))
        print(f"| {w}x{h} | " + " | ".join(f"{c:.2f} ms" for c in cells) + " |")
    imp, load = numba_start()
    print(f"\nNumba's start in a fresh process (best of 3): {imp:.2f} s to import it, "
          f"{load:.2f} s to load and run both cached kernels once")


if __name__ == "__main__":
    main()
