"""Would a small learned layer improve the frames the decoder rebuilds between backbones
(issue 30, part 5)? A probe, not a shipped model: a 4-layer convolutional network (torch,
float) that sees, for each synthesised frame, what the decoder made of it, the two backbones
warped to it along the decoder's own motion field (`motion.bilateral`, modes EARLIER and LATER
everywhere) and its distance m / n between them, and adds a correction; trained on files of
training clips, scored on files of held-out clips.

    python benchmarks/fusion_probe.py --train mega.mkv,box.mkv,mega2.mkv,mega_s.mkv,box_s.mkv \
        --held-out small.mkv,cut.mkv,vtest360.mkv --width 32 --steps 3000

Each clip is encoded at the default speed at 0.0025, 0.005 and 0.01 bpp and decoded without the
refiner; every frame between two backbones is one sample (training clips: every --every-th).
The network: 10 input channels (decoded frame, the two warps, m / n), --width channels, 3x3
convolutions with LeakyReLU(0.1), the last one zero-initialised, so it starts as the decoder's
own frame. Adam at 1e-3 along a cosine, 64x64 crops, batches of 16, MSE. Prints, per held-out
file, the mean RGB PSNR of the synthesised frames as decoded and after the network.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BPPS = (0.0025, 0.005, 0.01)


def samples(clip: str, bpp: float, every: int) -> dict:
    """The synthesised frames of `clip` coded at `bpp`: decoded, the two warps, the original,
    (m, n)."""
    from vidgen_codec import api
    from vidgen_codec.codecs.stem.decoder import motion_field
    from vidgen_codec.info import describe
    from vidgen_codec.motion import bilateral
    from vidgen_codec.motion.block_modes import A_EARLIER, A_LATER
    from vidgen_codec.video_io import read_frames

    with tempfile.TemporaryDirectory() as d:
        api.encode(clip, d + "/a.vgc", bpp=bpp, progress=False)
        types = describe(d + "/a.vgc")["frame_types"]
        api.decode(d + "/a.vgc", d + "/a.mkv", refine=False, progress=False)
        dec = np.stack(list(read_frames(d + "/a.mkv")))
    ref = np.stack(list(read_frames(clip)))[:len(dec)]
    pos = [i for i, t in enumerate(types) if t != "M"]
    out = {k: [] for k in ("dec", "w0", "w1", "ref", "mn")}
    k = 0
    for a, b in zip(pos, pos[1:]):
        n = b - a
        if n < 2:
            continue
        s = motion_field(dec[a], dec[b])
        grid = (-(-dec.shape[1] // 8), -(-dec.shape[2] // 8))
        for m in range(1, n):
            k += 1
            if k % every:
                continue
            for key, mode in (("w0", A_EARLIER), ("w1", A_LATER)):
                out[key].append(bilateral.rebuild_blocks(dec[a], dec[b], s, m, n,
                                                         np.full(grid, mode, np.uint8), 8))
            out["dec"].append(dec[a + m])
            out["ref"].append(ref[a + m])
            out["mn"].append(m / n)
    return {k: np.stack(v) for k, v in out.items()} if out["dec"] else {}


def planes(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float() / 255


def inputs(s: dict, idx, ys=slice(None), xs=slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
    dec = planes(s["dec"][idx][:, ys, xs])
    r = torch.tensor(np.asarray(s["mn"][idx]), dtype=torch.float32)[:, None, None, None]
    return torch.cat([dec, planes(s["w0"][idx][:, ys, xs]), planes(s["w1"][idx][:, ys, xs]),
                      r.expand(-1, 1, *dec.shape[2:])], 1), dec


class Fusion(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(10, width, 3, padding=1),
                                    nn.Conv2d(width, width, 3, padding=1),
                                    nn.Conv2d(width, width, 3, padding=1),
                                    nn.Conv2d(width, 3, 3, padding=1)])
        nn.init.zeros_(self.convs[-1].weight)
        nn.init.zeros_(self.convs[-1].bias)

    def forward(self, x: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        for conv in self.convs[:-1]:
            x = F.leaky_relu(conv(x), 0.1)
        return dec + self.convs[-1](x)


def psnr(out: torch.Tensor, ref: torch.Tensor) -> float:
    mse = ((out.clamp(0, 1) * 255).round() - ref * 255).pow(2).mean()
    return float(10 * torch.log10(255 ** 2 / mse))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--held-out", required=True)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = random.Random(0)
    train = [s for c in args.train.split(",") for b in BPPS if (s := samples(c, b, args.every))]
    held = [(c, b, samples(c, b, 1)) for c in args.held_out.split(",") for b in BPPS]
    net = Fusion(args.width)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, args.steps) / args.steps)))
    patch, batch = 64, 16
    for _ in range(args.steps):
        xs, ds, ys = [], [], []
        for _ in range(batch):
            s = train[rng.randrange(len(train))]
            i = rng.randrange(len(s["dec"]))
            h, w = s["dec"].shape[1:3]
            y0, x0 = rng.randrange(h - patch + 1), rng.randrange(w - patch + 1)
            ysl, xsl = slice(y0, y0 + patch), slice(x0, x0 + patch)
            x, d = inputs(s, [i], ysl, xsl)
            xs.append(x)
            ds.append(d)
            ys.append(planes(s["ref"][[i]][:, ysl, xsl]))
        loss = F.mse_loss(net(torch.cat(xs), torch.cat(ds)), torch.cat(ys))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    print("| held-out file | synthesised frames | PSNR as decoded | after the network | gain |")
    print("|---|---|---|---|---|")
    with torch.no_grad():
        for clip, bpp, s in held:
            if not s:
                continue
            base, got = [], []
            for i in range(len(s["dec"])):
                x, d = inputs(s, [i])
                ref = planes(s["ref"][[i]])
                base.append(psnr(d, ref))
                got.append(psnr(net(x, d), ref))
            print(f"| {clip} at {bpp:g} | {len(base)} | {np.mean(base):.3f} | "
                  f"{np.mean(got):.3f} | {np.mean(got) - np.mean(base):+.3f} |", flush=True)


if __name__ == "__main__":
    main()
