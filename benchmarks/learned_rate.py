"""The learned coders' rate fit (issue 31, part 1): how many codings a learned backbone frame
(stem's learned I- and P-frames, s2vc's I- and P-frames) costs to land on its budget, and what
the file comes to.

    python benchmarks/learned_rate.py cup360.mkv small.mkv tree.mkv --bpp 0.02,0.05 \
        --frames 60 --codecs stem/learned,s2vc

Per clip, rate and codec: the file's bytes and its bpp against the target, luma PSNR of the
decoded frames (no refiner, no generator: the coders' own pictures), the in-process encode
seconds (`api.encode`, models loaded before the clock starts) and the codings per fitted frame
(calls of the chunk's payload function inside `codecs.common.chunks.fit_chunk`: one latent
quantised and entropy coded at one q each). Run it on two checkouts (PYTHONPATH) for a
before/after table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from vidgen_codec import api
from vidgen_codec.codecs.common import chunks
from vidgen_codec.codecs.s2vc import codec as s2vc_codec
from vidgen_codec.codecs.stem import encoder as stem_encoder
from vidgen_codec.metrics import psnr_y
from vidgen_codec.video_io import probe, read_frames

COUNT = {"fits": 0, "codings": 0}


def _counted(fit):
    def wrapper(payload, *args, **kwargs):
        COUNT["fits"] += 1

        def counted(*a, **k):
            COUNT["codings"] += 1
            return payload(*a, **k)
        return fit(counted, *args, **kwargs)
    return wrapper


def _instrument() -> None:
    fit = _counted(chunks.fit_chunk)
    for module in (chunks, stem_encoder, s2vc_codec):
        module.fit_chunk = fit


def row(clip: str, bpp: float, name: str, frames: int, d: str) -> dict:
    for f in ("w.vgc", "a.vgc", "a.y4m"):
        if os.path.exists(f"{d}/{f}"):
            os.remove(f"{d}/{f}")
    codec, _, variant = name.partition("/")
    extra = {"backbone": "learned"} if variant == "learned" else {}
    api.encode(clip, f"{d}/w.vgc", codec=codec, bpp=bpp, frames=4, progress=False, **extra)
    COUNT.update(fits=0, codings=0)
    t0 = time.perf_counter()
    rep = api.encode(clip, f"{d}/a.vgc", codec=codec, bpp=bpp, frames=frames, progress=False,
                     **extra)
    sec = time.perf_counter() - t0
    fits, codings = COUNT["fits"], COUNT["codings"]
    api.decode(f"{d}/a.vgc", f"{d}/a.y4m", refine=False, progress=False,
               **({"generate": False} if codec == "s2vc" else {}))
    ref = np.stack(list(read_frames(clip, count=frames)))
    dec = np.stack(list(read_frames(f"{d}/a.y4m")))
    info = probe(clip)
    n = len(ref)
    file_bpp = rep.bytes * 8 / (info.width * info.height * n)
    return {"clip": clip, "bpp": bpp, "codec": name, "bytes": rep.bytes,
            "off": file_bpp / bpp - 1, "psnr_y": psnr_y(ref, dec), "seconds": sec,
            "fits": fits, "per_fit": codings / max(fits, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--bpp", default="0.02,0.05")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--codecs", default="stem/learned,s2vc")
    a = ap.parse_args()
    _instrument()
    print("| clip | bpp | codec | bytes | off target | PSNR-Y | encode s | fitted frames | "
          "codings per fit |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for clip in a.clips:
            for bpp in map(float, a.bpp.split(",")):
                for name in a.codecs.split(","):
                    r = row(clip, bpp, name, a.frames, d)
                    print(f"| {clip} | {bpp} | {name} | {r['bytes']:,} | {r['off']:+.1%} | "
                          f"{r['psnr_y']:.2f} | {r['seconds']:.2f} | {r['fits']} | "
                          f"{r['per_fit']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
