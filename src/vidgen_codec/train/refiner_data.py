"""Training windows for the refiner: STEM intermediate sequences made on the fly.

    training clip -> random crop (size x size), start, frame stride, flip
      -> STEM encode at a random target (log-uniform bpp) -> STEM decode   [in memory, no file]
      -> (original, intermediate, frame types) for up to `seq_len` frames
    sequences whose intermediate PSNR is under `min_psnr` are drawn again: on small crops the
    codec can miss a low target by far (whole frames wrong, under 10 dB), and there is nothing
    to refine in them. Small crops also pay the per-frame costs (headers, motion side
    information) on few pixels, so the bpp range sits above the full-size range it stands for:
    128x128 crops at 0.04-0.4 bpp give intermediate PSNRs of about 15-30 dB on the training
    clips with the learned backbone, 28-34 dB with av1 (640x480 clips at 0.01-0.1 bpp: about
    25-35 dB).
    a pool of such sequences is refreshed one sequence every `refresh` batches; a batch is
    random `window`-frame slices of pool sequences.

The round trip is the real codec (shipped or given STEM weights), so the refiner sees exactly
the warps, holes and backbone blur that `vgc decode --no-refine` produces, across rates.
"""

from __future__ import annotations

import math
import random

import numpy as np
from ..torch_env import torch

from ..bitstream.headers import FramePayload
from ..codecs.base import BackboneLevel, RateTarget, Structure
from ..errors import TrainingDataError
from ..frames import as_tensor, to_tensor
from ..metrics import psnr


def stem_encode(codec, frames: torch.Tensor, bpp: float, structure: Structure | None = None
                ) -> tuple[list[FramePayload], bytes | None]:
    """STEM's encoder on (T,3,H,W) frames -> (frame payloads in coding order, codec config)."""
    t, _, h, w = frames.shape
    st = codec.new_encoder(w, h, RateTarget(bpp=bpp), t, structure or Structure(backbone="learned"))
    chunks = []
    for x in frames:
        out, st = codec.encode_frame(st, x[None])
        chunks += out
    out, st = codec.flush(st)
    chunks += out
    return [c.payload for c in chunks], codec.codec_config(st)


def stem_decode(codec, payloads: list[FramePayload], config: bytes | None, t: int, h: int,
                w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """STEM's decoder on `stem_encode`'s output -> (frames (T,3,H,W), types (T,), levels
    (T,2): each frame's `BackboneLevel` as [bpp, qindex])."""
    dst = codec.new_decoder(config, w, h)
    decoded, types, levels = {}, {}, {}
    for p in payloads:
        chunk_types, _, chunk_levels = codec.frame_info(dst, p)
        types.update(chunk_types)
        levels.update(chunk_levels)
        out, dst = codec.decode_frame(dst, p, h, w)
        decoded.update(dict(out))
    frames_out = torch.cat([as_tensor(decoded[i]) for i in range(t)])
    return (frames_out.clamp(0, 1), torch.tensor([types[i] for i in range(t)]),
            torch.tensor([[float(v) for v in levels.get(i, BackboneLevel())] for i in range(t)]))


def refiner_clips(data: str, seed: int) -> list[np.ndarray]:
    """The refiner's training clips: the training videos (first 300 frames) and the photos as
    camera pans (photo_pans.py), each kind about half the draws."""
    from .photo_pans import photo_pans
    from .residual import load_clips

    videos, pans = load_clips(data, max_frames=300), photo_pans(data, seed=seed)
    return videos * max(1, len(pans) // len(videos)) + pans


STRUCTURE_FIELDS = ("backbone", "backbone_scale", "search", "backbone_interval")


def as_u8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().to(torch.uint8)


def random_structure(rng: random.Random, backbones: tuple[str, ...]) -> Structure:
    """A backbone for one training sequence; av1: a random scale, and every frame an AV1 frame
    or the plan's sparse backbones (the encoder's two structure candidates)."""
    b = rng.choice(backbones)
    if b != "av1":
        return Structure(backbone=b)
    sparse = rng.random() < 0.5
    return Structure(backbone="av1", backbone_scale=rng.choice([1, 2]), search=False,
                     backbone_interval=None if not sparse else rng.choice([4, 8, 12]))


BPP_RANGE = (0.04, 0.4)  # training targets of 128x128 crops (log-uniform); see the docstring


def usable_clips(clips: list[np.ndarray], size: int, window: int) -> list[np.ndarray]:
    """The clips a crop of `size` x `size` and `window` frames fits in (the recipes' clip
    numbers index this list)."""
    usable = [c for c in clips if min(c.shape[1:3]) >= size and len(c) >= window]
    if not usable:
        raise TrainingDataError(f"no training clip of {window}+ frames at least {size} px")
    return usable


def crop_of(clips: list[np.ndarray], recipe: dict) -> torch.Tensor:
    """A recipe's original frames from `usable_clips`, (T,3,s,s) in [0,1]."""
    i0, stride, s = recipe["start"], recipe["stride"], recipe["size"]
    clip = clips[recipe["clip"]]
    crop = clip[i0:i0 + recipe["length"] * stride:stride,
                recipe["y"]:recipe["y"] + s, recipe["x"]:recipe["x"] + s]
    if recipe["flip"]:
        crop = crop[:, :, ::-1]
    return to_tensor(np.ascontiguousarray(crop))


class RefinerSampler:
    def __init__(self, clips: list[np.ndarray], codec, *, size: int = 128, seq_len: int = 33,
                 window: int = 9, pool: int = 24, refresh: int = 4,
                 bpp_range: tuple[float, float] = BPP_RANGE, min_psnr: float = 20.0,
                 seed: int = 0, backbones: tuple[str, ...] = ("learned",), packed=None):
        self.clips = usable_clips(clips, size, window)
        self.codec, self.size, self.seq_len, self.window = codec, size, seq_len, window
        self.bpp_range, self.refresh, self.min_psnr = bpp_range, refresh, min_psnr
        self.backbones = backbones
        self.rng = random.Random(seed)
        self.pool_size = pool
        self.pool: list[tuple[torch.Tensor, ...]] = []
        self.calls = 0
        self.packed = packed  # a refiner_pack.PackedPool: its sequences instead of round trips

    def sequence(self, tries: int = 8):
        """One (original uint8 (T,3,s,s), intermediate uint8, types (T,), levels (T,2))
        sequence: the next one of the packed pool when there is one, else a new round trip."""
        if self.packed is not None:
            return self.packed.next()
        orig, (inter, types, levels) = self.coded_sequence(tries)[1:3]
        return as_u8(orig), as_u8(inter), types, levels

    def coded_sequence(self, tries: int = 8):
        """(recipe, original (T,3,s,s) in [0,1], (STEM-decoded, types, levels), (payloads,
        codec config)) of a random crop and target; drawn again (up to `tries` times) while the
        intermediate is under `min_psnr`."""
        for _ in range(tries):
            recipe = self.draw()
            orig = crop_of(self.clips, recipe)
            st = Structure(**recipe["structure"])
            payloads, config = stem_encode(self.codec, orig, recipe["bpp"], st)
            decoded = stem_decode(self.codec, payloads, config, *orig.shape[:1], *orig.shape[2:])
            if psnr(orig, decoded[0]) >= self.min_psnr:
                break
        return recipe, orig, decoded, (payloads, config)

    def draw(self) -> dict:
        """A random crop (clip, first frame, stride, length, corner, flip), target and
        structure, as plain values (what a training pack stores)."""
        r, s = self.rng, self.size
        k = r.randrange(len(self.clips))
        n, h, w = self.clips[k].shape[:3]
        stride = r.choice([1, 1, 2])
        length = min(self.seq_len, (n - 1) // stride + 1)
        i0 = r.randrange(n - (length - 1) * stride)
        y0, x0 = r.randrange(h - s + 1), r.randrange(w - s + 1)
        flip = r.random() < 0.5
        lo, hi = self.bpp_range
        bpp = math.exp(r.uniform(math.log(lo), math.log(hi)))
        st = random_structure(r, self.backbones)
        return {"clip": k, "start": i0, "stride": stride, "length": length, "y": y0, "x": x0,
                "flip": flip, "bpp": bpp, "size": s,
                "structure": {f: getattr(st, f) for f in STRUCTURE_FIELDS}}

    def batch(self, n: int) -> tuple[torch.Tensor, ...]:
        """(target (n,3,W,s,s), intermediate (n,3,W,s,s) in [0,1], types (n,W) long, levels
        (n,W,2) [bpp, qindex])."""
        while len(self.pool) < self.pool_size:
            self.pool.append(self.sequence())
        if self.calls % self.refresh == 0:
            self.pool[self.rng.randrange(self.pool_size)] = self.sequence()
        self.calls += 1
        tgt, inter, types, levels = [], [], [], []
        for _ in range(n):
            o, x, t, lv = self.pool[self.rng.randrange(self.pool_size)]
            if len(o) < self.window:
                continue
            i = self.rng.randrange(len(o) - self.window + 1)
            tgt.append(o[i:i + self.window])
            inter.append(x[i:i + self.window])
            types.append(t[i:i + self.window])
            levels.append(lv[i:i + self.window])
        if not tgt:
            return self.batch(n)
        to_f = lambda xs: torch.stack(xs).permute(0, 2, 1, 3, 4).float() / 255  # noqa: E731
        return to_f(tgt), to_f(inter), torch.stack(types), torch.stack(levels)
