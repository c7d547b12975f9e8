"""Issue 30, part 2: does the structure search's measure track ColorVideoVDP?

    python benchmarks/search_measure.py --clips small.mkv,cut.mkv,cup.mkv \
        --bpp 0.0025,0.005,0.01 --out results/search_measure.jsonl
    python benchmarks/search_measure.py --summary results/search_measure.jsonl

Each clip is encoded with the full search (`--speed veryslow` at SVT-AV1 preset 8, no
refiner), and every candidate structure of every GOP the search scores (every frame AV1,
backbones with sent motion, synthesised GOPs at each interval and scale) is decoded by the real
decoder and measured twice: by the search's own measure (`codecs/stem/candidate.score`: luma PSNR
over the GOP until 2026-12-07, a fast luma SSIM since; the runs record it as "score", older
ones as "psnr_y") and by ColorVideoVDP (JOD, over the GOP's frames). Per GOP it prints
the candidates within the budget, the Spearman rank correlation of the two measures over them,
whether the search's pick is ColorVideoVDP's best, and the JOD the pick gives away against that
best (its regret). The candidates are captured by wrapping the encoder's `_choose` (the
search's last step), so the numbers are those of the shipped search, not a re-implementation.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from vidgen_codec import api, metrics
from vidgen_codec.codecs.stem import av1 as stem_av1
from vidgen_codec.codecs.stem import decoder as sd
from vidgen_codec.eval.metrics_perceptual import cvvdp
from vidgen_codec.frames import picture
from vidgen_codec.pictures import ssim
from vidgen_codec.pictures.fit import BUDGET_SLACK
from vidgen_codec.video_io import probe, read_frames


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks on ties)."""
    def ranks(x):
        x = np.asarray(x, float)
        order = x.argsort()
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):  # ties share their mean rank
            r[x == v] = r[x == v].mean()
        return r
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def capture(clip: str, bpp: float) -> list[dict]:
    """The search's candidates of each GOP: structure, bytes, budget, PSNR-Y and the decoded
    frames (uint8), with the one the search chose marked."""
    gops: list[dict] = []
    seen: dict = {}
    code_gop, choose = stem_av1._code_gop, stem_av1._choose

    def code_gop_spy(codec, st):
        seen.update(codec=codec, st=st)
        return code_gop(codec, st)

    def choose_spy(results, budget):
        best = choose(results, budget)
        codec, st = seen["codec"], seen["st"]
        hp, wp = st.gop[0][1].shape[:2]
        cands = []
        for c in results:
            dec = sd.decode_gop(codec, c.payload, st, hp, wp)
            cands.append({"interval": c.interval, "scale": c.scale, "synth": c.synth,
                          "crf": c.crf, "bytes": c.bytes, "score": c.score,
                          "failed": c.failed, "chosen": c is best,
                          "frames": [picture(d, st.height, st.width) for d in dec]})
        gops.append({"first": st.gop[0][0], "budget": budget, "candidates": cands})
        return best

    stem_av1._code_gop, stem_av1._choose = code_gop_spy, choose_spy
    try:
        with tempfile.TemporaryDirectory() as d:
            api.encode(clip, str(Path(d) / "a.vgc"), bpp=bpp, speed="veryslow", preset=8,
                       refine=False, progress=False)
    finally:
        stem_av1._code_gop, stem_av1._choose = code_gop, choose
    return gops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips")
    ap.add_argument("--bpp", default="0.0025,0.005,0.01")
    ap.add_argument("--out", default="results/search_measure.jsonl")
    ap.add_argument("--summary", nargs="*", help="only print the summary of these runs")
    ap.add_argument("--jod-from", nargs="*", help="take each candidate's JOD (and RGB MS-SSIM) "
                    "from these earlier runs instead of measuring it again (the encode is "
                    "deterministic, so the candidates are the same): to try new proxies")
    a = ap.parse_args()
    known = {_key(r["clip"], r["bpp"], r["first"], c): c
             for r in load(a.jod_from or []) for c in r["candidates"]}
    if a.summary:
        summary(load(a.summary))
        return
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip in a.clips.split(","):
        ref = list(read_frames(clip))
        fps = float(probe(clip).fps)
        for bpp in map(float, a.bpp.split(",")):
            for g in capture(clip, bpp):
                real = np.stack(ref[g["first"]: g["first"] + len(g["candidates"][0]["frames"])])
                for c in g["candidates"]:
                    dec = np.stack(c.pop("frames"))
                    old = known.get(_key(Path(clip).name, bpp, g["first"], c))
                    if old is not None:
                        c["jod"], c["msssim"] = old["jod"], old["msssim"]
                    else:
                        c["jod"] = round(cvvdp(real, dec, fps=fps), 4)
                    c.update(proxies(real, dec, fast=old is not None))
                row = {"clip": Path(clip).name, "bpp": bpp, **g}
                rows.append(row)
                with open(a.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                report(row)
    summary(rows)


def _luma_pooled(x: np.ndarray, k: int) -> np.ndarray:
    """BT.601 luma of (N,H,W,3) uint8 frames, averaged over k x k blocks."""
    y = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
    n, h, w = y.shape
    y = y[:, : h // k * k, : w // k * k]
    return y.reshape(n, h // k, k, w // k, k).mean(axis=(2, 4))


def proxies(real: np.ndarray, dec: np.ndarray, fast: bool = False) -> dict:
    """Cheap measures that might stand in for ColorVideoVDP in the search: luma PSNR of
    2x2- and 4x4-pooled frames (coarser detail), the worst frame's luma PSNR, MS-SSIM (RGB,
    Gaussian windows; left out when `fast`), and the fast luma MS-SSIM and SSIM
    (`pictures.ssim`; the latter is the shipped search's)."""
    out = {"psnr_y": round(float(metrics.psnr_y(dec, real)), 4)}
    for k in (2, 4):
        mse = np.mean((_luma_pooled(real, k) - _luma_pooled(dec, k)) ** 2)
        out[f"psnr_y{k}"] = round(float(10 * np.log10(255 ** 2 / max(mse, 1e-9))), 4)
    per = [metrics.psnr_y(d[None], r[None]) for d, r in zip(dec, real)]
    out["psnr_y_min"] = round(float(min(per)), 4)
    if not fast:
        out["msssim"] = round(float(metrics.ms_ssim(dec, real)), 5)
    per_frame = [ssim.scale_terms(d, r) for d, r in zip(dec, real)]  # the windows, once
    out["msssim_y_fast"] = round(ssim.db(np.mean([ssim.ms_ssim_from_terms(t)
                                                  for t in per_frame])), 4)
    out["ssim_y_fast"] = round(ssim.db(np.mean([t[0][0] for t in per_frame])), 4)
    # per scale, the frames' mean (l cs, cs): to try other scale weightings offline
    out["ssim_scales"] = [[round(float(v), 6) for v in t]
                          for t in np.mean(per_frame, axis=0)]
    return out


MEASURES = ("psnr_y", "psnr_y2", "psnr_y4", "psnr_y_min", "msssim", "msssim_y_fast",
            "ssim_y_fast")


def within(row: dict) -> list[dict]:
    """The candidates the search chooses among: those within its budget slack (a GOP where
    none is takes its smallest coding, and is left out of the summary)."""
    b = row["budget"]
    return [c for c in row["candidates"] if b is None or c["bytes"] <= BUDGET_SLACK * b]


def report(row: dict) -> None:
    print(f"\n{row['clip']} {row['bpp']} GOP at {row['first']}, budget {row['budget']:.0f} B")
    print("| B | scale | synth | bytes | PSNR-Y | JOD | chosen |\n|---|---|---|---|---|---|---|")
    for c in sorted(row["candidates"], key=lambda c: -c["jod"]):
        print(f"| {c['interval']} | {c['scale']} | {'yes' if c['synth'] else 'no'} | "
              f"{c['bytes']:,} | {c['psnr_y']:.2f} | {c['jod']:.3f} | "
              f"{'**yes**' if c['chosen'] else ''} |", flush=True)


def summary(rows: list[dict]) -> None:
    """Per GOP: the shipped search's pick against ColorVideoVDP's best; then, per measure, how
    a search choosing by it would do over the same candidates (within the budget)."""
    print("\n| clip | bpp | GOP | in budget | Spearman (search score, JOD) | pick = JOD's best |"
          " regret (JOD) |\n|---|---|---|---|---|---|---|")
    rows = [r for r in rows if len(within(r)) > 1]
    for r in rows:
        ok = within(r)
        best = max(ok, key=lambda c: c["jod"])
        pick = next(c for c in r["candidates"] if c["chosen"])
        rho = spearman([_shipped(c) for c in ok], [c["jod"] for c in ok])
        print(f"| {r['clip']} | {r['bpp']} | {r['first']} | {len(ok)} | {rho:.2f} | "
              f"{'yes' if pick is best else 'no'} | {best['jod'] - pick['jod']:.3f} |")
    print("\n| measure | mean Spearman with JOD | picks JOD's best | mean regret | worst regret |"
          "\n|---|---|---|---|---|")
    for m in ("shipped search",) + MEASURES:
        rhos, regrets, agree = [], [], 0
        for r in rows:
            ok = within(r)
            best = max(ok, key=lambda c: c["jod"])
            if m == "shipped search":
                pick = next(c for c in r["candidates"] if c["chosen"])
                rho = spearman([_shipped(c) for c in ok], [c["jod"] for c in ok])
            else:
                if any(m not in c for c in ok):
                    continue
                pick = max(ok, key=lambda c: (c[m], -c["bytes"]))
                rho = spearman([c[m] for c in ok], [c["jod"] for c in ok])
            if rho == rho:
                rhos.append(rho)
            regrets.append(best["jod"] - pick["jod"])
            agree += pick is best
        if regrets:
            print(f"| {m} | {np.mean(rhos) if rhos else float('nan'):.2f} | {agree} of "
                  f"{len(regrets)} | {np.mean(regrets):.3f} | {max(regrets):.3f} |")


def _shipped(c: dict) -> float:
    """The search's own score of a candidate (runs before 2026-12-07 stored it as psnr_y)."""
    return c.get("score", c["psnr_y"])


def _key(clip: str, bpp: float, first: int, c: dict) -> tuple:
    return (clip, float(bpp), first, c["interval"], c["scale"], c["synth"], c["bytes"])


def load(paths: list[str]) -> list[dict]:
    return [json.loads(line) for p in paths for line in open(p) if line.strip()]


if __name__ == "__main__":
    main()
