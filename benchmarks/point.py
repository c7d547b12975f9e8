"""One vgc point: encode a clip at a bpp target (with any `api.encode` options as JSON), decode
it without the refiner, print bytes, luma PSNR, ColorVideoVDP and the structure per GOP.

    python benchmarks/point.py clip.mkv 0.005
    python benchmarks/point.py clip.mkv 0.005 '{"backbone_interval": 8, "backbone_scale": 4}'

Run it with an older checkout first on PYTHONPATH to compare commits on the same clip.
"""

import json
import sys
import tempfile

import numpy as np

from vidgen_codec import api, metrics
from vidgen_codec.eval.metrics_perceptual import cvvdp
from vidgen_codec.info import describe
from vidgen_codec.video_io import probe, read_frames

clip, bpp = sys.argv[1], float(sys.argv[2])
kw = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
ref = np.stack(list(read_frames(clip)))
fps = float(probe(clip).fps)
with tempfile.TemporaryDirectory() as d:
    rep = api.encode(clip, d + "/a.vgc", bpp=bpp, refine=False, progress=False, **kw)
    api.decode(d + "/a.vgc", d + "/a.mkv", progress=False)
    dec = np.stack(list(read_frames(d + "/a.mkv")))
    gops = describe(d + "/a.vgc")["av1_gops"] or []
print(json.dumps(dict(kw=kw, bytes=rep.bytes, psnr_y=round(metrics.psnr_y(dec, ref), 3),
                      cvvdp=round(cvvdp(ref, dec, fps=fps), 3),
                      gops=[(g["interval"], g["scale"], g.get("synthesised")) for g in gops])))
