"""`vgc train refiner`: the one-step diffusion refiner on STEM intermediate sequences.

    training videos + photos as camera pans (photo_pans.py), drawn about equally often
      -> RefinerSampler (STEM round trips of training clips, refiner_data.py; from a training
         pack, its precomputed round trips when they fit the run: refiner_pack.py)
      -> (target, intermediate, types) windows
      -> Refiner(intermediate, types, noise) = y        (models/refiner.py)
      -> generator loss (refiner_loss.py); after `adv_start` steps, + hinge adversarial term,
         and a discriminator step on (target, y)

What trains: our tiny model trains all of it, VAE decoder included: it is built from scratch,
so there is no pretrained decoder to keep (and with the "residual" output the decoder predicts
corrections, not images). On a Wan base (`--model-dir`) the pretrained VAE and transformer stay
frozen and the LoRA adapters, FTE and context tokens train, as Diff-SIT fine-tunes Wan.

`init` warm-starts a new run from a refiner weights folder (the shipped one, say): every tensor
whose name and shape match is copied, the rest (a new SkipHead, say) keeps its initialisation.

With held-out clips (`val_clips`), every `val_every` steps the refiner runs over them as the
decoder would and OUT/val_log.csv gets its luma PSNR gain per clip and rate (refiner_val.py).

Checkpoints (OUT/ckpt.pt) hold the trainable state, both optimizers, the step and the RNG
state; `--resume` continues from them.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

from ..torch_env import torch
from tqdm import tqdm

from ..errors import WeightsError
from ..models.refiner import Refiner, RefinerConfig
from ..refine.loading import adapter_config, adapter_state, build_on_base
from .refiner_loss import (LossWeights, PatchDiscriminator3d, fidelity_terms, generator_loss,
                           hinge_d_loss, psnr_gain_loss)


# fidelity only: what a refiner needs to pass the encoder's PSNR gate (refine/gate.py)
FIDELITY = LossWeights(energy=0.0, nlpd=0.0, adv=0.0)
# the gate's measure itself, in dB per window (refiner_loss.psnr_gain_loss), and nothing else
PSNR_GAIN = LossWeights(ssim=0.0, lap=0.0, energy=0.0, nlpd=0.0, temp=0.0, adv=0.0, l1=0.0,
                        gain=1.0)
SEQUENCES_FILE = "sequences.json"  # in the run folder: packed or live round trips
VAL_LOG = "val_log.csv"  # in the run folder: the held-out check (refiner_val.py)


def build(model_dir, lora_rank: int) -> Refiner:
    if model_dir is None:
        return Refiner(RefinerConfig())
    ref = build_on_base(Path(model_dir), adapter_config(lora_rank))
    keep = set(adapter_state(ref))
    for name, p in ref.named_parameters():
        p.requires_grad_(name in keep)
    return ref


def trainable_state(ref: Refiner) -> dict:
    return ref.state_dict() if ref.cfg.vae is not None else adapter_state(ref)


def train_refiner(data: str, out: str, *, steps: int = 3000, resume: bool = False,
                  batch: int = 2, patch: int = 128, lr: float = 2e-4, seed: int = 0,
                  ckpt_every: int = 100, stem_weights=None, model_dir=None,
                  lora_rank: int = 16, adv_start: int = 500, device: str = "cpu",
                  weights: LossWeights | None = None, seq_len: int = 33,
                  pool: int = 24, init: str | None = None,
                  backbones: tuple[str, ...] = ("learned",),
                  deadline: float | None = None, val_clips: list[str] | None = None,
                  val_bpp: tuple[float, ...] = (0.005, 0.02, 0.05),
                  val_every: int = 500, val_dir: str | None = None) -> Path:
    from ..codecs.stem import StemCodec
    from .refiner_data import RefinerSampler, refiner_clips
    from .refiner_pack import POOL_DIR, PackedPool

    w = weights or LossWeights()
    pixel_terms = any((w.l1, w.ssim, w.lap, w.energy, w.nlpd, w.temp))  # else: logged only
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "ckpt.pt"
    torch.manual_seed(seed)
    ref = build(model_dir, lora_rank).to(device).train()
    disc = PatchDiscriminator3d().to(device)
    params = [p for p in ref.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), weight_decay=0.0)
    dopt = torch.optim.AdamW(disc.parameters(), lr=lr, betas=(0.5, 0.99), weight_decay=0.0)
    step = 0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        missing = set(trainable_state(ref)) ^ set(ck["model"])
        if missing:
            raise WeightsError(f"{ckpt_path} does not fit this refiner: {sorted(missing)[0]}")
        ref.load_state_dict(ck["model"], strict=False)
        disc.load_state_dict(ck["disc"])
        opt.load_state_dict(ck["opt"])
        dopt.load_state_dict(ck["dopt"])
        step = ck["step"]
        torch.set_rng_state(ck["torch_rng"])
    elif init is not None:
        warm_start(ref, Path(init))
    codec = StemCodec.load(stem_weights)
    clips = refiner_clips(data, seed)
    packed = PackedPool.open(data, clips, codec, size=patch, window=ref.cfg.window,
                             backbones=backbones, seed=seed + step,
                             ahead=8 if device != "cpu" else 0)
    # where this session's sequences come from, for whoever reads the run folder (gpu_run)
    (out_dir / SEQUENCES_FILE).write_text(json.dumps(
        {"packed": packed is not None, "step": step,
         "pool": str(Path(data) / POOL_DIR) if packed is not None else None}))
    sampler = RefinerSampler(clips, codec, size=patch,
                             seq_len=seq_len, window=ref.cfg.window, pool=pool,
                             seed=seed + step, backbones=backbones, packed=packed)
    held = None
    if val_clips:
        from . import refiner_val

        held = refiner_val.prepare(val_clips, list(val_bpp),
                                   Path(val_dir) if val_dir else out_dir / "val",
                                   ref.cfg.window, stem_weights)
        if step == 0:
            refiner_val.log(out_dir / VAL_LOG, 0, refiner_val.check(ref, held, seed))
    new_log = not (out_dir / "log.csv").exists()
    with open(out_dir / "log.csv", "a", newline="") as log:
        logw = csv.writer(log)
        if new_log:
            logw.writerow(["step", "loss", "l1", "ssim", "lap", "energy", "nlpd", "temp", "adv",
                           "d_loss", "psnr_in", "psnr_out", "sec_per_step"])
        acc: dict[str, float] = {}
        t0 = time.time()
        bar = tqdm(total=steps, initial=step, desc="train refiner", unit="step")
        while step < steps:
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / 200) * (0.1 if step > 0.9 * steps else 1)
            tgt, inter, types, levels = (v.to(device) for v in sampler.batch(batch))
            noise = torch.randn(batch, *ref.latent_shape(*inter.shape[2:])[1:], device=device)
            y = ref(inter, types, noise, levels)
            with torch.enable_grad() if pixel_terms else torch.no_grad():
                terms = fidelity_terms(y, tgt)
            if w.gain:
                terms["gain"] = psnr_gain_loss(y, tgt, inter)
            adversarial = w.adv > 0
            adv = -disc(y).mean() if adversarial and step >= adv_start else None
            loss = generator_loss(terms, adv, w)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            d_loss = torch.zeros(())
            if adversarial and step >= adv_start - 100:  # the discriminator's head start
                d_loss = hinge_d_loss(disc(tgt), disc(y.detach()))
                dopt.zero_grad()
                d_loss.backward()
                dopt.step()
            step += 1
            bar.update(1)
            stats = {k: float(v.detach()) for k, v in terms.items()}
            stats.update(loss=float(loss.detach()),
                         adv=float(adv.detach()) if adv is not None else 0.0,
                         d_loss=float(d_loss.detach()), mse_in=float(((inter - tgt) ** 2).mean()),
                         mse_out=float(((y.detach() - tgt) ** 2).mean()))
            for k, v in stats.items():
                acc[k] = acc.get(k, 0.0) + v
            acc["n"] = acc.get("n", 0) + 1
            if step % 20 == 0:
                n = acc.pop("n")
                m = {k: v / n for k, v in acc.items()}
                p_in, p_out = (10 * math.log10(1 / max(m[k], 1e-10)) for k in ("mse_in", "mse_out"))
                logw.writerow([step] + [f"{m[k]:.5f}" for k in ("loss", "l1", "ssim", "lap",
                               "energy", "nlpd", "temp", "adv", "d_loss")] + [f"{p_in:.2f}", f"{p_out:.2f}",
                              f"{(time.time() - t0) / n:.2f}"])
                log.flush()
                bar.set_postfix(loss=f"{m['loss']:.4f}", gain=f"{p_out - p_in:+.2f}dB")
                acc, t0 = {}, time.time()
            stop = deadline is not None and time.monotonic() >= deadline
            if step % ckpt_every == 0 or step == steps or stop:
                _save(ckpt_path, ref, disc, opt, dopt, step)
            if stop:  # out of time: the checkpoint first, no held-out check
                break
            if held is not None and (step % val_every == 0 or step == steps):
                refiner_val.log(out_dir / VAL_LOG, step, refiner_val.check(ref, held, seed))
        bar.close()
    return ckpt_path


def warm_start(ref: Refiner, weights_dir: Path) -> int:
    """Copy the tensors of a refiner weights folder that fit `ref`; returns how many. What
    reads the level (the level embedder, the SkipHead's FiLM) is not copied from a refiner
    with another level kind or feature spacing (v6: bits per pixel): its inputs would mean
    something else."""
    from ..refine.loading import ARCHITECTURE
    from ..weights import load_fitting, load_state, read_config

    meta = read_config(weights_dir, ARCHITECTURE)
    state, _ = load_state(weights_dir, meta)
    old = RefinerConfig.from_dict(meta["config"])
    if (old.level_kind, old.level_octaves) != (ref.cfg.level_kind, ref.cfg.level_octaves):
        state = {k: v for k, v in state.items()
                 if not k.startswith(("level_embedder.", "skip.film."))}
    return load_fitting(ref, state, str(weights_dir), own=trainable_state(ref))


def _save(path: Path, ref: Refiner, disc, opt, dopt, step: int) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": {k: v.cpu() for k, v in trainable_state(ref).items()},
                "config": ref.cfg.to_dict(), "disc": disc.state_dict(),
                "opt": opt.state_dict(), "dopt": dopt.state_dict(), "step": step,
                "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(path)
