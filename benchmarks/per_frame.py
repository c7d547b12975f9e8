"""Per-frame quality of a stem file against x265 at the same bytes: how quality swings between
backbones and the frames between them. Prints a table (worst frames first) and draws a plot.

    python benchmarks/per_frame.py clip.mkv --bpp 0.005 --out benchmarks/plots/per_frame.png

Encodes the clip with vgc at --bpp (the default search, no refiner), decodes it, matches x265
(one GOP, CRF searched to ±5 % of the .vgc file's bytes, as `vgc eval` does) and reports
per-frame RGB PSNR with each frame's type from `vgc info` (I, P backbones; M frames between
them, synthesised or sent as motion).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--bpp", type=float, default=0.005)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--out", default=None, help="PNG plot path")
    a = ap.parse_args()

    from vidgen_codec import api
    from vidgen_codec.eval.baselines import baseline_at_bytes
    from vidgen_codec.info import describe
    from vidgen_codec.video_io import probe, read_frames

    ref = list(read_frames(a.clip, count=a.frames))
    with tempfile.TemporaryDirectory() as d:
        vgc, dec = Path(d) / "a.vgc", Path(d) / "a.mkv"
        rep = api.encode(a.clip, str(vgc), bpp=a.bpp, frames=a.frames, refine=False,
                         progress=False)
        api.decode(str(vgc), str(dec), progress=False)
        ours = list(read_frames(str(dec)))
        info = describe(str(vgc))
    types = info["frame_types"]
    x265 = baseline_at_bytes(ref, probe(a.clip).fps, "x265", rep.bytes)
    p_ours = [psnr(o, r) for o, r in zip(ours, ref)]
    p_x265 = [psnr(o, r) for o, r in zip(x265.frames, ref)]
    coded = ", ".join(f"{g['gops']} GOP(s) interval {g['interval']} scale 1/{g['scale']}"
                      + (" synthesised" if g["synthesised"] else "")
                      for g in info["av1_gops"] or [])
    print(f"{a.clip}: {len(ref)} frames, vgc {rep.bytes} B ({rep.bpp:.5f} bpp; {coded}), "
          f"x265 {x265.bytes_used} B")
    print(f"{'':14}{'mean':>8}{'worst':>8}{'frame':>7}{'std':>7}")
    for name, p in (("vgc", p_ours), ("x265", p_x265)):
        k = int(np.argmin(p))
        print(f"{name:<14}{np.mean(p):>8.2f}{p[k]:>8.2f}{k:>7}{np.std(p):>7.2f}")
    for t in sorted(set(types)):
        sel = [p for p, c in zip(p_ours, types) if c == t]
        print(f"vgc {t} frames{'':3}{np.mean(sel):>8.2f}{min(sel):>8.2f}{'':>7}"
              f"{np.std(sel):>7.2f}  ({len(sel)})")
    if a.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 3.2))
        ax.plot(p_ours, label=f"vgc {rep.bytes} B", color="C0")
        ax.plot(p_x265, label=f"x265 {x265.bytes_used} B", color="C1")
        back = [i for i, c in enumerate(types) if c != "M"]
        ax.scatter(back, [p_ours[i] for i in back], s=14, color="C0", zorder=3,
                   label="vgc backbones")
        ax.set_xlabel("frame")
        ax.set_ylabel("PSNR (dB, RGB)")
        ax.set_title(f"{Path(a.clip).name} at {rep.bpp:.4f} bpp")
        ax.legend(fontsize=8)
        fig.tight_layout()
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(a.out, dpi=110)
        print(f"plot: {a.out}")


if __name__ == "__main__":
    main()
