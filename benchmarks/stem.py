"""STEM and S2VC speed and streaming memory on the CPU (or GPU with --device cuda). Prints a table.

    python benchmarks/stem.py                      # 640x360, bpp 0.02 and 0.05
    python benchmarks/stem.py --lengths 50,150,400 # peak RSS against clip length

Variants (--variants): `av1` the default (structure search + refinement gate), `av1-nogate`
(structure search, --no-refine), `av1-fast` (--fast: neither), `learned` (the learned
backbone, refined), `learned-norefine`: so the cost of the search and of the gate shows;
`s2vc` and `s2vc-nogen` (decoded with --no-generate): S2VC with its shipped weights;
`s2vc-fast` (--fast: no search of the I-frame's share, decoded with --no-generate);
`synth-q8`, `synth-h8`, `synth-f4`: synthesised GOPs at a fixed backbone scale (quarter, half,
full) and interval (8, 8, 4), no refiner: the decoder's motion search and interpolation.
--clip takes a real clip (scaled to --size) instead of the synthetic one.

Each point runs in its own process so its peak RSS (ru_maxrss) is its own. The clip is the
synthetic panning scene of `vgc`'s demo (made here, nothing downloaded; long clips pan back
and forth), written losslessly.
Quality against other codecs is measured by `vgc eval` (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from vidgen_codec import api
src, vgc, out, bpp, device, kw = sys.argv[1:7]
kw = json.loads(kw)
codec, dec_kw = kw.pop("codec", "stem"), kw.pop("decode", {})
t = time.perf_counter()
rep = api.encode(src, vgc, codec=codec, bpp=float(bpp), device=device, progress=False, **kw)
t_enc = time.perf_counter() - t
rss_enc = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
n = api.decode(vgc, out, device=device, progress=False, **dec_kw)
t_dec = time.perf_counter() - t
gpu = {}
if device == "cuda":
    import torch
    gpu = {"gpu_peak_mib": round(torch.cuda.max_memory_allocated() / 2**20)}
print(json.dumps({**gpu, "frames": rep.frames, "bytes": rep.bytes, "bpp": rep.bpp,
                  "enc_fps": rep.frames / t_enc, "dec_fps": n / t_dec,
                  "rss_enc_mib": rss_enc / 1024,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def copy_clip(src: str, path: Path, n: int, w: int, h: int) -> None:
    """The first n frames of `src`, scaled to w x h (area), written losslessly."""
    import av
    import cv2

    with av.open(src) as inp, av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = w, h, "bgr0"
        for i, f in enumerate(inp.decode(video=0)):
            if i == n:
                break
            a = cv2.resize(f.to_ndarray(format="rgb24"), (w, h), interpolation=cv2.INTER_AREA)
            vf = av.VideoFrame.from_ndarray(a, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, 25)
            c.mux(s.encode(vf))
        c.mux(s.encode(None))


def make_clip(path: Path, n: int, w: int, h: int) -> None:
    import av

    from vidgen_codec.tools.sample_clip import synthetic_frames

    period = max(2, min(n, w // 3))  # the scene pans w / 3 frames; longer clips pan back
    scene = list(synthetic_frames(n=period, w=w, h=h))
    cycle = scene + scene[-2:0:-1]
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = w, h, "bgr0"
        for i, f in enumerate(cycle[i % len(cycle)] for i in range(n)):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, 25)
            c.mux(s.encode(vf))
        c.mux(s.encode(None))


VARIANTS = {
    "av1": {},
    "av1-nogate": {"refine": False},
    "av1-fast": {"fast": True},
    "learned": {"backbone": "learned"},
    "learned-norefine": {"backbone": "learned", "refine": False},
    "s2vc": {"codec": "s2vc"},
    "s2vc-nogen": {"codec": "s2vc", "decode": {"generate": False}},
    "s2vc-fast": {"codec": "s2vc", "fast": True, "decode": {"generate": False}},
    # synthesised GOPs (frames between backbones rebuilt at the decoder), structure fixed
    "synth-q8": {"refine": False, "backbone_scale": 4, "backbone_interval": 8},
    "synth-h8": {"refine": False, "backbone_scale": 2, "backbone_interval": 8},
    "synth-f4": {"refine": False, "backbone_scale": 1, "backbone_interval": 4},
}


def run_point(clip: Path, tmp: Path, bpp: float, device: str, variant: str = "av1") -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(tmp / "a.vgc"),
                          str(tmp / "d.mkv"), str(bpp), device, json.dumps(VARIANTS[variant])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--bpp", default="0.02,0.05")
    ap.add_argument("--frames", type=int, default=49)
    ap.add_argument("--lengths", default="", help="clip lengths for the memory table")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clip", default=None, help="a real clip instead of the synthetic one")
    ap.add_argument("--variants", default="av1,av1-nogate,av1-fast,learned,learned-norefine")
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        clip = tmp / "clip.mkv"
        if a.clip:
            copy_clip(a.clip, clip, a.frames, w, h)
        else:
            make_clip(clip, a.frames, w, h)
        print(f"vgc speed, {w}x{h}, {a.frames} frames of {a.clip or 'the synthetic pan'}, "
              f"device {a.device}")
        print(f"{'variant':<17}{'bpp target':>10} {'bpp':>8} {'bytes':>8} {'enc fps':>8} "
              f"{'dec fps':>8} {'peak MiB':>9}")
        for bpp in map(float, a.bpp.split(",")):
            for v in a.variants.split(","):
                r = run_point(clip, tmp, bpp, a.device, v)
                print(f"{v:<17}{bpp:>10g} {r['bpp']:>8.4f} {r['bytes']:>8} "
                      f"{r['enc_fps']:>8.2f} {r['dec_fps']:>8.2f} {r['rss_mib']:>9.0f}",
                      flush=True)
        if a.lengths:
            print(f"\nPeak RSS against clip length, {w}x{h}, bpp 0.02")
            print(f"{'frames':>7} {'encode MiB':>11} {'enc+dec MiB':>12} {'enc fps':>8}")
            for n in map(int, a.lengths.split(",")):
                make_clip(clip, n, w, h)
                r = run_point(clip, tmp, 0.02, a.device)
                print(f"{n:>7} {r['rss_enc_mib']:>11.0f} {r['rss_mib']:>12.0f} "
                      f"{r['enc_fps']:>8.2f}")


if __name__ == "__main__":
    main()
