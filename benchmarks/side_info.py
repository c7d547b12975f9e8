"""Issue 30, part 1: would per-block side information for synthesised frames pay?

    python benchmarks/side_info.py small.mkv cut.mkv vtest360.mkv --bpp 0.005,0.01

Today a synthesised GOP sends one bit per backbone interval: the decoder rebuilds the frames
between two backbones by a blend or by bilateral motion-compensated interpolation
(`motion/bilateral.py`), whichever the encoder measured nearer the originals. This measures the
most a per-block mode map could add before anyone builds one: for every interval of the GOPs
the encoder chose (default speed, no refiner), each 16x16 block of the interval takes, over all
its frames, the best of four rebuilds the decoder can already make without more motion:

    motion (both sides), blend, one-sided from the earlier backbone, one-sided from the later
    (the bilateral field's sample of one backbone only: occlusions, where one side is wrong)

and the map's cost is bounded from below by its empirical entropy (an ideal adaptive coder
with nothing else to go on). It prints, per clip and rate, the rebuilt frames' RGB PSNR with
the per-interval choice (what ships), with the per-block oracle, the map's bytes as a share of
the file, and what the same share of bytes buys when the file is simply coded larger (the same
encoder at bpp x (1 + share), all frames' PSNR), so the two can be compared.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np

from vidgen_codec import api, metrics
from vidgen_codec.codecs.stem import av1 as stem_av1
from vidgen_codec.codecs.stem import synth_gop
from vidgen_codec.codecs.stem import backbone as bb
from vidgen_codec.motion import bilateral
from vidgen_codec.video_io import read_frames

BLOCK = 16
MODES = ("motion", "blend", "earlier", "later")


def rebuilds(b0, b1, n):
    """[mode][m-1] frames between b0 and b1 (HxWx3 uint8), n frames apart."""
    s = bilateral.smooth_sum(bilateral.estimate(b0, b1), *b0.shape[:2])
    out = {k: [] for k in MODES}
    for m in range(1, n):
        o0, o1 = bilateral.offsets(s, m, n)
        out["motion"].append(bilateral.interpolate(b0, b1, s, m, n))
        out["blend"].append(bilateral.blend(b0, b1, m, n))
        for key, img, o in (("earlier", b0, o0), ("later", b1, o1)):
            f = np.empty_like(b0)
            bilateral._interp(img, img, o, o, m, n, f)  # both samples from one side
            out[key].append(f)
    return out


def block_sse(frames, originals, h, w, block=BLOCK):
    """(blocks_y, blocks_x) SSE summed over the frames."""
    hb, wb = -(-h // block), -(-w // block)
    total = np.zeros((hb, wb))
    for f, o in zip(frames, originals):
        d = (f[:h, :w].astype(np.int64) - o[:h, :w]) ** 2
        d = np.pad(d.sum(2), ((0, hb * block - h), (0, wb * block - w)))
        total += d.reshape(hb, block, wb, block).sum((1, 3))
    return total


def rd_map(sse: np.ndarray, default: int, lam: float) -> tuple[float, float]:
    """A mode map chosen for rate and distortion: each block (sse: modes x blocks, pooled over
    a clip's intervals) takes the mode minimising SSE + lam x its code length under the map's
    own statistics (a few rounds, starting from the default mode everywhere, as an adaptive
    coder would learn them). (SSE saved against the default mode, the map's bits)."""
    k, n = sse.shape
    p = np.full(k, 0.5 / (k - 1))
    p[default] = 0.5
    for _ in range(4):
        choice = np.argmin(sse + lam * -np.log2(p)[:, None], 0)
        counts = np.bincount(choice, minlength=k) + 0.5
        p = counts / counts.sum()
    bits = entropy_bits(choice, k)
    return float((sse[default] - sse[choice, np.arange(n)]).sum()), bits


def entropy_bits(symbols: np.ndarray, k: int) -> float:
    counts = np.bincount(symbols.ravel(), minlength=k)
    p = counts[counts > 0] / counts.sum()
    return float(-(counts[counts > 0] * np.log2(p)).sum())


def analyse(clip: str, bpp: float, dst: str) -> tuple:
    """Encode at the default speed (no refiner) to `dst`; per GOP whose chosen structure is
    synthesised: (scale, positions, the modes sent, decoded backbones, originals, h, w)."""
    calls, scale, chosen = {}, {}, []
    pictures, rebuild, choose = bb.backbone_pictures, synth_gop.rebuild, stem_av1._choose

    def pictures_spy(units, s, *a, **k):
        scale["s"] = s
        return pictures(units, s, *a, **k)

    def rebuild_spy(st, backs, pos, originals):
        out = rebuild(st, backs, pos, originals)
        calls[(st.gop[0][0], scale["s"], tuple(pos))] = (out[0], backs, list(originals),
                                                          st.height, st.width)
        return out

    def choose_spy(results, budget):
        best = choose(results, budget)
        if best.synth:
            head, _ = bb.unpack_gop(best.payload)
            chosen.append((best.payload.frame_index, best.scale, tuple(head.positions())))
        return best

    bb.backbone_pictures, synth_gop.rebuild, stem_av1._choose = (pictures_spy, rebuild_spy,
                                                                 choose_spy)
    try:
        report = api.encode(clip, dst, bpp=bpp, refine=False, progress=False)
    finally:
        bb.backbone_pictures, synth_gop.rebuild, stem_av1._choose = pictures, rebuild, choose
    return report, [(s, pos) + calls[(t0, s, pos)] for t0, s, pos in chosen]


def psnr_of(clip: str, bpp: float, ref, d: str) -> float:
    """RGB PSNR of the whole clip coded at bpp (default speed, no refiner)."""
    api.encode(clip, f"{d}/x.vgc", bpp=bpp, refine=False, progress=False)
    api.decode(f"{d}/x.vgc", f"{d}/x.mkv", refine=False, progress=False)
    return metrics.psnr(np.stack(list(read_frames(f"{d}/x.mkv"))), np.stack(ref))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--bpp", default="0.005,0.01")
    ap.add_argument("--rd", default="",
                    help="block sizes (e.g. 16,32,64): instead of the oracle, maps chosen for "
                         "rate and distortion over a sweep of lambdas, against what +10 %% "
                         "bytes buy the file")
    a = ap.parse_args()
    if a.rd:
        return rd_table(a.clips, [float(b) for b in a.bpp.split(",")],
                        [int(b) for b in a.rd.split(",")])
    print("| clip | bpp | intervals | shipped: rebuilt frames' PSNR | per-block oracle | gain |"
          " map bytes (share of file) | that share spent on the file: PSNR gain (all frames) |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in a.clips:
        ref = list(read_frames(clip))
        for bpp in map(float, a.bpp.split(",")):
            with tempfile.TemporaryDirectory() as d:
                report, gops = analyse(clip, bpp, f"{d}/a.vgc")
                sse_ship = sse_oracle = 0.0
                count, bits, gaps = 0, 0.0, 0
                sse_back, count_all = 0.0, 0
                for s, pos, modes, backs, originals, h, w in gops:
                    for j, p in enumerate(pos):
                        sse_back += float(block_sse([backs[j]], [originals[p]], h, w).sum())
                    count_all += len(originals) * h * w * 3
                    k = 0
                    for j, (p, e) in enumerate(zip(pos, pos[1:])):
                        if e - p < 2:
                            continue
                        gaps += 1
                        r = rebuilds(backs[j], backs[j + 1], e - p)
                        real = originals[p + 1:e]
                        sse = np.stack([block_sse(r[m], real, h, w) for m in MODES])
                        sse_ship += float(sse[0 if modes[k] == 1 else 1].sum())
                        sse_oracle += float(sse.min(0).sum())
                        bits += entropy_bits(sse.argmin(0), len(MODES))
                        count += (e - p - 1) * h * w * 3
                        k += 1
                if not gaps:
                    print(f"| {Path(clip).name} | {bpp} | 0 (no synthesised GOP) | | | | | |",
                          flush=True)
                    continue
                ship_db = 10 * math.log10(255 ** 2 / (sse_ship / count))
                oracle_db = 10 * math.log10(255 ** 2 / (sse_oracle / count))
                all_gain = 10 * math.log10((sse_back + sse_ship) / (sse_back + sse_oracle))
                share = bits / 8 / report.bytes
                base = psnr_of(clip, bpp, ref, d)
                more = psnr_of(clip, bpp * (1 + share), ref, d)
            print(f"| {Path(clip).name} | {bpp} | {gaps} | {ship_db:.2f} | {oracle_db:.2f} | "
                  f"{oracle_db - ship_db:+.2f} ({all_gain:+.2f} over all frames) | {bits / 8:.0f} ({100 * share:.1f} %) | "
                  f"{more - base:+.2f} |", flush=True)


def rd_table(clips, rates, blocks) -> None:
    """Per clip, rate and block size: the PSNR gain over all frames of rate-distortion-chosen
    mode maps (a lambda sweep) and their bytes as a share of the file, beside the PSNR gain
    per 10 % of bytes spent on the file instead (the encoder at bpp x 1.1)."""
    print("| clip | bpp | block | lambda | map bytes (share) | PSNR gain, all frames | "
          "gain per 10 % of bytes | the file's gain per 10 % of bytes |")
    print("|---|---|---|---|---|---|---|---|")
    lams = (0, 2000, 8000, 32000, 128000, 512000)
    for clip in clips:
        ref = list(read_frames(clip))
        for bpp in rates:
            with tempfile.TemporaryDirectory() as d:
                report, gops = analyse(clip, bpp, f"{d}/a.vgc")
                slope = psnr_of(clip, bpp * 1.1, ref, d) - psnr_of(clip, bpp, ref, d)
            pooled = {b: ([], []) for b in blocks}  # per default mode: SSE stacks
            sse_all = 0.0
            for s, pos, modes, backs, originals, h, w in gops:
                for j, p in enumerate(pos):
                    sse_all += float(block_sse([backs[j]], [originals[p]], h, w).sum())
                k = 0
                for j, (p, e) in enumerate(zip(pos, pos[1:])):
                    if e - p < 2:
                        continue
                    r = rebuilds(backs[j], backs[j + 1], e - p)
                    real = originals[p + 1:e]
                    for b in blocks:
                        sse = np.stack([block_sse(r[m], real, h, w, b) for m in MODES])
                        pooled[b][0 if modes[k] == 1 else 1].append(sse.reshape(4, -1))
                    sse_all += float(block_sse(r[MODES[0] if modes[k] == 1 else MODES[1]],
                                               real, h, w).sum())
                    k += 1
            if not gops:
                print(f"| {Path(clip).name} | {bpp} | no synthesised GOP | | | | | |")
                continue
            for b in blocks:
                for lam in lams:
                    saved = bits = 0.0
                    for default, stacks in enumerate(pooled[b]):
                        if stacks:
                            got = rd_map(np.concatenate(stacks, 1), default, lam)
                            saved, bits = saved + got[0], bits + got[1]
                    gain = 10 * math.log10(sse_all / (sse_all - saved))
                    share = bits / 8 / report.bytes
                    per10 = gain / (10 * share) if share else float("inf")
                    print(f"| {Path(clip).name} | {bpp} | {b} | {lam:g} | {bits / 8:.0f} "
                          f"({100 * share:.1f} %) | {gain:+.3f} | {per10:+.3f} | {slope:+.3f} |",
                          flush=True)


if __name__ == "__main__":
    main()
