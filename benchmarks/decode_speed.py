"""Decode speed of .vgc files: `api.decode` to FFV1 .mkv without the refiner, fastest of
--repeat, on torch's thread count (`--threads`, default 2: the 2-core machine's figure).

    python benchmarks/decode_speed.py a.vgc b.vgc --repeat 3

Prints bytes, seconds and frames per second per file (the time includes opening the file and
writing the .mkv, not starting Python).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from vidgen_codec import api
from vidgen_codec.info import describe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("| file | bytes | frames | seconds | fps |")
    print("|---|---|---|---|---|")
    for path in args.files:
        frames = describe(path)["frames"]
        best = float("inf")
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as d:
                t = time.perf_counter()
                api.decode(path, os.path.join(d, "x.mkv"), refine=False, progress=False)
                best = min(best, time.perf_counter() - t)
        print(f"| {path} | {os.path.getsize(path)} | {frames} | {best:.2f} | "
              f"{frames / best:.1f} |", flush=True)


if __name__ == "__main__":
    main()
