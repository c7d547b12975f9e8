"""Fine-tune a waifu2x UpConv7 photo prior into vgc's own 2x upsampler for half-scale AV1
backbones (issue 33, part 3: "start our refiner from the prior").

    data folder --(held-out names skipped)--> videos: windows of `backbones` frames `gap`
        apart; photos: one picture each
      --2x2 means (`av1_backbone.downscale`)--> SVT-AV1 at the backbone's settings (preset 8,
        random access), one sequence per window, CRF drawn from CRFS --dav1d--> decoded
        half-scale RGB pictures
      pairs (decoded half scale, original full scale)
    the prior's weights (`priors.loading`) -> `Trainable` (float32, torch's own convolutions)
      -> Adam on the mean squared error of 2x outputs against the originals, random crops
      -> checkpoints (resume) -> `export.export_upsampler` -> weights/upsampler-av1 (`priors.own`)

What the network starts from is a network trained on photos with JPEG noise (nagadomi's
waifu2x, MIT); what it learns here is AV1's loss at the rates where vgc codes backbones at half
scale (CRF 38-63). Validation: fixed crops of round trips of the held-out clips, RGB PSNR of the
network's output (clamped, rounded) beside Lanczos-3 on the same crops, logged to
OUT/val_log.csv. The decoder runs the exported weights in exact integers (`priors/exact.py`).
"""

from __future__ import annotations

import csv
import math
import random
import time
from pathlib import Path

import numpy as np
from ..torch_env import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TrainingDataError
from .data import IMAGE_EXT, VIDEO_EXT, read_photo, training_files

HOLDOUT = ("cup.mp4", "tree.avi", "vtest.avi")  # the sources of the eval's held-out clips
CRFS = tuple(range(38, 64))


def _even4(rgb: np.ndarray) -> np.ndarray:
    return rgb[: rgb.shape[0] // 4 * 4, : rgb.shape[1] // 4 * 4]


def _round_trip(frames: list[np.ndarray], crf: float) -> list[np.ndarray]:
    """Full-scale RGB frames (sides multiples of 4) -> their half-scale AV1 decodes."""
    from ..codecs.common.av1_backbone import downscale
    from ..pictures.av1 import Av1Decoder, Av1Settings, encode_sequence

    units = encode_sequence([downscale(f, 2) for f in frames], crf, Av1Settings())
    dec = Av1Decoder()
    return [dec.decode(u) for u in units]


def round_trips(root, *, holdout=HOLDOUT, only=None, windows: int = 40, backbones: int = 6,
                gap: int = 4, max_side: int = 640, seed: int = 0) -> list[tuple]:
    """(decoded half scale, original) uint8 RGB pairs of the videos and photos under `root`
    (`only`: those file names alone, e.g. the held-out ones), deterministic in `seed`."""
    from ..video_io import read_frames

    rng = random.Random(seed)
    exts = IMAGE_EXT | VIDEO_EXT
    files = [p for p in training_files(root, () if only else holdout, exts)
             if only is None or p.name in only]
    pairs = []
    for path in files:
        if path.suffix.lower() in IMAGE_EXT:
            im = _even4(read_photo(path, lambda w, h: _fit(w, h, max_side)))
            pairs.append((_round_trip([im], rng.choice(CRFS))[0], im))
            continue
        frames = [_even4(f) for f in read_frames(str(path))]
        span = (backbones - 1) * gap + 1
        for _ in range(windows if len(frames) >= span else 0):
            start = rng.randrange(len(frames) - span + 1)
            picked = frames[start:start + span:gap]
            pairs += zip(_round_trip(picked, rng.choice(CRFS)), picked)
    if not pairs:
        raise TrainingDataError(f"no images or videos found under {root}")
    return pairs


def _fit(w: int, h: int, side: int) -> tuple[int, int]:
    s = min(1.0, side / max(w, h))
    return round(w * s), round(h * s)


class Trainable(nn.Module):
    """An UpConv7 chain in torch's own layers (for training): unpadded 3x3 convolutions with
    LeakyReLU, then a ConvTranspose2d; tensors named and laid out as `priors.own`."""

    def __init__(self, tensors: dict, slope: float = 0.1, stride: int = 2, crop: int = 3):
        super().__init__()
        self.slope, self.stride, self.crop = slope, stride, crop
        n = sum(1 for k in tensors if k.startswith("conv") and k.endswith(".weight"))
        self.convs = nn.ModuleList()
        for i in range(n):
            w = torch.as_tensor(np.asarray(tensors[f"conv{i}.weight"], np.float32))
            conv = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]))
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(torch.as_tensor(np.asarray(tensors[f"conv{i}.bias"])))
            self.convs.append(conv)
        w = torch.as_tensor(np.asarray(tensors["deconv.weight"], np.float32))  # (out, in, k, k)
        self.deconv = nn.ConvTranspose2d(w.shape[1], w.shape[0], tuple(w.shape[2:]),
                                         stride=stride, padding=crop)
        self.deconv.weight.data.copy_(w.transpose(0, 1))  # torch: (in, out, k, k)
        self.deconv.bias.data.copy_(torch.as_tensor(np.asarray(tensors["deconv.bias"])))
        k = w.shape[2]  # n inputs -> stride (n - 2 convs) - stride + k - 2 crop outputs
        self.border = (2 * stride * n + stride - k + 2 * crop) // (2 * stride)  # 7: UpConv7

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.slope)
        return self.deconv(x)

    def tensors(self) -> dict:
        out = {}
        for i, conv in enumerate(self.convs):
            out[f"conv{i}.weight"] = conv.weight.detach().clone()
            out[f"conv{i}.bias"] = conv.bias.detach().clone()
        out["deconv.weight"] = self.deconv.weight.detach().transpose(0, 1).contiguous()
        out["deconv.bias"] = self.deconv.bias.detach().clone()
        return out

    def config(self, base: str) -> dict:
        return {"slope": self.slope, "stride": self.stride, "crop": self.crop, "base": base,
                "base_licence": "MIT (nagadomi/waifu2x; ncnn conversion nihui/waifu2x-ncnn-vulkan)"}


def base_tensors(base: str) -> dict:
    """The starting prior's arrays (`priors.loading`; the waifu2x wheel must be installed)."""
    from ..priors.loading import prior_graph
    from ..priors.own import chain_tensors

    return chain_tensors(prior_graph(base))


def _crop(pair, side: int, rng: random.Random, border: int):
    """A side x side input crop with `border` samples of context, and its 2x target."""
    low, high = pair
    h, w = low.shape[:2]
    y = rng.randrange(border, h - side - border + 1)
    x = rng.randrange(border, w - side - border + 1)
    return (low[y - border:y + side + border, x - border:x + side + border],
            high[2 * y:2 * y + 2 * side, 2 * x:2 * x + 2 * side])


def _tensor(arrays) -> torch.Tensor:
    """uint8 HxWx3 arrays -> a (N, 3, H, W) float batch in [0, 1]."""
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(arrays)))
    return batch.permute(0, 3, 1, 2).float() / 255


def _usable(pairs, side: int, border: int) -> list:
    return [p for p in pairs if min(p[0].shape[:2]) >= side + 2 * border]


class Validation:
    """Fixed crops of held-out round trips: the network's PSNR beside Lanczos-3's."""

    def __init__(self, pairs, border: int, side: int = 64, per_picture: int = 2, seed: int = 5):
        from ..pictures.lanczos import upsample2x_rgb

        rng = random.Random(seed)
        crops = [_crop(p, side, rng, border) for p in _usable(pairs, side, border)
                 for _ in range(per_picture)]
        if not crops:
            raise TrainingDataError("no held-out picture is large enough to validate on")
        self.low, self.high = _tensor([c[0] for c in crops]), _tensor([c[1] for c in crops])
        b = 2 * border
        lanczos = _tensor([upsample2x_rgb(np.ascontiguousarray(c[0]))[b:-b, b:-b] for c in crops])
        self.lanczos = self._psnr(lanczos)

    def _psnr(self, out: torch.Tensor) -> float:
        o = (out.clamp(0, 1) * 255).round()
        mse = ((o - self.high * 255) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-3)
        return float((10 * torch.log10(255 ** 2 / mse)).mean())

    @torch.no_grad()
    def psnr(self, net: nn.Module) -> float:
        return self._psnr(torch.cat([net(self.low[i:i + 16]) for i in range(0, len(self.low), 16)]))


def train_upsampler(data, out, *, base: str = "waifu2x-photo-noise2", steps: int = 1200,
                    resume: bool = False, batch: int = 32, patch: int = 32, lr: float = 2e-5,
                    ema: float = 0.998, windows: int = 40, val_every: int = 250,
                    val_side: int = 64, deadline: float | None = None, seed: int = 0,
                    device: str = "cpu") -> Path:
    """Fine-tune `base` on round trips of `data` (Adam, the rate decaying to 0 along a cosine
    over `steps`); what is validated and exported is the exponential moving average of the
    weights (decay `ema`: Polyak averaging, which steadies a fine-tune with small batches).
    OUT/ckpt.pt after every `val_every` steps and at the end (`resume` continues from it).
    Returns the checkpoint's path."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "ckpt.pt"
    state = torch.load(ckpt, weights_only=False) if resume and ckpt.exists() else None
    start = None if state else base_tensors(base)
    net = Trainable(state["live"] if state else start).to(device)
    avg = Trainable(state["tensors"] if state else start)
    pairs = _usable(round_trips(data, windows=windows, seed=seed), patch, net.border)
    val = Validation(round_trips(data, only=HOLDOUT, windows=4, seed=seed + 1), net.border,
                     val_side)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k, steps) / steps)))
    rng = random.Random(seed)
    step = 0
    if state:
        base, step = state["base"], state["step"]
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.setstate(state["rng"])
    else:
        _log(out / "val_log.csv", ["step", "val_psnr", "lanczos_psnr"],
             [0, val.psnr(avg), val.lanczos], fresh=True)

    def save():
        torch.save({"tensors": avg.tensors(), "live": net.tensors(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "rng": rng.getstate(), "step": step,
                    "base": base, "config": avg.config(base)}, ckpt)

    bar = tqdm(total=steps, initial=step, desc="vgc train upsampler", unit="step")
    while step < steps:
        crops = [_crop(pairs[rng.randrange(len(pairs))], patch, rng, net.border)
                 for _ in range(batch)]
        low, high = _tensor([c[0] for c in crops]), _tensor([c[1] for c in crops])
        if rng.random() < 0.5:
            low, high = low.flip(3), high.flip(3)
        loss = F.mse_loss(net(low.to(device)), high.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            for a, p in zip(avg.parameters(), net.parameters()):
                a.mul_(ema).add_(p.detach().cpu(), alpha=1 - ema)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss.detach()):.5f}")
        if step % val_every == 0 or step == steps:
            _log(out / "val_log.csv", None, [step, val.psnr(avg), val.lanczos])
            save()
        if deadline is not None and time.monotonic() > deadline:
            save()
            break
    bar.close()
    if not ckpt.exists():
        save()
    return ckpt


def _log(path: Path, header, row, fresh: bool = False) -> None:
    with open(path, "w" if fresh else "a", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(header)
        w.writerow([f"{v:.4f}" if isinstance(v, float) else v for v in row])

