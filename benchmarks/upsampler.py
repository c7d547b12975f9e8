"""Issue 33, part 3: vgc's own upsampler (`vgc-upconv7-av1`, waifu2x noise2 fine-tuned on
SVT-AV1 round trips) against Lanczos-3 and the waifu2x priors, on held-out material.

    python benchmarks/upsampler.py pictures ../shared/data [--windows 2]
    python benchmarks/upsampler.py files CLIP [CLIP ..] --bpp 0.0025,0.005 [--interval 8]

`pictures`: backbones of the held-out videos (cup.mp4, tree.avi, vtest.avi; the training
never saw them) coded at half scale by SVT-AV1 as the encoder codes them (windows of 6
backbones 4 frames apart, CRF drawn from 38-63, `train.upsampler.round_trips` with the
validation seed), each upsampled 2x by Lanczos-3 and by each upsampler in the exact
arithmetic the decoder runs (`priors.upscale2x`); RGB PSNR against the original frame, mean
over pictures, per clip.

`files`: each clip encoded at `--speed slow` with half-scale synthesised GOPs forced
(`--backbone-scale 2`, `--backbone-interval`) so that every GOP is upsampled, once per set
of upsamplers the encoder may try (Lanczos only; the waifu2x priors as shipped before; vgc's
own alone; all), the same AV1 units in every row; decoded and scored with ColorVideoVDP
(JOD), VMAF and RGB PSNR. With `--refine`, each file is also decoded with the refiner
(the shipped refiner-av1, which the encoder's gate switched on or off per window).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

SETS = {"lanczos": (), "waifu2x": (1, 3, 4), "own": (6,), "all": (1, 3, 4, 6)}


def pictures(data: str, windows: int) -> None:
    from vidgen_codec import metrics
    from vidgen_codec.pictures.lanczos import upsample2x_rgb
    from vidgen_codec.priors import available_priors, load_prior, upscale2x
    from vidgen_codec.train.upsampler import HOLDOUT, round_trips

    names = [n for n in ("waifu2x-photo-noise0", "waifu2x-photo-noise2",
                         "waifu2x-photo-noise3", "vgc-upconv7-av1") if n in available_priors()]
    modules = {n: load_prior(n)[0] for n in names}
    rows = {}
    for clip in HOLDOUT:
        pairs = round_trips(data, only=(clip,), windows=windows, seed=1)
        got = {"lanczos": [metrics.psnr(upsample2x_rgb(lo), hi) for lo, hi in pairs]}
        for n, m in modules.items():
            got[n] = [metrics.psnr(upscale2x(m, lo), hi) for lo, hi in pairs]
        rows[clip] = (len(pairs), {k: float(np.mean(v)) for k, v in got.items()})
        print(clip, rows[clip], flush=True)
    cols = ["lanczos", *names]
    print("| clip | pictures | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for clip, (n, got) in rows.items():
        print(f"| {clip} | {n} | " + " | ".join(f"{got[c]:.2f}" for c in cols) + " |")


def files(clips: list[str], bpps: list[float], interval: int, refine: bool) -> None:
    from vidgen_codec import api, metrics
    from vidgen_codec.codecs.stem import upsamplers
    from vidgen_codec.eval.metrics_perceptual import cvvdp, vmaf
    from vidgen_codec.info import describe
    from vidgen_codec.video_io import probe, read_frames

    print("| clip | bpp | upsamplers tried | bytes | upsampler named | refined | JOD | VMAF "
          "| PSNR |")
    print("|---|---|---|---|---|---|---|---|---|")
    for clip in clips:
        ref = np.stack(list(read_frames(clip)))
        fps = float(probe(clip).fps)
        for bpp in bpps:
            for label, tried in SETS.items():
                with tempfile.TemporaryDirectory() as d:
                    upsamplers.TRIED = tried  # what encoder_priors() offers the encoder
                    vgc = str(Path(d) / "x.vgc")
                    api.encode(clip, vgc, bpp=bpp, speed="slow", backbone_scale=2,
                               backbone_interval=interval, prior=bool(tried), progress=False)
                    named = sorted({g.get("upsampler") or "lanczos"
                                    for g in describe(vgc)["av1_gops"]})
                    for ref_on in ((False, True) if refine else (False,)):
                        api.decode(vgc, d + "/x.mkv", refine=ref_on, progress=False)
                        dec = np.stack(list(read_frames(d + "/x.mkv")))
                        print(f"| {Path(clip).stem} | {bpp} | {label} | {Path(vgc).stat().st_size} "
                              f"| {', '.join(named)} | {'yes' if ref_on else 'no'} "
                              f"| {cvvdp(ref, dec, fps=fps):.3f} | {vmaf(ref, dec):.2f} "
                              f"| {metrics.psnr(dec, ref):.2f} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("pictures")
    a.add_argument("data")
    a.add_argument("--windows", type=int, default=2)
    b = sub.add_parser("files")
    b.add_argument("clips", nargs="+")
    b.add_argument("--bpp", default="0.0025,0.005")
    b.add_argument("--interval", type=int, default=8)
    b.add_argument("--refine", action="store_true")
    args = p.parse_args()
    if args.what == "pictures":
        pictures(args.data, args.windows)
    else:
        files(args.clips, [float(x) for x in args.bpp.split(",")], args.interval, args.refine)


if __name__ == "__main__":
    main()
