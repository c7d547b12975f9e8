"""Issue 31, part 2: the pruned search below the floor against the full one, at the same speed.

    python benchmarks/search_pruning.py small.mkv cut.mkv vtest360.mkv --bpp 0.0025,0.005,0.01

Per clip and rate, two real encodes at `--speed` (default medium): the speed as shipped
(`Speed.pruned`: no GOPs with motion frames, no coarser synthesised scale once a scale's best
scores below the finer one's) and the same speed with pruning off. Prints per GOP the chosen
backbone interval / scale of each, how many candidates and AV1 codings each made, and the
wall seconds of each encode (run one after the other, in this process, no refiner).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace

from vidgen_codec import api
from vidgen_codec.codecs.stem import av1, codec as stem_codec, synth_gop


def encode(clip: str, bpp: float, speed: str, pruned: bool) -> tuple[list, int, int, float]:
    """(chosen (interval, scale) per searched GOP, candidates, AV1 codings, seconds)."""
    chosen, count, codings = [], [0], [0]
    choose, named, sequence = av1._choose, stem_codec.speed_named, av1.encode_sequence
    # full-AV1 and motion-frame candidates code in av1, synthesised ones in synth_gop

    def counted(*a, **k):
        codings[0] += 1
        return sequence(*a, **k)

    def hooked(results, budget):
        best = choose(results, budget)
        chosen.append((best.interval, best.scale))
        count[0] += len(results)
        return best

    av1._choose, av1.encode_sequence, synth_gop.encode_sequence = hooked, counted, counted
    stem_codec.speed_named = lambda name: replace(named(name), pruned=pruned and
                                                  named(name).pruned)
    try:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            api.encode(clip, os.path.join(d, "a.vgc"), bpp=bpp, speed=speed, refine=False,
                       progress=False)
            secs = time.perf_counter() - t
    finally:
        av1._choose, stem_codec.speed_named, av1.encode_sequence = choose, named, sequence
        synth_gop.encode_sequence = sequence
    return chosen, count[0], codings[0], secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--bpp", default="0.0025,0.005,0.01")
    ap.add_argument("--speed", default="medium")
    args = ap.parse_args()
    print("| clip | bpp | full search: interval/scale per GOP | pruned | candidates | AV1 codings "
          "| seconds |")
    print("|---|---|---|---|---|---|---|")
    same = total = 0
    for clip in args.clips:
        for bpp in map(float, args.bpp.split(",")):
            full = encode(clip, bpp, args.speed, False)
            pruned = encode(clip, bpp, args.speed, True)
            same += sum(a == b for a, b in zip(full[0], pruned[0]))
            total += len(full[0])
            show = lambda c: ", ".join(f"{b}/{s}" for b, s in c) or "no search"  # noqa: E731
            print(f"| {os.path.basename(clip)} | {bpp:g} | {show(full[0])} | {show(pruned[0])} "
                  f"| {full[1]} -> {pruned[1]} | {full[2]} -> {pruned[2]} "
                  f"| {full[3]:.1f} -> {pruned[3]:.1f} |", flush=True)
    print(f"\nthe same interval and scale in {same} of {total} searched GOPs")


if __name__ == "__main__":
    main()
