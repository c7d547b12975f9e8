"""`vgc train s2vc`: the tiny S²VC model, in two stages, resumable from `OUT/ckpt.pt`.

A sample is a run of T frames (crops of the training videos and photo pans). Frame 0 is coded
by the shipped intra model at a random rate level (no gradient: it is the I-frame coder), and
its decode fills the feature buffer; frames 1..T-1 are P-frames coded by the conditional
coder, each conditioned on the previous one's decoded feature and latent (DCVC's cascaded
training: the gradient runs through the buffer across the frames).

    stage 1 (steps < coder_steps): the conditional coder,
        L = mean_t [ lambda_k 255^2 MSE(x_rec_t, x_t) + bpp_t ]       (rate-distortion)
    stage 2: the generator on the frozen coder's outputs (I and P frames, diffusion buffer
        carried across the run), the refiner's one-step objective without a teacher
        (`refiner_loss`): L1 + SSIM + Laplacian-pyramid L1 + detail energy + NLPD +
        temporal + hinge adversarial (3D PatchGAN) after `adv_start` generator steps.

Why this objective: the paper distils nothing either (one step from a LoRA-tuned SD U-Net with
rate + fidelity + perceptual terms); with no pretrained perceptual network here (LPIPS and DISTS
need ImageNet backbones that cannot be fetched), the band/contrast terms stand in for them, and
a separate rate-distortion stage first gives the generator a coder whose rate is already set
(the generator cannot change the bytes).
Logged per 50 steps in log.csv: stage, loss, each term, bpp, PSNR of x_rec.
"""

from __future__ import annotations

import csv
import math
import random
import time
from pathlib import Path

import numpy as np
from ..torch_env import torch
from tqdm import tqdm

from ..errors import TrainingDataError
from ..models.intra_model import IntraModel
from ..models.s2vc_model import S2vcConfig, S2vcModel
from .data import DEFAULT_HOLDOUT
from .refiner_loss import LossWeights, PatchDiscriminator3d, fidelity_terms, generator_loss, hinge_d_loss


class RunSampler:
    """Random runs of `frames` frames, `size` x `size` crops, every `stride`-th frame."""

    def __init__(self, clips: list[np.ndarray], size: int, frames: int, seed: int):
        self.clips = [c for c in clips if min(c.shape[1:3]) >= size and len(c) > 2 * frames]
        if not self.clips:
            raise TrainingDataError(f"no training clip of {2 * frames}+ frames of {size}+ px")
        self.size, self.frames, self.rng = size, frames, random.Random(seed)

    def batch(self, n: int) -> torch.Tensor:
        """(n, T, 3, size, size) in [0,1]."""
        r, s, out = self.rng, self.size, []
        for _ in range(n):
            c = self.clips[r.randrange(len(self.clips))]
            stride = r.choice([1, 1, 2])
            i = r.randrange(len(c) - stride * (self.frames - 1))
            y0, x0 = r.randrange(c.shape[1] - s + 1), r.randrange(c.shape[2] - s + 1)
            run = c[i:i + stride * self.frames:stride, y0:y0 + s, x0:x0 + s]
            out.append(torch.from_numpy(np.ascontiguousarray(run)).permute(0, 3, 1, 2))
        return torch.stack(out).float() / 255


def load_runs(data: str, *, holdout=DEFAULT_HOLDOUT) -> list[np.ndarray]:
    from .photo_pans import photo_pans
    from .residual import load_clips

    clips = load_clips(data, holdout=holdout, max_frames=300)
    try:
        clips += photo_pans(data, frames=24, size=192, holdout=holdout)
    except FileNotFoundError:
        pass
    return clips


def code_run(model: S2vcModel, intra: IntraModel, x: torch.Tensor, q: torch.Tensor) -> dict:
    """The coder over a run x (B,T,3,H,W): I-frame by the intra model, then P-frames."""
    B, T = x.shape[:2]
    with torch.no_grad():
        x_i = intra(x[:, 0], q.clamp(0, intra.cfg.levels - 1))["x_hat"].clamp(0, 1)
    coder = model.coder
    buffer = coder.embed(x_i)
    h, w = x.shape[-2] // 16, x.shape[-1] // 16
    y_prev = torch.zeros(B, coder.M, h, w, device=x.device)
    recs, feats, bpp, mse = [x_i], [buffer], [], []
    for t in range(1, T):
        out = coder(x[:, t], buffer, recs[-1], y_prev, q)
        bits = sum(torch.log(lk).sum(dim=(1, 2, 3)) for lk in out["likelihoods"]) / -math.log(2)
        bpp.append(bits / (x.shape[-2] * x.shape[-1]))
        mse.append(((out["x_rec"] - x[:, t]) ** 2).mean(dim=(1, 2, 3)))
        buffer, y_prev = out["feature"], out["y_hat"]
        recs.append(out["x_rec"])
        feats.append(buffer)
    return {"bpp": torch.stack(bpp, 1), "mse": torch.stack(mse, 1), "recs": recs, "feats": feats}


def train_s2vc(data: str, out: str, *, intra_dir: str, coder_steps: int = 3000,
               generator_steps: int = 1500, resume: bool = False, batch: int = 4,
               size: int = 128, frames: int = 4, lr: float = 2e-4, seed: int = 0,
               adv_start: int = 500, device: str = "cpu", ckpt_every: int = 200,
               deadline: float | None = None, cfg: S2vcConfig | None = None,
               init: str | None = None, changes: dict | None = None,
               weights: LossWeights | None = None) -> Path:
    """`cfg`: a new run's model; `init`: warm-start a new run from an s2vc weights folder
    instead (its config with the fields in `changes`, e.g. a skip head, and the tensors that
    fit); `weights`: the generator's loss weights (default LossWeights(); adv 0: no
    discriminator)."""
    from ..weights import load_fitting, load_model, load_state, read_config

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "ckpt.pt"
    torch.manual_seed(seed)
    intra = load_model(intra_dir, "IntraModel").model.eval().to(device)
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False) \
        if resume and ckpt_path.exists() else None
    start = None
    if ck is None and init is not None:  # the folder's config with `changes`, its tensors
        meta = read_config(Path(init), "S2vcModel")
        start = S2vcConfig(**{**meta["config"], **(changes or {})}), load_state(Path(init), meta)[0]
    cfg = S2vcConfig(**ck["config"]) if ck else start[0] if start else (cfg or S2vcConfig())
    on_base = cfg.unet is None  # a full-size model: LoRA on a pretrained U-Net, frozen VAE
    model = S2vcModel(cfg, Path(cfg.base_dir) if on_base else None)
    if start:
        load_fitting(model, start[1], init)  # new tensors (a skip head) keep their init
    if on_base:
        for name, p in model.generator.named_parameters():
            p.requires_grad = not name.startswith(("unet.", "vae.")) or "lora_" in name \
                or name.startswith("unet.conv_in.")
    disc = PatchDiscriminator3d(16)
    coder_params = [p for n, p in model.coder.named_parameters() if not n.endswith("quantiles")]
    aux_params = [p for n, p in model.coder.named_parameters() if n.endswith("quantiles")]
    opt_c = torch.optim.Adam(coder_params, lr=lr)
    opt_aux = torch.optim.Adam(aux_params, lr=1e-3)
    gen_params = [p for p in model.generator.parameters() if p.requires_grad]
    opt_g = torch.optim.Adam(gen_params, lr=lr, betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.99))
    step = 0
    if ck:
        model.load_state_dict(ck["model"], strict=not on_base)
        disc.load_state_dict(ck["disc"])
        for o, k in ((opt_c, "opt_c"), (opt_aux, "opt_aux"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            o.load_state_dict(ck[k])
        step = ck["step"]
        torch.set_rng_state(ck["torch_rng"])
    model.to(device).train()
    disc.to(device)
    sampler = RunSampler(load_runs(data), size, frames, seed + step)
    lambdas = torch.tensor(cfg.lambdas, device=device)
    weights = weights or LossWeights()
    adversarial = weights.adv > 0
    new_log = not (out_dir / "log.csv").exists()
    log = open(out_dir / "log.csv", "a", newline="")
    logw = csv.writer(log)
    header = ["step", "stage", "loss", "bpp", "psnr_rec", "l1", "ssim", "lap", "energy", "nlpd",
              "temp", "adv", "d", "sec_per_step", "gen_gain_db"]
    if new_log:
        logw.writerow(header)
    else:  # a log begun before the generator's gain was logged keeps its columns
        with open(out_dir / "log.csv") as f:
            header = next(csv.reader(f), header)
    total = coder_steps + generator_steps
    acc: dict[str, float] = {}
    t0 = time.time()
    bar = tqdm(total=total, initial=step, desc="train s2vc", unit="step")
    while step < total:
        x = sampler.batch(batch).to(device)
        k = torch.randint(0, cfg.levels, (batch,), device=device)
        stage = "coder" if step < coder_steps else "generator"
        stats: dict[str, float] = {}
        if stage == "coder":
            frac = step / max(coder_steps, 1)
            for g in opt_c.param_groups:
                g["lr"] = lr * (0.1 if frac > 0.85 else 1.0)
            res = code_run(model, intra, x, k.float())
            loss = (lambdas[k][:, None] * 255 ** 2 * res["mse"] + res["bpp"]).mean()
            opt_c.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(coder_params, 1.0)
            opt_c.step()
            aux = model.coder.aux_loss()
            opt_aux.zero_grad()
            aux.backward()
            opt_aux.step()
            stats = {"loss": loss.item(), "bpp": res["bpp"].mean().item(),
                     "mse": res["mse"].mean().item()}
        else:
            gstep = step - coder_steps
            with torch.no_grad():
                res = code_run(model, intra, x, k.float())
            buf, ys = None, []
            for t, (f, base) in enumerate(zip(res["feats"], res["recs"])):
                y, buf = model.generator(f, base, 0 if t == 0 else 1, buf)
                ys.append(y)
            y = torch.stack(ys, 2)  # (B,3,T,H,W)
            xs = x.transpose(1, 2)
            terms = fidelity_terms(y, xs)
            adv = None
            if adversarial and gstep >= adv_start:
                adv = -disc(y).mean()
            loss = generator_loss(terms, adv, weights)
            opt_g.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(gen_params, 1.0)
            opt_g.step()
            if adversarial and gstep >= adv_start - 100:  # the discriminator's head start
                d = hinge_d_loss(disc(xs), disc(y.detach()))
                opt_d.zero_grad()
                d.backward()
                opt_d.step()
                stats["d"] = d.item()
            with torch.no_grad():  # generator against the coder's frames, same frames
                base = torch.stack(res["recs"], 2).clamp(0, 1)
                stats["gain_db"] = 10 * math.log10(
                    ((base - xs) ** 2).mean().item() / max(((y.clamp(0, 1) - xs) ** 2).mean().item(), 1e-12))
            stats.update({"loss": loss.item(), "bpp": res["bpp"].mean().item(),
                          "mse": res["mse"].mean().item(),
                          **{n: v.item() for n, v in terms.items()}})
            if adv is not None:
                stats["adv"] = adv.item()
        step += 1
        bar.update(1)
        for n, v in stats.items():
            acc[n] = acc.get(n, 0.0) + v
        acc["n"] = acc.get("n", 0) + 1
        if step % 50 == 0 or step == total:
            n = acc.pop("n")
            m = {k_: v / n for k_, v in acc.items()}
            psnr = 10 * math.log10(1 / max(m.get("mse", 1.0), 1e-10))
            logw.writerow([step, stage, f"{m['loss']:.5f}", f"{m['bpp']:.4f}", f"{psnr:.2f}"]
                          + [f"{m[c]:.5f}" if c in m else "" for c in
                             ("l1", "ssim", "lap", "energy", "nlpd", "temp", "adv", "d")]
                          + [f"{(time.time() - t0) / n:.3f}"]
                          + ([f"{m['gain_db']:+.3f}" if "gain_db" in m else ""]
                             if "gen_gain_db" in header else []))
            log.flush()
            bar.set_postfix(stage=stage, loss=f"{m['loss']:.3f}", bpp=f"{m['bpp']:.3f}",
                            psnr=f"{psnr:.2f}")
            acc, t0 = {}, time.time()
        stop = deadline is not None and time.monotonic() >= deadline
        if step % ckpt_every == 0 or step == total or stop or step == coder_steps:
            _save(ckpt_path, model, disc, (opt_c, opt_aux, opt_g, opt_d), step, cfg)
        if stop:
            break
    bar.close()
    log.close()
    return ckpt_path


def _save(path: Path, model, disc, opts, step: int, cfg: S2vcConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": {k: v.cpu() for k, v in model.adapter_state().items()},
                "disc": disc.state_dict(),
                **{k: o.state_dict() for k, o in zip(("opt_c", "opt_aux", "opt_g", "opt_d"), opts)},
                "step": step, "config": cfg.to_dict(), "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(path)

