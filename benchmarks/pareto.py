"""Issue 31's Pareto table: JOD at (about) equal bytes against encode speed, for each vgc
`--speed`, SVT-AV1 presets 2-12 and x265 presets, in one run on the same machine.

    python benchmarks/pareto.py --clips cup360.mkv,vtest360.mkv --bpp 0.01,0.02,0.05 \
        --out results/pareto.jsonl
    python benchmarks/pareto.py --plot results/pareto.jsonl      # the table and the plots
    python benchmarks/pareto.py --retime results/pareto.jsonl --repeat 3   # times only

--retime times every row of a finished run again (vgc: the same encode; baselines: one encode
at the CRF found), on a quiet machine, keeping the fastest of --repeat runs, and rewrites its
"seconds" and "fps": the quality columns need hours on 2 cores, the times need a machine that
runs nothing else.

vgc rows: `api.encode` in this process (imports and model loading done before the clock
starts), reading the clip from its file twice (the first pass and the encode), as `vgc encode`
does; then decoded without the refiner unless the file names one. Baseline rows: the CRF that
gives the target bytes (bpp * pixels / 8, within 2 %) is searched first; the time is one
encode at that CRF from frames in memory (what a user who knows the CRF pays; the search is
not counted), one GOP over the clip. fps = frames / seconds. Quality: ColorVideoVDP (JOD) and
luma PSNR against the source frames. Rows are appended to --out as they finish (a rerun skips
rows already there), so a long run can be resumed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidgen_codec import api, metrics
from vidgen_codec.eval.baselines import pyav_encode_at_bytes, timed_encode
from vidgen_codec.eval.metrics_perceptual import cvvdp
from vidgen_codec.video_io import probe, read_frames

SPEEDS = ("ultrafast", "veryfast", "fast", "medium", "slow", "slower")
SVT = (2, 4, 6, 8, 10, 12)
X265 = ("ultrafast", "veryfast", "medium", "slow")


def measure(ref: np.ndarray, dec: np.ndarray, fps: float) -> dict:
    return {"jod": round(cvvdp(ref, dec, fps=fps), 3),
            "psnr_y": round(metrics.psnr_y(dec, ref), 3)}


_WARM = []


def vgc_row(clip: str, bpp: float, speed: str, ref: np.ndarray, fps: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        if not _WARM:  # imports, model loading and compiled kernels, once per process
            api.encode(clip, d + "/w.vgc", bpp=0.005, progress=False, frames=8)
            _WARM.append(True)
        t0 = time.perf_counter()
        rep = api.encode(clip, d + "/a.vgc", bpp=bpp, speed=speed, progress=False)
        sec = time.perf_counter() - t0
        api.decode(d + "/a.vgc", d + "/a.mkv", progress=False)
        dec = np.stack(list(read_frames(d + "/a.mkv")))
    return {"row": f"vgc {speed}", "bytes": rep.bytes, "seconds": round(sec, 3),
            "warnings": list(rep.warnings), **measure(ref, dec, fps)}


def baseline_row(codec: str, preset, ref: np.ndarray, fps: float, target: int) -> dict:
    opts = {"preset": str(preset)}
    if codec == "libx265":
        opts["x265-params"] = "log-level=error:info=0"
    frames = list(ref)
    got = pyav_encode_at_bytes(frames, Fraction(fps), codec, target, intra_only=False,
                               options=opts, tolerance=0.02)
    _, sec = timed_encode(frames, Fraction(fps), codec, got.quality, options=opts)
    name = "svt-av1" if codec == "libsvtav1" else "x265"
    return {"row": f"{name} {preset}", "bytes": got.bytes_used, "seconds": round(sec, 3),
            "crf": got.quality, **measure(ref, np.stack(got.frames), fps)}


def run(args) -> None:
    done = set()
    if os.path.exists(args.out):
        done = {(r["clip"], r["bpp"], r["row"]) for r in map(json.loads, open(args.out))}
    for clip in args.clips.split(","):
        ref = np.stack(list(read_frames(clip)))
        fps = float(probe(clip).fps)
        n, h, w = ref.shape[:3]
        for bpp in map(float, args.bpp.split(",")):
            target = int(bpp * n * h * w / 8)
            jobs = [(f"vgc {s}", lambda s=s: vgc_row(clip, bpp, s, ref, fps))
                    for s in args.speeds.split(",") if s]
            jobs += [(f"svt-av1 {p}", lambda p=p: baseline_row("libsvtav1", p, ref, fps, target))
                     for p in args.svt.split(",") if p]
            jobs += [(f"x265 {p}", lambda p=p: baseline_row("libx265", p, ref, fps, target))
                     for p in args.x265.split(",") if p]
            for name, job in jobs:
                if (clip, bpp, name) in done:
                    continue
                row = {"clip": clip, "bpp": bpp, "frames": n, "size": f"{w}x{h}", **job()}
                row["fps"] = round(n / row["seconds"], 2)
                row["bpp_file"] = round(row["bytes"] * 8 / (n * h * w), 5)
                print(json.dumps(row), flush=True)
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")


def retime(path: str, repeat: int) -> None:
    rows = [json.loads(line) for line in open(path)]
    refs = {}
    with tempfile.TemporaryDirectory() as d:
        for r in rows:
            if r["clip"] not in refs:
                refs[r["clip"]] = (list(read_frames(r["clip"])), Fraction(probe(r["clip"]).fps))
            frames, fps = refs[r["clip"]]
            family, setting = r["row"].split()
            best = float("inf")
            for _ in range(repeat):
                if family == "vgc":
                    if not _WARM:
                        api.encode(r["clip"], d + "/w.vgc", bpp=0.005, progress=False, frames=8)
                        _WARM.append(True)
                    t0 = time.perf_counter()
                    api.encode(r["clip"], d + "/a.vgc", bpp=r["bpp"], speed=setting,
                               progress=False)
                    sec = time.perf_counter() - t0
                else:
                    codec = "libsvtav1" if family == "svt-av1" else "libx265"
                    opts = {"preset": setting}
                    if codec == "libx265":
                        opts["x265-params"] = "log-level=error:info=0"
                    _, sec = timed_encode(frames, fps, codec, r["crf"], options=opts)
                best = min(best, sec)
            r["seconds"], r["fps"] = round(best, 3), round(r["frames"] / best, 2)
            print(r["clip"], r["bpp"], r["row"], r["fps"], flush=True)
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def report(path: str) -> None:
    rows = [json.loads(line) for line in open(path)]
    print("| clip | bpp | row | bytes | file bpp | JOD | PSNR-Y | encode fps |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {Path(r['clip']).stem} | {r['bpp']} | {r['row']} | {r['bytes']} | "
              f"{r['bpp_file']} | {r['jod']:.3f} | {r['psnr_y']:.2f} | {r['fps']:.1f} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(__file__).parent / "plots"
    for clip, bpp in sorted({(r["clip"], r["bpp"]) for r in rows}):
        fig, ax = plt.subplots(figsize=(6, 4))
        for family, mark in (("vgc", "o-"), ("svt-av1", "s--"), ("x265", "^:")):
            pts = sorted((r["fps"], r["jod"], r["row"].split()[1]) for r in rows
                         if r["clip"] == clip and r["bpp"] == bpp and r["row"].startswith(family))
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], mark, label=family)
                for x, y, lab in pts:
                    ax.annotate(lab, (x, y), fontsize=6)
        ax.set_xscale("log")
        ax.set_xlabel("encode fps (2 CPU cores)")
        ax.set_ylabel("ColorVideoVDP (JOD)")
        ax.set_title(f"{Path(clip).stem}, {bpp} bpp")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"s31_pareto_{Path(clip).stem}_{bpp}.png", dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips")
    ap.add_argument("--bpp", default="0.01,0.02,0.05")
    ap.add_argument("--speeds", default=",".join(SPEEDS))
    ap.add_argument("--svt", default=",".join(map(str, SVT)))
    ap.add_argument("--x265", default=",".join(X265))
    ap.add_argument("--out", default="results/pareto.jsonl")
    ap.add_argument("--plot", help="print the table of this file and draw its plots")
    ap.add_argument("--retime", help="time the rows of this file again (see above)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if a.retime:
        retime(a.retime, a.repeat)
    elif a.plot:
        report(a.plot)
    else:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        run(a)
