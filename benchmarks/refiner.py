"""Decode speed with the diffusion refiner on every window, on the CPU (issue 17, part 3).
Prints a table.

    python benchmarks/refiner.py                          # CPU, 640x360, 49 frames, 0.02 bpp
    python benchmarks/refiner.py --refiners weights/refiner-av1
    python benchmarks/refiner.py --device cuda --size 1920x1080   # GPU, when there is one

For each refiner weights folder (default: both shipped ones, the learned backbone's
weights/refiner and the av1 backbone's weights/refiner-av1):
- `learned`: a learned-backbone file encoded naming that refiner, then `vgc decode` timed as a
  user runs it (every window is refined: the learned backbone has no gate);
- `av1`: a default (av1 backbone) file decoded with --no-refine, timed, then the refiner run
  over every window of the decoded frames as the decoder runs it (`refine.windows`, the same
  windows and noise), timed; fps = frames / (decode + refiner). This is the decoder's cost
  when the encoder's gate lets every window through (on the shipped weights it lets few).
Each refiner runs in its own process, under the decoder's thread-invariant numerics; peak RSS
is that process's. The clip
is the synthetic panning scene of benchmarks/stem.py. Quality is measured by `vgc eval`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stem import make_clip  # noqa: E402

CHILD = r"""
import json, resource, sys, time
import torch
from vidgen_codec import api
from vidgen_codec.bitstream.ids import FrameType
from vidgen_codec.frames import to_tensor
from vidgen_codec.numerics import thread_invariant
from vidgen_codec.refine.loading import load_refiner
from vidgen_codec.refine.windows import WindowItem, refine_stream
from vidgen_codec.video_io import read_frames
src, tmp, bpp, refiner, device = sys.argv[1:6]
out = {}
f = tmp + "/l.vgc"
api.encode(src, f, bpp=float(bpp), backbone="learned", refiner=refiner, device=device,
           progress=False)
t = time.perf_counter()
n = api.decode(f, tmp + "/l.mkv", refiner=refiner, device=device, progress=False)
out["learned_fps"] = n / (time.perf_counter() - t)
t = time.perf_counter()
api.decode(f, tmp + "/n.mkv", refine=False, device=device, progress=False)
out["learned_norefine_fps"] = n / (time.perf_counter() - t)
f = tmp + "/a.vgc"
api.encode(src, f, bpp=float(bpp), refine=False, device=device, progress=False)
t = time.perf_counter()
n = api.decode(f, tmp + "/a.mkv", refine=False, device=device, progress=False)
t_dec = time.perf_counter() - t
frames = [to_tensor(x) for x in read_frames(tmp + "/a.mkv")]
ref, _ = load_refiner(refiner, device=device)
types = {i: FrameType.I if i == 0 else FrameType.P for i in range(n)}
@thread_invariant
def run():
    items = [WindowItem(i, f, types[i]) for i, f in enumerate(frames)]
    return sum(len(done) for done in refine_stream(ref, [items], 0))
run()  # warm-up (first calls allocate)
t = time.perf_counter()
assert run() == n
if device == "cuda":
    torch.cuda.synchronize()
t_ref = time.perf_counter() - t
out.update(av1_norefine_fps=n / t_dec, refiner_fps=n / t_ref, av1_fps=n / (t_dec + t_ref),
           model_id=ref.cfg.model_id, params=sum(p.numel() for p in ref.parameters()),
           rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--frames", type=int, default=49)
    ap.add_argument("--bpp", type=float, default=0.02)
    ap.add_argument("--refiners", default="weights/refiner,weights/refiner-av1")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / "clip.mkv"
        make_clip(clip, a.frames, w, h)
        print(f"decode fps with the refiner on every window, {w}x{h}, {a.frames} frames, "
              f"{a.bpp:g} bpp, device {a.device}")
        print(f"{'refiner':<18}{'params':>8} {'refiner fps':>12} {'av1 fps':>8} "
              f"{'av1 no-ref':>11} {'learned fps':>12} {'learned no-ref':>15} {'peak MiB':>9}")
        for r in a.refiners.split(","):
            res = subprocess.run([sys.executable, "-c", CHILD, str(clip), d, str(a.bpp), r,
                                  a.device],
                                 capture_output=True, text=True, check=True)
            m = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{m['model_id']:<18}{m['params']:>8} {m['refiner_fps']:>12.2f} "
                  f"{m['av1_fps']:>8.2f} {m['av1_norefine_fps']:>11.2f} "
                  f"{m['learned_fps']:>12.2f} {m['learned_norefine_fps']:>15.2f} "
                  f"{m['rss_mib']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
