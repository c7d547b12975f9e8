"""Decode speed and peak memory of the diffusion refiner against --no-refine. Prints a table.

    python benchmarks/refiner.py                                  # CPU, 640x360
    python benchmarks/refiner.py --device cuda --size 1920x1080   # GPU, when there is one

The clip is the synthetic panning scene of benchmarks/stem.py, encoded once with stem at the
given bpp; each decode runs in its own process so its peak RSS (and, on CUDA, peak allocated
GPU memory) is its own. Quality of the refined frames is measured by `vgc eval` (see
benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from stem import make_clip  # benchmarks/stem.py

CHILD = r"""
import json, resource, sys, time
import torch
from vidgen_codec import api
vgc, out, device, refine = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
t = time.perf_counter()
n = api.decode(vgc, out, device=device, refine=refine, progress=False)
dt = time.perf_counter() - t
gpu = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0
print(json.dumps({"frames": n, "fps": n / dt,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "gpu_mib": gpu}))
"""


def decode_point(vgc: Path, out: Path, device: str, refine: bool) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(vgc), str(out), device,
                        "1" if refine else "0"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--bpp", type=float, default=0.02)
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    from vidgen_codec import api

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        clip, vgc = tmp / "clip.mkv", tmp / "a.vgc"
        make_clip(clip, a.frames, w, h)
        rep = api.encode(str(clip), str(vgc), bpp=a.bpp, device=a.device, progress=False)
        print(f"stem decode, {w}x{h}, {a.frames} frames, {rep.bytes} bytes ({rep.bpp:.4f} bpp), "
              f"device {a.device}")
        print(f"{'decode':<12} {'fps':>8} {'peak RSS MiB':>13} {'peak GPU MiB':>13}")
        for name, refine in (("--no-refine", False), ("refined", True)):
            r = decode_point(vgc, tmp / "d.mkv", a.device, refine)
            print(f"{name:<12} {r['fps']:>8.2f} {r['rss_mib']:>13.0f} {r['gpu_mib']:>13.0f}")


if __name__ == "__main__":
    main()
