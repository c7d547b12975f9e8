"""The refiner's held-out check: what the encoder's gate would see on clips outside training.

    held-out clips --`vgc encode` (av1 backbone, no refiner named), once per run-->  RUN/val/*.vgc
    each file --STEM decoder--> intermediate frames, types, levels (as the decoder gives them)
    every `every` steps: the refiner on each of the file's windows (`refine.windows`, the
    decoder's windows, noise and levels), luma PSNR of refined and unrefined frames against
    the originals (the gate's measure, `refine/gate.py`), logged per point to RUN/val_log.csv

A window whose refined frames lose is one the gate would switch off: the log's `gain_db` is
the mean over windows (what the refiner does with the gate ignored), `on` how many windows
would gain. The check only logs: choosing a checkpoint by it would make the clips a tuning
set, no longer held out.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..codecs.base import BackboneLevel
from ..frames import to_uint8

FRAMES = 33  # per held-out clip, from its start (the eval tables' clips)


@dataclass
class HeldOutWindow:
    point: str  # "clip bpp"
    items: list  # [WindowItem], padded to the refiner's window
    frames: int  # real frames in it
    original: np.ndarray  # (frames, H, W, 3) uint8
    plain: np.ndarray  # the unrefined frames, cropped, uint8
    plain_db: float  # their luma PSNR


def prepare(clips: list[str], bpps: list[float], folder: Path, window: int,
            stem_weights=None) -> list[HeldOutWindow]:
    """Encode each clip's first FRAMES frames at each bpp (kept in `folder`: a resumed run
    reuses them) and cut the decoded sequences into the decoder's windows."""
    from .. import api, metrics
    from ..video_io import read_frames

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for clip in clips:
        original = np.stack(list(read_frames(clip, count=FRAMES)))
        for bpp in bpps:
            path = folder / f"{Path(clip).stem}_{bpp}.vgc"
            if not path.exists():
                tmp = path.with_suffix(".part.vgc")
                api.encode(clip, str(tmp), bpp=bpp, frames=FRAMES, backbone="av1",
                           refine=False, weights=stem_weights, progress=False)
                tmp.replace(path)
            for items, n, first in _windows(path, window, stem_weights):
                plain, orig = _crop(items[:n], original), original[first:first + n]
                out.append(HeldOutWindow(f"{Path(clip).stem} {bpp}", items, n, orig, plain,
                                         metrics.psnr_y(plain, orig)))
    return out


def _windows(path: Path, window: int, stem_weights):
    """(padded [WindowItem], real frames, first frame index) of each decoder window; the
    frames at the decoder's padded size, as the decoder refines them."""
    from ..bitstream import ContainerReader
    from ..codecs.stem import StemCodec
    from ..refine.windows import WindowItem, window_spans

    codec = StemCodec.load(stem_weights)
    with ContainerReader(str(path)) as rd:
        h, w = rd.header.height, rd.header.width
        hp, wp = (-(-n // codec.stride) * codec.stride for n in (h, w))
        dst = codec.new_decoder(rd.codec_config, w, h)
        for c in rd.iter_frames():
            types, _, levels = codec.frame_info(dst, c.payload)
            out, dst = codec.decode_frame(dst, c.payload, hp, wp)
            frames = dict(out)
            gop = sorted(types)
            for s, m in window_spans(len(gop), window):
                idx = gop[s:s + m]
                items = [WindowItem(i, frames[i], types[i],
                                    levels.get(i, BackboneLevel())) for i in idx]
                yield items + [items[-1]] * (window - m), m, idx[0]


def _crop(items, original) -> np.ndarray:
    h, w = original.shape[1:3]
    return np.stack([to_uint8(it.frame.clamp(0, 1))[0][:h, :w] for it in items])


@torch.no_grad()
def check(ref, held: list[HeldOutWindow], seed: int = 0) -> dict[str, tuple[float, int, int]]:
    """{point: (mean luma PSNR gain over its windows in dB, windows that gain, windows)}."""
    from .. import metrics
    from ..refine.windows import run_window

    was = ref.training
    ref.eval()
    per: dict[str, list[float]] = {}
    try:
        for hw in held:
            refined = run_window(ref, hw.items, seed)[:hw.frames]
            h, w = hw.original.shape[1:3]
            y = np.stack([to_uint8(x.clamp(0, 1))[0][:h, :w] for x in refined])
            per.setdefault(hw.point, []).append(metrics.psnr_y(y, hw.original) - hw.plain_db)
    finally:
        ref.train(was)
    return {p: (float(np.mean(g)), sum(v > 0 for v in g), len(g)) for p, g in per.items()}


def log(path: Path, step: int, result: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["step", "point", "gain_db", "on", "windows"])
        for point, (gain, on, n) in result.items():
            w.writerow([step, point, f"{gain:.4f}", on, n])
