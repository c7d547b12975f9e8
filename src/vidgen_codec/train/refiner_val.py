"""The refiner's held-out check: what the encoder's gate would see on clips outside training.

    held-out clips --`vgc encode` (av1 backbone, no refiner named), once--> VAL_DIR/*.vgc
                    (default RUN/val; a file already there is used as it is)
    each file --STEM decoder--> intermediate frames, types, levels (as the decoder gives them)
    every `every` steps: the refiner on each of the file's windows (`refine.windows`, the
    decoder's windows, noise and levels), luma PSNR of refined and unrefined frames against
    the originals (the gate's measure, `refine/gate.py`), logged per point to RUN/val_log.csv

A window whose refined frames lose is one the gate would switch off: the log's `gain_db` is
the mean over windows (what the refiner does with the gate ignored), `on` how many windows
would gain. The check only logs: choosing a checkpoint by it would make the clips a tuning
set, no longer held out.

Alone, it scores a refiner weights folder, loaded as the decoder loads it:

    python -m vidgen_codec.train.refiner_val --weights weights/refiner-av1 \
        --clips heldout/cup.mp4,heldout/tree.avi --dir heldout          (make heldout)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ..torch_env import torch

from ..frames import as_tensor, to_uint8

FRAMES = 33  # per held-out clip, from its start (the eval tables' clips)


@dataclass
class HeldOutWindow:
    point: str  # "clip bpp"
    items: list  # [WindowItem], padded to the refiner's window
    frames: int  # real frames in it
    original: np.ndarray  # (frames, H, W, 3) uint8
    plain_db: float  # luma PSNR of the unrefined frames


def prepare(clips: list[str], bpps: list[float], folder: Path, window: int,
            stem_weights=None) -> list[HeldOutWindow]:
    """Encode each clip's first FRAMES frames at each bpp (kept in `folder`: a resumed run
    reuses them) and cut the decoded sequences into the decoder's windows."""
    from .. import api, metrics
    from ..codecs.stem import StemCodec
    from ..video_io import read_frames

    folder.mkdir(parents=True, exist_ok=True)
    codec = StemCodec.load(stem_weights)
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
            for items, n, first in _windows(codec, path, window):
                orig = original[first:first + n]
                out.append(HeldOutWindow(f"{Path(clip).stem} {bpp}", items, n, orig,
                                         metrics.psnr_y(_crop(items[:n], orig), orig)))
    return out


def _windows(codec, path: Path, window: int):
    """(padded [WindowItem], real frames, first frame index) of each decoder window; the
    frames at the decoder's padded size, as the decoder refines them."""
    from ..pipeline.decode import decoded, padded
    from ..bitstream import ContainerReader
    from ..refine.windows import window_spans

    with ContainerReader(str(path)) as rd:
        h, w = rd.header.height, rd.header.width
        dst = codec.new_decoder(rd.codec_config, w, h)
        # an av1 GOP chunk decodes to its whole GOP (the windows restart at each); the
        # flush, empty here, is filtered out
        for out in filter(None, decoded(codec, dst, rd.iter_frames(), padded(h, codec.stride),
                                        padded(w, codec.stride))):
            for s, m in window_spans(len(out), window):
                # every window is refined here (the check measures the refiner, not the gate)
                items = [it._replace(gate=None, frame=as_tensor(it.frame))
                         for it in out[s:s + m]]
                yield items + [items[-1]] * (window - m), m, out[s].index


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


def main(argv=None) -> None:
    import argparse

    from ..refine.loading import load_refiner

    ap = argparse.ArgumentParser(
        description="Score a refiner on held-out clips as the encoder's gate would.",
        epilog="example: python -m vidgen_codec.train.refiner_val --weights "
               "weights/refiner-av1 --clips heldout/cup.mp4,heldout/tree.avi --dir heldout")
    ap.add_argument("--weights", required=True, help="refiner weights folder")
    ap.add_argument("--clips", required=True, help="held-out clips, comma-separated")
    ap.add_argument("--bpp", default="0.005,0.02,0.05", help="rates, comma-separated")
    ap.add_argument("--dir", required=True, help="where the coded files are kept")
    ap.add_argument("--stem-weights", default=None)
    a = ap.parse_args(argv)
    ref, _ = load_refiner(a.weights)
    held = prepare(a.clips.split(","), [float(b) for b in a.bpp.split(",")], Path(a.dir),
                   ref.cfg.window, a.stem_weights)
    print(f"{ref.cfg.model_id} ({a.weights}): mean luma PSNR gain per window, gate ignored")
    for point, (gain, on, n) in check(ref, held).items():
        print(f"{point:<16} {gain:+.4f} dB   gate on {on} of {n} windows")


if __name__ == "__main__":
    main()
