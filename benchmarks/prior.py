"""Issue 33's figures for the pretrained upsamplers (`vidgen_codec.priors`):

    python benchmarks/prior.py speed                       # 2x upscale time per prior
    python benchmarks/prior.py crops CLIP PRIOR.vgc LANCZOS.vgc --frame 30 \
        --box 40,20,120,90 --out benchmarks/plots/s33_crops_CLIP.png

`speed`: seconds to upscale a 320x180 picture to 640x360 (what a half-scale backbone of a
640x360 clip costs the decoder), for Lanczos (`pictures.lanczos`) and each installed prior
(the exact-integer network the codec runs, `priors/exact.py`), torch threads 2, best of
--repeat; and the decode fps at 640x360 that follows for a synthesised GOP with a backbone
every B frames (B = 4, 8, 16), counting only the upsampling. A last row times the float32
port of the first prior (thread-invariant per-tap sums, what the codec ran before the exact
form) for comparison.

`crops`: one PNG with the same crop of one frame, side by side and enlarged 3x (nearest): the
original, x265 at the bytes of the prior's file (one GOP, CRF searched within 2 %), vgc with
Lanczos only (`--no-prior`), vgc with the prior.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from vidgen_codec import api
from vidgen_codec.pictures.lanczos import upsample2x_rgb
from vidgen_codec.video_io import probe, read_frames


def speed(repeat: int) -> None:
    from vidgen_codec.priors import available_priors, load_prior, upscale2x

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    pic = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)
    rows = [("lanczos", lambda: upsample2x_rgb(pic))]
    for name in available_priors():
        module, _ = load_prior(name)
        rows.append((name, lambda m=module: upscale2x(m, pic)))
    if available_priors():
        import torch.nn.functional as F

        module, _ = load_prior(available_priors()[0])
        x = F.pad(torch.from_numpy(pic).permute(2, 0, 1)[None].float() / 255, (7, 7, 7, 7),
                  mode="replicate")
        rows.append((f"{available_priors()[0]}, float32 port", lambda m=module: m(x)))
    print("| upsampler | s per 320x180 -> 640x360 | decode fps, B = 4 | B = 8 | B = 16 |")
    print("|---|---|---|---|---|")
    for name, fn in rows:
        fn()  # warm
        best = min(_timed(fn) for _ in range(repeat))
        fps = [f"{b / best:.1f}" for b in (4, 8, 16)]  # one backbone per B frames
        print(f"| {name} | {best:.3f} | " + " | ".join(fps) + " |", flush=True)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def crops(clip: str, prior_vgc: str, lanczos_vgc: str, frame: int, box: tuple, out: str
          ) -> None:
    from PIL import Image

    from vidgen_codec.eval.baselines import pyav_encode_at_bytes

    ref = list(read_frames(clip))
    fps = probe(clip).fps
    tiles = [ref[frame]]
    target = Path(prior_vgc).stat().st_size
    x265 = pyav_encode_at_bytes(ref, Fraction(fps), "libx265", target, intra_only=False,
                                options={"x265-params": "log-level=error:info=0"},
                                tolerance=0.02)
    tiles.append(x265.frames[frame])
    with tempfile.TemporaryDirectory() as d:
        for src in (lanczos_vgc, prior_vgc):
            api.decode(src, d + "/x.mkv", progress=False, refine=False)
            tiles.append(list(read_frames(d + "/x.mkv"))[frame])
    x0, y0, x1, y1 = box
    row = np.concatenate([np.kron(t[y0:y1, x0:x1], np.ones((3, 3, 1), np.uint8))
                          for t in tiles], axis=1)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(row).save(out)
    print(f"{out}: original | x265 {x265.bytes_used} B | vgc Lanczos "
          f"{Path(lanczos_vgc).stat().st_size} B | vgc prior {target} B, frame {frame}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--repeat", type=int, default=3)
    c = sub.add_parser("crops")
    c.add_argument("clip")
    c.add_argument("prior_vgc")
    c.add_argument("lanczos_vgc")
    c.add_argument("--frame", type=int, default=30)
    c.add_argument("--box", default="0,0,96,72", help="x0,y0,x1,y1")
    c.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.cmd == "speed":
        speed(a.repeat)
    else:
        crops(a.clip, a.prior_vgc, a.lanczos_vgc, a.frame, tuple(map(int, a.box.split(","))),
              a.out)


if __name__ == "__main__":
    main()
