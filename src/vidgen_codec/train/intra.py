"""`vgc train intra`: rate-distortion training of the variable-rate intra codec.

Each sample of a batch draws a trained rate level k and is optimised for
lambda_k * 255^2 * MSE + bpp (Cui et al. 2021 train all gain levels jointly this way).
Checkpoints (model + optimisers + step + sampler seed) are written every `ckpt_every` steps
to OUT/ckpt.pt and `--resume` continues from there. A CSV log of rate and distortion goes
to OUT/log.csv; validation on held-out clips goes to OUT/val.csv.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

from ..torch_env import torch
from tqdm import tqdm

from ..models.intra_model import IntraConfig, IntraModel, rd_loss
from .data import DEFAULT_HOLDOUT, PatchSampler, load_pool


def _lr(step: int, steps: int, base: float) -> float:
    return base if step < int(0.85 * steps) else base * 0.1


def _validate(model: IntraModel, frames: torch.Tensor) -> list[tuple[int, float, float]]:
    """(level, bpp from likelihoods, PSNR) on held-out frames, rounding as at test time."""
    rows = []
    model.eval()
    with torch.no_grad():
        for k in range(model.cfg.levels):
            q = torch.full((frames.shape[0],), float(k), device=frames.device)
            out = model(frames, q)
            bits = sum(torch.log2(lk).sum() for lk in out["likelihoods"]).neg()
            bpp = bits.item() / (frames.shape[0] * frames.shape[2] * frames.shape[3])
            mse = ((out["x_hat"].clamp(0, 1) - frames) ** 2).mean().item()
            rows.append((k, bpp, 10 * math.log10(1 / max(mse, 1e-10))))
    model.train()
    return rows


def _val_frames(data: Path) -> torch.Tensor | None:
    from ..frames import to_tensor
    from ..video_io import read_frames

    for name in DEFAULT_HOLDOUT:
        hits = list(data.rglob(name))
        if hits:
            fr = [f for i, f in enumerate(read_frames(str(hits[0]), count=40)) if i % 20 == 0]
            t = to_tensor(fr)
            h, w = t.shape[2] // 64 * 64, t.shape[3] // 64 * 64
            return t[:, :, :h, :w]
    return None


def train_intra(data: str, out: str, *, steps: int = 30000, resume: bool = False,
                batch: int = 8, patch: int = 128, lr: float = 2e-4, seed: int = 0,
                ckpt_every: int = 500, cfg: IntraConfig | None = None,
                init_weights=None, device: str = "cpu",
                deadline: float | None = None) -> Path:
    """Train (or continue training) and return the checkpoint path. `init_weights`: an
    intra weights folder to start a new run from (its config too); `deadline`: a
    time.monotonic() value at which to stop, with a checkpoint, before `steps`."""
    step = peek_step(Path(out) / "ckpt.pt") if resume else 0
    sampler = PatchSampler(load_pool(data), patch, seed=seed + step)
    init = None
    if init_weights is not None and not resume:
        from ..codecs.intra import IntraCodec
        from ..weights import without_tables

        intra = IntraCodec.load(init_weights)
        cfg, init = intra.cfg, without_tables(intra.model.state_dict())
    return train_rd(out, sampler, _val_frames(Path(data)), steps=steps, resume=resume,
                    batch=batch, lr=lr, seed=seed, ckpt_every=ckpt_every, cfg=cfg, init=init,
                    desc="train intra", device=device, deadline=deadline)


def peek_step(ckpt_path: Path) -> int:
    if not ckpt_path.exists():
        return 0
    return int(torch.load(ckpt_path, map_location="cpu", weights_only=False)["step"])


def train_rd(out: str, sampler, val: torch.Tensor | None, *, steps: int, resume: bool,
             batch: int, lr: float = 2e-4, seed: int = 0, ckpt_every: int = 500,
             cfg: IntraConfig | None = None, init: dict | None = None,
             dist_scale: float = 1.0, desc: str = "train", device: str = "cpu",
             deadline: float | None = None) -> Path:
    """The rate-distortion loop shared by the intra and residual models.

    `sampler.batch(n)` gives (n,3,h,w) images in [0,1]; the loss is
    dist_scale * lambda_k * 255^2 * MSE + bpp. `init` is a state dict to start from (when not
    resuming). `deadline` (time.monotonic()): stop there, with a checkpoint. Returns the
    checkpoint path.
    """
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "ckpt.pt"
    torch.manual_seed(seed)
    cfg = cfg or IntraConfig()
    model = IntraModel(cfg)
    if init is not None:
        model.load_state_dict(init, strict=False)
    named = dict(model.named_parameters())
    gain_params = [named["log_gain"], named["log_inv_gain"]]
    aux_params = [p for n, p in named.items() if n.endswith(".quantiles")]
    main_params = [p for n, p in named.items()
                   if not n.endswith(".quantiles") and n not in ("log_gain", "log_inv_gain")]
    # gains get a 10x learning rate: they must move by O(1) in log space, weights by O(lr)
    opt = torch.optim.Adam([{"params": main_params, "lr_scale": 1.0},
                            {"params": gain_params, "lr_scale": 10.0}], lr=lr)
    aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
    step = 0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        cfg = IntraConfig(**ck["config"])
        model.load_state_dict(ck["model"], strict=False)
        opt.load_state_dict(ck["opt"])
        aux_opt.load_state_dict(ck["aux_opt"])
        step = ck["step"]
        torch.set_rng_state(ck["torch_rng"])
    model.to(device)
    _optimizer_to(opt, device)
    _optimizer_to(aux_opt, device)
    lambdas = torch.tensor(cfg.lambdas, device=device) * dist_scale
    new_log = not (out_dir / "log.csv").exists()
    log = open(out_dir / "log.csv", "a", newline="")
    logw = csv.writer(log)
    if new_log:
        logw.writerow(["step", "loss", "bpp", "psnr", "aux", "sec_per_step"])
    acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "aux": 0.0, "n": 0}
    t0 = time.time()
    bar = tqdm(total=steps, initial=step, desc=desc, unit="step")
    while step < steps:
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, lr) * g["lr_scale"]
        x = sampler.batch(batch).to(device)
        k = torch.randint(0, cfg.levels, (batch,)).to(device)
        res = model(x, k.float())
        loss, stats = rd_loss(res, x, lambdas[k])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params + gain_params, 1.0)
        opt.step()
        aux = model.aux_loss()
        aux_opt.zero_grad()
        aux.backward()
        aux_opt.step()
        step += 1
        bar.update(1)
        acc["loss"] += loss.item(); acc["bpp"] += stats["bpp"]; acc["mse"] += stats["mse"]
        acc["aux"] += aux.item(); acc["n"] += 1
        if step % 100 == 0:
            n = acc["n"]
            psnr = 10 * math.log10(1 / max(acc["mse"] / n, 1e-10))
            logw.writerow([step, acc["loss"] / n, acc["bpp"] / n, psnr, acc["aux"] / n,
                           (time.time() - t0) / n])
            log.flush()
            bar.set_postfix(loss=f"{acc['loss'] / n:.3f}", bpp=f"{acc['bpp'] / n:.3f}",
                            psnr=f"{psnr:.2f}")
            acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "aux": 0.0, "n": 0}
            t0 = time.time()
        stop = deadline is not None and time.monotonic() >= deadline
        if step % ckpt_every == 0 or step == steps or stop:
            _save(ckpt_path, model, opt, aux_opt, step, cfg)
            if val is not None:
                with open(out_dir / "val.csv", "a", newline="") as f:
                    w = csv.writer(f)
                    for level, bpp, psnr in _validate(model, val.to(device)):
                        w.writerow([step, level, f"{bpp:.4f}", f"{psnr:.2f}"])
        if stop:
            break
    bar.close()
    log.close()
    return ckpt_path


def _optimizer_to(opt, device) -> None:
    """Move an optimizer's state (Adam's moments, after a resume) to `device`."""
    for state in opt.state.values():
        for k, v in state.items():
            if torch.is_tensor(v) and k != "step":
                state[k] = v.to(device)


def _save(path: Path, model, opt, aux_opt, step: int, cfg: IntraConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()},
                "opt": opt.state_dict(),
                "aux_opt": aux_opt.state_dict(), "step": step, "config": cfg.to_dict(),
                "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(path)
