"""Issue 30, part 1: what block mode maps give a synthesised GOP, at equal bytes.

    python benchmarks/block_maps.py vtest360.mkv small.mkv --bpp 0.0025,0.005,0.01

Per clip and rate, three kinds of real files at the default speed, no refiner: the shipped
encoder (maps where the search keeps them), the same encoder with maps off (`chosen_gop.mapped`
patched out), and maps off at --above x the rate (default 1.04 and 1.1), so that the JOD of
a file without maps at the maps file's bytes can be read off by interpolation in ln(bytes).
Prints bytes, the maps' bytes, ColorVideoVDP (JOD), RGB PSNR, the worst frame's PSNR and
E_warp for each.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile

import numpy as np

from vidgen_codec import api, metrics
from vidgen_codec.bitstream import ContainerReader
from vidgen_codec.codecs.stem import chosen_gop
from vidgen_codec.eval.metrics_perceptual import cvvdp
from vidgen_codec.eval.warp_error import reference_flow, warping_error
from vidgen_codec.stem_gop import unpack_gop
from vidgen_codec.video_io import probe, read_frames


def measure(clip: str, bpp: float, maps: bool, ref: np.ndarray, flow, fps: float) -> dict:
    mapped = chosen_gop.mapped
    if not maps:
        chosen_gop.mapped = lambda codec, st, best, *a: best
    try:
        with tempfile.TemporaryDirectory() as d:
            api.encode(clip, d + "/a.vgc", bpp=bpp, refine=False, progress=False)
            with ContainerReader(d + "/a.vgc") as rd:
                map_bytes = sum(len(unpack_gop(c.payload)[0].maps) for c in rd.iter_frames())
            api.decode(d + "/a.vgc", d + "/a.mkv", refine=False, progress=False)
            dec = np.stack(list(read_frames(d + "/a.mkv")))
            size = os.path.getsize(d + "/a.vgc")
    finally:
        chosen_gop.mapped = mapped
    per = [metrics.psnr(dec[i:i + 1], ref[i:i + 1]) for i in range(len(ref))]
    return {"bytes": size, "maps": map_bytes, "jod": cvvdp(ref, dec, fps=fps),
            "psnr": metrics.psnr(dec, ref), "worst": min(per), "ewarp": warping_error(dec, flow)}


def at_bytes(points: list[dict], size: int) -> float | None:
    """JOD at `size` bytes by linear interpolation in ln(bytes) between the files without
    maps that bracket it (None when none do)."""
    pts = sorted(points, key=lambda p: p["bytes"])
    for a, b in zip(pts, pts[1:]):
        if a["bytes"] <= size <= b["bytes"] and b["bytes"] > a["bytes"]:
            t = math.log(size / a["bytes"]) / math.log(b["bytes"] / a["bytes"])
            return a["jod"] + t * (b["jod"] - a["jod"])
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--bpp", default="0.0025,0.005,0.01")
    ap.add_argument("--above", default="1.04,1.1")
    a = ap.parse_args()
    factors = [1.0] + [float(x) for x in a.above.split(",")]
    print("| clip | bpp | file | bytes (maps) | JOD | without maps at these bytes | PSNR | "
          "worst frame | E_warp |")
    print("|---|---|---|---|---|---|---|---|---|")
    for clip in a.clips:
        ref = np.stack(list(read_frames(clip)))
        flow = reference_flow(ref)
        fps = float(probe(clip).fps)
        for bpp in map(float, a.bpp.split(",")):
            shipped = measure(clip, bpp, True, ref, flow, fps)
            plain = [measure(clip, bpp * k, False, ref, flow, fps) for k in factors]
            rows = [("maps", shipped)] + [(f"no maps @ {bpp * k:g}", p)
                                          for k, p in zip(factors, plain)]
            for name, p in rows:
                eq = at_bytes(plain, p["bytes"]) if name == "maps" else None
                print(f"| {os.path.basename(clip)} | {bpp:g} | {name} | {p['bytes']:,} "
                      f"({p['maps']}) | {p['jod']:.3f} | {'' if eq is None else f'{eq:.3f}'} | "
                      f"{p['psnr']:.2f} | {p['worst']:.2f} | {p['ewarp']:.5f} |", flush=True)


if __name__ == "__main__":
    main()
