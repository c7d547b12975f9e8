"""Issue 30, part 1: would motion sent per block and per frame pay for rebuilt frames?

    python benchmarks/sent_motion.py vtest360.mkv --bpp 0.005,0.01 [--block 16]

The decoder rebuilds the frames between two backbones along one field it estimates itself,
with linear motion across the interval (`motion.bilateral`). Before building a coder for sent
motion, this measures what it could give. Per clip and rate:

1. The shipped encoder writes a real file (default speed, no refiner).
2. For each frame between two backbones of a synthesised GOP, each block takes two
   quarter-sample vectors. They are the mean, over the block, of OpenCV's DIS optical flow
   from the *original* frame to the two *original* backbones. The block is rebuilt as the
   distance-weighted mean of the two decoded backbones sampled along them.
3. A block keeps its sent vectors where its squared error falls by more than lambda x its
   bits. Lambda is the block maps' price of a bit (`block_maps.KAPPA`). The bits are the
   vector residuals' signed exp-Golomb lengths against the decoder's own field.
4. The side information is priced at its empirical entropy: the four residual components,
   plus one flag per block and frame. This is a bound for a coder not built, not a file.
5. For comparison, the shipped encoder spends the same extra share on its backbones instead:
   a real file at bpp x (1 + share).

Prints bytes, PSNR, E_warp and ColorVideoVDP (JOD) for the file, the file with sent motion,
and the larger file.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from types import SimpleNamespace

import numpy as np

from vidgen_codec import api, metrics
from vidgen_codec.bitstream import ContainerReader
from vidgen_codec.bitstream.ids import FrameType
from vidgen_codec.codecs.stem import backbone as bb
from vidgen_codec.codecs.stem import block_maps
from vidgen_codec.codecs.stem import decoder as sd
from vidgen_codec.eval.metrics_perceptual import cvvdp
from vidgen_codec.eval.warp_error import reference_flow, warping_error
from vidgen_codec.motion.estimate import block_field, dense_flow
from vidgen_codec.video_io import read_frames


def gop_backbones(path: str, h: int, w: int):
    """(first frame, GopHeader, decoded backbones: stride-padded HxWx3 uint8) per GOP of a
    stem av1 file, as its decoder makes them (without a prior)."""
    hp, wp = -(-h // 16) * 16, -(-w // 16) * 16  # the codec's stride
    with ContainerReader(path) as rd:
        chunks = list(rd.iter_frames())
    for c in chunks:
        head, parts = bb.unpack_gop(c.payload)
        units = [p.streams[-1] for p in parts if p.frame_type != FrameType.M]
        yield c.payload.frame_index, head, bb.backbone_pictures(
            units, head.scale, SimpleNamespace(height=h, width=w), hp, wp, head.lanczos)


def quarter_blocks(flow: np.ndarray, block: int) -> np.ndarray:
    """(hb, wb, 2): the flow's mean over each block (`motion.estimate.block_field`), rounded
    to quarter samples."""
    return np.round(block_field(flow, block).transpose(1, 2, 0) * 4) / 4


def _bits(v: np.ndarray) -> float:
    """Signed exp-Golomb length of each integer component, summed."""
    return float(sum(2 * math.floor(math.log2(2 * abs(int(c)) + 1)) + 1 for c in v))


def _entropy(values: np.ndarray) -> float:
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())


def with_sent_motion(path: str, ref: list, dec: list, block: int) -> tuple[list, float]:
    """(frames with sent motion where it pays, the side information's bytes (entropy))."""
    import cv2

    h, w = ref[0].shape[:2]
    hp, wp = -(-h // block) * block, -(-w // block) * block
    pad = lambda x: np.pad(x, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")  # noqa: E731
    ys, xs = np.mgrid[0:hp, 0:wp].astype(np.float32)
    out = [d.copy() for d in dec]
    sse_all = sum(metrics.sse(d, r) for d, r in zip(dec, ref))
    lam = block_maps.KAPPA * math.log(10) / 10 * sse_all / (8 * os.path.getsize(path))
    residuals, flags, sent = [], 0, 0
    for t0, head, backs in gop_backbones(path, h, w):
        if not head.synth:
            continue
        backs = [pad(b[:h, :w]) for b in backs]  # to a multiple of the block
        pos = head.positions()
        for j, (a, e) in enumerate(zip(pos, pos[1:])):
            n = e - a
            if n < 2:
                continue
            s = sd.motion_field(backs[j], backs[j + 1])  # 1/64 sample, the decoder's own
            for m in range(1, n):
                q = [quarter_blocks(dense_flow(pad(ref[t0 + a + m]), pad(ref[t0 + side])), block)
                     for side in (a, e)]
                warped = []
                for k, b in enumerate((backs[j], backs[j + 1])):
                    f = np.repeat(np.repeat(q[k], block, 0), block, 1)
                    warped.append(cv2.remap(b, xs + f[..., 0], ys + f[..., 1], cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_REPLICATE).astype(np.float32))
                tau = m / n
                rebuilt = np.clip((1 - tau) * warped[0] + tau * warped[1] + 0.5, 0,
                                  255).astype(np.uint8)[:h, :w]
                real = ref[t0 + a + m].astype(np.int64)
                base = dec[t0 + a + m].astype(np.int64)
                for bi in range(-(-h // block)):
                    for bj in range(-(-w // block)):
                        cut = (slice(bi * block, (bi + 1) * block),
                               slice(bj * block, (bj + 1) * block))
                        gain = (((base[cut] - real[cut]) ** 2).sum()
                                - ((rebuilt[cut].astype(np.int64) - real[cut]) ** 2).sum())
                        cy, cx = bi * block + block // 2, bj * block + block // 2
                        d = s[:, min(cy, hp - 1), min(cx, wp - 1)] / 32  # the decoder's
                        # full-motion vector at the block's centre, in samples
                        pred = np.concatenate([-tau * d, (1 - tau) * d])
                        r = np.round((np.concatenate([q[0][bi, bj], q[1][bi, bj]]) - pred) * 4
                                     ).astype(np.int64)
                        flags += 1
                        if gain > lam * (_bits(r) + 2):
                            out[t0 + a + m][cut] = rebuilt[cut]
                            residuals.append(r)
                            sent += 1
    if not residuals:
        return out, 0.0
    r = np.array(residuals)
    p = sent / flags
    flag_bits = flags * -(p * math.log2(p) + ((1 - p) * math.log2(1 - p) if p < 1 else 0))
    print(f"  sent {sent} of {flags} blocks x frames ({100 * p:.1f} %)")
    return out, (sum(_entropy(r[:, k]) for k in range(4)) + flag_bits) / 8


def decoded(path: str) -> list:
    with tempfile.TemporaryDirectory() as d:
        api.decode(path, d + "/a.mkv", refine=False, progress=False)
        return list(read_frames(d + "/a.mkv"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--bpp", default="0.005,0.01")
    ap.add_argument("--block", type=int, default=16)
    args = ap.parse_args()
    print(f"{'clip':12s} {'bpp':>6s} {'row':24s} {'bytes':>7s} {'PSNR':>6s} {'E_warp':>8s} "
          f"{'JOD':>6s}")
    for clip in args.clips:
        ref = list(read_frames(clip))
        flow = reference_flow(ref)

        def row(name, frames, size):
            print(f"{os.path.basename(clip):12s} {bpp:6.4f} {name:24s} {size:7.0f} "
                  f"{metrics.psnr(np.stack(frames), np.stack(ref)):6.2f} "
                  f"{warping_error(frames, flow):8.5f} "
                  f"{cvvdp(np.stack(ref), np.stack(frames), fps=25.0):6.3f}", flush=True)

        for bpp in map(float, args.bpp.split(",")):
            with tempfile.TemporaryDirectory() as d:
                path = d + "/a.vgc"
                api.encode(clip, path, bpp=bpp, refine=False, progress=False)
                dec = decoded(path)
                size = os.path.getsize(path)
                row("file", dec, size)
                sent, extra = with_sent_motion(path, ref, dec, args.block)
                row(f"+ sent motion ({args.block})", sent, size + extra)
                more = d + "/b.vgc"
                api.encode(clip, more, bpp=bpp * (1 + extra / size), refine=False,
                           progress=False)
                row("file, same extra bytes", decoded(more), os.path.getsize(more))


if __name__ == "__main__":
    main()
