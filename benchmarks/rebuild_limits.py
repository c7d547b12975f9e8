"""Issue 30: what limits the frames a synthesised GOP rebuilds between its backbones?

    python benchmarks/rebuild_limits.py vtest360.mkv FILE.vgc

FILE.vgc is one of the clip's files made by the shipped encoder. Its decoded backbones are kept,
and every frame between two of them is rebuilt several ways, with block mode maps left out:
- the decoder's own blend and bilateral interpolation;
- OpenCV's DIS flow, between the decoded backbones or between the original ones, with the
  decoder's linear-motion model;
- flows from each *original* frame between them to the original backbones (what an encoder
  could send): one flow made linear, two flows as 16x16 quarter-sample blocks, or two dense
  flows.

Prints the RGB PSNR of the rebuilt frames and the E_warp of the whole sequence for each.
"""

from __future__ import annotations

import argparse

import numpy as np

from sent_motion import gop_backbones, quarter_blocks
from vidgen_codec import metrics
from vidgen_codec.codecs.stem import decoder as sd
from vidgen_codec.eval.warp_error import reference_flow, warping_error
from vidgen_codec.motion import bilateral
from vidgen_codec.motion.estimate import dense_flow
from vidgen_codec.video_io import read_frames


def main() -> None:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip")
    ap.add_argument("vgc")
    args = ap.parse_args()
    ref = list(read_frames(args.clip))
    h, w = ref[0].shape[:2]
    hp, wp = -(-h // 16) * 16, -(-w // 16) * 16
    pad = lambda x: np.pad(x, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")  # noqa: E731
    ys, xs = np.mgrid[0:hp, 0:wp].astype(np.float32)
    flow = reference_flow(ref)
    gops = list(gop_backbones(args.vgc, h, w))  # decoded once, rebuilt every way

    def warp(img, fx, fy):
        return cv2.remap(img, xs + fx, ys + fy, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)

    def mix(w0, w1, tau):
        return np.clip((1 - tau) * w0 + tau * w1 + 0.5, 0, 255).astype(np.uint8)

    def linear(b0, b1, f, m, n):  # f: full motion b0 -> b1 at each pixel of the frame
        tau = m / n
        return mix(warp(b0, -tau * f[..., 0], -tau * f[..., 1]),
                   warp(b1, (1 - tau) * f[..., 0], (1 - tau) * f[..., 1]), tau)

    def midpoint(a, b):  # the full motion a -> b: DIS both ways, averaged
        return 0.5 * (dense_flow(a, b) - dense_flow(b, a))

    def blocks(f, size=16):
        return np.repeat(np.repeat(quarter_blocks(f, size), size, 0), size, 1).astype(np.float32)

    def per_frame(b0, b1, t, t0, t1, kind):
        f0 = dense_flow(pad(ref[t]), pad(ref[t0]))
        f1 = dense_flow(pad(ref[t]), pad(ref[t1]))
        tau = (t - t0) / (t1 - t0)
        if kind == "linear":  # one flow, the other side by linear motion
            f0 = blocks(f0)
            f1 = -f0 * (1 - tau) / tau
        elif kind == "blocks":
            f0, f1 = blocks(f0), blocks(f1)
        return mix(warp(b0, f0[..., 0], f0[..., 1]), warp(b1, f1[..., 0], f1[..., 1]), tau)

    ways = {
        "blend": lambda j, a, e, b0, b1, m, n: bilateral.blend(b0, b1, m, n),
        "bilateral (shipped MOTION)": None,
        "DIS, decoded backbones, linear": lambda j, a, e, b0, b1, m, n: linear(
            b0, b1, midpoint(b0, b1), m, n),
        "bilateral on the originals": "orig",
        "DIS, original backbones, linear": lambda j, a, e, b0, b1, m, n: linear(
            b0, b1, midpoint(pad(ref[a]), pad(ref[e])), m, n),
        "per frame, 16x16, linear": lambda j, a, e, b0, b1, m, n: per_frame(
            b0, b1, a + m, a, e, "linear"),
        "per frame, two 16x16 fields": lambda j, a, e, b0, b1, m, n: per_frame(
            b0, b1, a + m, a, e, "blocks"),
        "per frame, two dense flows": lambda j, a, e, b0, b1, m, n: per_frame(
            b0, b1, a + m, a, e, "dense"),
    }
    print(f"| rebuild | rebuilt PSNR | E_warp |   (reference E_warp "
          f"{warping_error(ref, flow):.5f})")
    print("|---|---|---|")
    for name, way in ways.items():
        out, rebuilt = [], []
        for t0, head, backs in gops:
            pos = head.positions()
            out.append(backs[0][:h, :w])
            for j, (a, e) in enumerate(zip(pos, pos[1:])):
                b0, b1, n = backs[j], backs[j + 1], e - a
                if head.synth and n > 1:
                    if way is None or way == "orig":
                        s = sd.motion_field(*(
                            (b0, b1) if way is None else (pad(ref[t0 + a]), pad(ref[t0 + e]))))
                        frames = [bilateral.interpolate(b0, b1, s, m, n) for m in range(1, n)]
                    else:
                        frames = [way(j, t0 + a, t0 + e, b0, b1, m, n) for m in range(1, n)]
                    for m, f in enumerate(frames, 1):
                        rebuilt.append((f[:h, :w], ref[t0 + a + m]))
                    out += [f[:h, :w] for f in frames]
                elif n > 1:
                    raise SystemExit("a GOP with motion frames: give a file of synthesised GOPs")
                out.append(b1[:h, :w])
        psnr = metrics.psnr(np.stack([r for r, _ in rebuilt]), np.stack([o for _, o in rebuilt]))
        print(f"| {name} | {psnr:.2f} | {warping_error(out, flow):.5f} |", flush=True)


if __name__ == "__main__":
    main()
