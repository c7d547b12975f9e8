"""`vgc` command line. Parses arguments and calls `api`; nothing else lives here."""

from __future__ import annotations

import json
import os
import signal
import sys

import click

from . import __version__
from .cli_options import (raw_input_options, raw_spec, refiner_options, run_options, setup_run,
                          train_options, worker_options)
from .deferred_signals import Terminated, on_signal
from .errors import InputError, VgcError
from .preflight import DEFAULT_BPP
from .video_writer import MP4_SETTINGS_HELP, SUPPORTED_OUTPUTS

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def overwrite_options(f):
    """ffmpeg's -y / -n for an output that exists (neither: ask on a terminal, else refuse)."""
    f = click.option("-n", "--no-overwrite", "no_overwrite", is_flag=True,
                     help="Never overwrite an existing output (exit 1).")(f)
    return click.option("-y", "--overwrite", is_flag=True,
                        help="Overwrite an existing output without asking.")(f)


def _overwrite(yes: bool, no: bool) -> bool | None:
    if yes and no:
        raise InputError("-y and -n exclude each other")
    return True if yes else False if no else None


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="vgc")
def main():
    """vgc: a learned video codec for ultra-low bitrates.

    \b
    Examples:
      vgc encode clip.mp4 clip.vgc --bpp 0.02
      vgc decode clip.vgc clip.mkv
      vgc info clip.vgc --frames
      vgc codecs
      vgc encode long.mp4 long.vgc --bpp 0.02 --workers 4   # spans on a local Ray
      vgc batch encode clips/ -o out/ --bpp 0.02 --workers 4
    """


@main.command(context_settings=CONTEXT)
@click.argument("input_path", metavar="INPUT")
@click.argument("output_path", metavar="OUTPUT.vgc")
@click.option("--codec", default="stem", show_default=True, help="Codec name (see `vgc codecs`).")
@click.option("--bpp", type=float, default=None,
              help=f"Target bits per pixel of the whole file (default {DEFAULT_BPP} unless "
                   "--rate).")
@click.option("--rate", "q", type=float, default=None,
              help="Fixed rate parameter instead of a bpp target (intra: -1.5 .. 7; trained levels 0 .. 5).")
@click.option("--start", type=int, default=0, show_default=True, help="First frame to code.")
@click.option("--frames", type=int, default=None, help="Number of frames to code (default: all).")
@raw_input_options
@click.option("--speed", default=None,
              help="stem av1: encoder effort, ultrafast veryfast faster fast medium slow "
                   "slower veryslow (or 0 .. 7), as x265's presets: the SVT-AV1 preset, the "
                   "structure search, the refinement gate (default medium).")
@click.option("--keyint", type=int, default=None,
              help="stem av1: longest GOP in frames, a key frame at least this often (and "
                   "at scene cuts); default 129, about 5 s at 25 fps; at most 255.")
@click.option("--gop", type=int, default=None,
              help="stem learned backbone: GOP length in frames (default: chosen from the "
                   "rate; below backbone interval + 1, every frame is an I-frame); stem av1: "
                   "as --keyint; s2vc: the reset period, an I-frame every GOP frames "
                   "(default: the model's, 32).")
@click.option("--backbone-interval", type=int, default=None,
              help="stem: frames from one backbone to the next (default: chosen from the rate).")
@click.option("--backbone", type=click.Choice(["av1", "learned"]), default=None,
              help="stem: backbone coder, SVT-AV1 (default) or the learned intra + residual "
                   "models; s2vc: the I-frame coder, the learned intra (default) or SVT-AV1.")
@click.option("--backbone-scale", type=click.Choice(["1", "2", "4"]), default=None,
              help="stem av1: code backbones at full (1) or half (2) resolution per side "
                   "(default: measured per GOP).")
@click.option("--preset", type=int, default=None,
              help="stem av1: SVT-AV1 preset of the backbone, 0 (slowest, best) .. 13 "
                   "(default: the --speed's, 8 at medium).")
@click.option("--fast", is_flag=True,
              help="stem av1: skip the structure search and the refinement gate (every frame "
                   "an AV1 frame unless --backbone-interval; no refinement). s2vc: skip the "
                   "search of the I-frame's share of each GOP (encodes about 2x faster, "
                   "frame by frame).")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "auto"]))
@click.option("--weights", default=None, help="Weights folder (default: the shipped weights).")
@refiner_options
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the refiner's noise, stored in the file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@overwrite_options
@worker_options
@run_options
def encode(input_path, output_path, codec, bpp, q, start, frames, size, fps, pix_fmt, speed,
           keyint, gop, backbone_interval, backbone, backbone_scale, preset, fast, device, weights,
           no_refine, refiner, model_dir, seed, quiet, overwrite, no_overwrite, workers,
           ray_address, threads, as_json, verbose):
    """Encode a video into a .vgc file.

    INPUT is anything ffmpeg decodes (mp4, mkv, avi, mov, webm, y4m) or a raw .yuv with
    --size and --fps; `-` reads it from standard input, and OUTPUT `-` writes the .vgc to
    standard output (both spooled through a temporary file). The output is written
    atomically: on any error no file is left.
    stem files name the diffusion refiner their decoder runs (and its seed); --no-refine
    leaves it out.

    \b
    Examples:
      vgc encode clip.mp4 clip.vgc --bpp 0.02
      vgc encode clip.mp4 clip.vgc --bpp 0.05 --start 100 --frames 50
      vgc encode clip.mp4 clip.vgc --bpp 0.02 --backbone learned --gop 49 \
          --backbone-interval 12
      vgc encode clip.mp4 clip.vgc --bpp 0.005 --backbone-scale 2
      vgc encode clip.mp4 clip.vgc --bpp 0.02 --speed ultrafast   # SVT-AV1 preset 12
      vgc encode clip.mp4 clip.vgc --bpp 0.02 --speed slower      # preset 4, gated refiner
      vgc encode clip.mp4 clip.vgc --bpp 0.02 --keyint 250        # fewer key frames
      vgc encode clip.mp4 clip.vgc --bpp 0.02 --fast       # no structure search, no refiner
      vgc encode clip.mp4 clip.vgc --bpp 0.02 --preset 4   # slower SVT-AV1 backbone, better
      vgc encode clip.mp4 clip.vgc --bpp 0.02 --backbone learned
      vgc encode clip.mp4 clip.vgc --codec intra --bpp 0.3   # every frame an I-frame
      vgc encode clip.mp4 clip.vgc --codec s2vc --bpp 0.02   # S2VC conditional coding
      vgc encode clip.mp4 clip.vgc --codec s2vc --bpp 0.02 --backbone av1  # AV1 I-frames
      vgc encode raw.yuv raw.vgc --size 640x480 --fps 30 --bpp 0.2
      vgc encode clip.mp4 clip.vgc --rate 2.5          # fixed rate, no rate control
                                                       # (av1 backbone: the CRF, 1 .. 70)
      vgc encode clip.mp4 clip.vgc --model-dir Wan2.1-T2V-1.3B-Diffusers --refiner adapter/
      vgc encode clip.mp4 clip.vgc -y                  # overwrite clip.vgc if it exists
      vgc encode clip.mp4 clip.vgc --json -v           # JSON summary, log the choices
      vgc encode long.mp4 long.vgc --bpp 0.02 --workers 8   # spans on 8 Ray workers
      vgc encode /shared/long.mp4 /shared/long.vgc --workers 64 --ray-address head:6379
      ffmpeg -i in.mov -f yuv4mpegpipe - | vgc encode - clip.vgc --bpp 0.02
      cat raw.yuv | vgc encode - - --size 640x480 --fps 30 > clip.vgc
    """
    from .preflight import check_encode_args, check_vgc_output, may_overwrite
    from .registry import get_codec

    from .pipes import STDIO, input_path as stdin_or, output_path as stdout_or

    check_encode_args(bpp, q, start, frames)  # refused before torch is imported
    get_codec(codec)
    if STDIO in (input_path, output_path) and ray_address:
        raise InputError("- (a pipe) cannot be read or written by a Ray cluster's workers: "
                         "give a path on shared storage")
    if input_path != STDIO and not os.path.exists(input_path):
        raise InputError(f"{input_path}: no such file")
    if output_path != STDIO:
        check_vgc_output(output_path)
        may_overwrite(output_path, _overwrite(overwrite, no_overwrite))
    setup_run(threads, verbose)
    from . import api

    with stdin_or(input_path, ".yuv" if size else "") as src, \
            stdout_or(output_path, ".vgc") as dst:
        rep = api.encode(src, dst, codec=codec, bpp=bpp, q=q, start=start,
                         frames=frames, raw=raw_spec(size, fps, pix_fmt), device=device,
                         weights=weights, gop=gop, backbone_interval=backbone_interval,
                         backbone=backbone, fast=fast, preset=preset, speed=speed,
                         keyint=keyint,
                         backbone_scale=int(backbone_scale) if backbone_scale else None,
                         refine=not no_refine, refiner=refiner, model_dir=model_dir, seed=seed,
                         progress=not quiet, workers=workers, ray_address=ray_address)
    if as_json:
        click.echo(json.dumps({"output": output_path, "frames": rep.frames, "width": rep.width,
                               "height": rep.height, "bytes": rep.bytes, "bpp": rep.bpp,
                               "target_bpp": bpp, "warnings": list(rep.warnings)}),
                   err=output_path == STDIO)
    else:
        click.echo(f"{output_path if output_path != STDIO else '(stdout)'}: {rep.frames} frames "
                   f"{rep.width}x{rep.height}, {rep.bytes} bytes, {rep.bpp:.5f} bpp"
                   + (f" (target {bpp:g})" if bpp else ""), err=output_path == STDIO)
    for note in rep.warnings:
        click.echo(f"vgc: warning: {note}", err=True)


@main.command(context_settings=CONTEXT, epilog="Output formats: " + SUPPORTED_OUTPUTS + ". " + MP4_SETTINGS_HELP + ".")
@click.argument("input_path", metavar="INPUT.vgc")
@click.argument("output_path", metavar="OUTPUT")
@click.option("--start", type=int, default=0, show_default=True,
              help="First frame to output; decoding starts at the GOP that holds it.")
@click.option("--frames", type=int, default=None, help="Number of frames (default: to the end).")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "auto"]))
@click.option("--weights", default=None, help="Weights folder (default: the shipped weights).")
@refiner_options
@click.option("--no-generate", is_flag=True,
              help="s2vc files: the conditional coder's own frames, without the diffusion "
                   "generator.")
@click.option("--pix-fmt", type=click.Choice(["yuv420p", "yuv444p"]), default=None,
              help=".y4m and .yuv outputs: chroma sampling (default: yuv444p for .y4m, "
                   "yuv420p for .yuv).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@overwrite_options
@worker_options
@run_options
def decode(input_path, output_path, start, frames, device, weights, no_refine, refiner,
           model_dir, no_generate, pix_fmt, quiet, overwrite, no_overwrite, workers, ray_address, threads,
           as_json, verbose):
    """Decode a .vgc file into a video; the output format follows OUTPUT's extension.

    A stem file is refined by one diffusion step (the refiner it names) unless --no-refine;
    an s2vc file is decoded by its one-step diffusion generator unless --no-generate. INPUT `-` reads the .vgc from standard input; OUTPUT `-` writes YUV4MPEG2 (y4m) to
    standard output, once decoding has succeeded.

    \b
    Examples:
      vgc decode clip.vgc clip.mkv              # lossless FFV1
      vgc decode clip.vgc clip.mp4              # near-lossless H.264
      vgc decode clip.vgc frames/               # PNG per frame
      vgc decode clip.vgc part.y4m --start 100 --frames 25
      vgc decode clip.vgc warped.mkv --no-refine  # STEM's intermediate frames
      vgc decode s2vc.vgc plain.mkv --no-generate # S2VC's coder output, no generator
      vgc decode clip.vgc clip.mkv --device cuda --model-dir Wan2.1-T2V-1.3B-Diffusers --refiner adapter/
      vgc decode clip.vgc clip.mkv -y           # overwrite clip.mkv if it exists
      vgc decode clip.vgc - | ffplay -          # y4m to a pipe
      vgc decode clip.vgc clip.yuv              # raw yuv420p (--pix-fmt yuv444p)
      vgc decode clip.vgc clip.y4m --pix-fmt yuv420p --json --threads 2
      vgc decode long.vgc long.mkv --workers 8  # GOP ranges on 8 Ray workers, same frames
      cat clip.vgc | vgc decode - - > clip.y4m
    """
    from .preflight import may_overwrite, require_file
    from .video_writer import check_output_path

    from .pipes import STDIO, input_path as stdin_or, output_path as stdout_or

    if frames is not None and frames <= 0:
        raise InputError("--frames must be > 0")
    if input_path == STDIO and ray_address:
        raise InputError("- (a pipe) cannot be read by a Ray cluster's workers: give a path "
                         "on shared storage")
    if input_path != STDIO:
        require_file(input_path, ".vgc")
    if output_path != STDIO:
        check_output_path(output_path)
        may_overwrite(output_path.rstrip("/" + os.sep) or output_path,
                      _overwrite(overwrite, no_overwrite))
    setup_run(threads, verbose)
    from . import api

    with stdin_or(input_path, ".vgc") as src, \
            stdout_or(output_path, ".y4m") as dst:
        n = api.decode(src, dst, start=start, frames=frames, device=device, weights=weights,
                       refine=not no_refine, refiner=refiner, model_dir=model_dir,
                       progress=not quiet, pix_fmt=pix_fmt, workers=workers,
                       ray_address=ray_address, generate=not no_generate)
    if as_json:
        click.echo(json.dumps({"output": output_path, "frames": n, "start": start}),
                   err=output_path == STDIO)
    else:
        click.echo(f"{output_path if output_path != STDIO else '(stdout)'}: {n} frames",
                   err=output_path == STDIO)


@main.command(context_settings=CONTEXT)
@click.argument("input_path", metavar="INPUT.vgc")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
@click.option("--frames", "per_frame", is_flag=True, help="Add a per-frame table.")
@click.option("--weights", default=None,
              help="Weights folder the file must name, as decode checks (default: shipped).")
def info(input_path, as_json, per_frame, weights):
    """Describe a .vgc file: codec, model, size, rate, bytes per chunk and frame type, and
    for the av1 backbone the AV1 quantiser (base_q_idx, read from the frame headers).

    It refuses (exit 1) what decode would refuse before decoding pixels: a corrupt or
    truncated file, an unknown codec, a broken index, a frame count the chunks do not hold,
    weights other than --weights (or the shipped ones).

    \b
    Examples:
      vgc info clip.vgc
      vgc info clip.vgc --frames
      vgc info clip.vgc --json | python -m json.tool
      vgc info clip.vgc --weights runs/my-stem-weights
    """
    from .info import check_weights_id, describe, format_text

    d = describe(input_path)
    check_weights_id(input_path, weights)
    if as_json:
        if not per_frame:
            d.pop("per_frame")
        click.echo(json.dumps(d, indent=2))
    else:
        click.echo(format_text(d, per_frame=per_frame))


@main.command(context_settings=CONTEXT)
def codecs():
    """List the codecs: name, stable id, description, weights and devices.

    \b
    Example:
      vgc codecs
    """
    from .registry import RESERVED, list_codecs
    from .weights import repo_weights_dir

    click.echo(f"{'name':<8}{'id':>4}  {'weights':<28}{'devices':<11}description")
    for s in list_codecs():
        wdir = repo_weights_dir() / s.weights
        shipped = "weights/" + s.weights + ("" if (wdir / "config.json").exists() else " (missing)")
        click.echo(f"{s.name:<8}{int(s.codec_id):>4}  {shipped:<28}{','.join(s.devices):<11}"
                   f"{s.description}")
    for cid, desc in RESERVED.items():
        click.echo(f"{cid.name.lower():<8}{int(cid):>4}  {'-':<28}{'-':<11}{desc}")


@main.group(context_settings=CONTEXT)
def train():
    """Train the models that vgc ships (reads data from a folder you give).

    \b
    Example:
      vgc train intra --data ../shared/data --out runs/intra --steps 16000 --resume
      vgc train intra --out runs/intra --export weights/intra
    """


def _deadline(max_minutes):
    import time

    return None if max_minutes is None else time.monotonic() + 60 * max_minutes


def device_option(f):
    return click.option("--device", default="auto", show_default=True,
                        type=click.Choice(["cpu", "cuda", "auto"]))(f)


@train.command("intra", context_settings=CONTEXT)
@train_options(steps=16000, batch=8)
@click.option("--init", "init_dir", default=None,
              help="Start a new run from an intra weights folder (e.g. weights/intra).")
@device_option
def train_intra_cmd(data, out, steps, resume, batch, patch, export_dir, max_minutes, init_dir,
                    device):
    """Train the intra codec (rate-distortion, all gain levels jointly); resumes from checkpoints.

    \b
    Examples:
      vgc train intra --data ../shared/data --out runs/intra --steps 16000 --resume
      vgc train intra --out runs/intra --export weights/intra
    """
    def run_training():
        from .api import resolve_device
        from .train.intra import train_intra

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
@device_option
def train_residual_cmd(data, out, steps, resume, batch, patch, export_dir, max_minutes,
                       intra_weights, init_dir, device):
    """Train STEM's P-frame residual model (fine-tuned from the intra model); resumes.

    \b
    Examples:
      vgc train residual --data ../shared/data --out runs/residual --steps 4000 --resume
      vgc train residual --out runs/residual --export weights/stem
    """
    def run_training():
        from .train.residual import train_residual

        from .api import resolve_device

        return train_residual(data, out, init_weights=intra_weights, steps=steps,
                              resume=resume, batch=batch, patch=patch, init_stem=init_dir,
                              device=resolve_device(device), deadline=_deadline(max_minutes))

    _train_or_export(data, out, export_dir, "export_residual", run_training)


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
@device_option
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
        from .api import resolve_device
        from .train.refiner import FIDELITY, PSNR_GAIN, train_refiner

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
@device_option
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

        from .api import resolve_device
        from .models.s2vc_model import S2vcConfig
        from .train.refiner import FIDELITY
        from .train.s2vc import train_s2vc
        from .weights import repo_weights_dir

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
    from .models.refiner import RefinerConfig
    from .train.pack import make_pack

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
        from .train import export

        digest = getattr(export, exporter)(Path(out) / "ckpt.pt", Path(export_dir))
        click.echo(f"{export_dir}: exported, sha256 {digest.hex()}")
        return
    if not data:
        raise InputError("--data is required for training")
    click.echo(f"checkpoint: {run_training()}")

from .cli_eval import eval_cmd  # noqa: E402  (vgc eval lives in its own file)
main.add_command(eval_cmd)


@main.group(context_settings=CONTEXT)
def batch():
    """Encode or decode many files: one task per file, resumable.

    \b
    Examples:
      vgc batch encode clips/ -o out/ --bpp 0.02 --workers 4
      vgc batch encode @list.txt -o out/ --bpp 0.05 --json   # one path per line
      vgc batch decode out/ -o decoded/ --format mkv --workers 4
    """


def batch_options(f):
    f = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")(f)
    f = click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
                     help="Times a failed file is tried again (a vgc input error, such as a "
                          "corrupt file, is reported at once).")(f)
    f = worker_options(f)
    f = click.option("-o", "--out", "out_dir", required=True, metavar="DIR",
                     help="Output folder; it holds the outputs and the manifest "
                          "vgc-batch.json (a rerun skips the files it lists as done and "
                          "whose outputs are unchanged).")(f)
    return click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")(f)


@batch.command("encode", context_settings=CONTEXT)
@batch_options
@click.option("--codec", default="stem", show_default=True, help="Codec name (see `vgc codecs`).")
@click.option("--bpp", type=float, default=None,
              help=f"Target bits per pixel (default {DEFAULT_BPP} unless --rate).")
@click.option("--rate", "q", type=float, default=None, help="Fixed rate parameter instead.")
@click.option("--backbone", type=click.Choice(["av1", "learned"]), default=None)
@click.option("--preset", type=int, default=None, help="SVT-AV1 preset of the av1 backbone.")
@click.option("--fast", is_flag=True, help="No structure search, no refiner (stem); no "
              "I-frame share search (s2vc).")
@click.option("--no-refine", is_flag=True, help="Files without a REFINE chunk.")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "auto"]))
@click.option("--weights", default=None, help="Weights folder (default: the shipped weights).")
def batch_encode(inputs, out_dir, workers, ray_address, retries, as_json, quiet, codec, bpp, q,
                 backbone, preset, fast, no_refine, device, weights):
    """Encode each INPUT (a video, a folder of videos, or @list.txt) to DIR/<name>.vgc.

    Each file is one task (Ray when --workers > 1); outputs are written atomically. Exit
    status 1 when any file failed; the summary names each with its reason.

    \b
    Examples:
      vgc batch encode clips/ -o out/ --bpp 0.02 --workers 4
      vgc batch encode a.mp4 b.mkv -o out/ --bpp 0.05 --fast
      vgc batch encode @list.txt -o /shared/out --workers 32 --ray-address head:6379
    """
    from .preflight import check_encode_args

    check_encode_args(bpp, q, 0, None)
    options = {"codec": codec, "bpp": bpp, "q": q, "backbone": backbone, "preset": preset,
               "fast": fast, "refine": not no_refine, "device": device, "weights": weights}
    _run_batch("encode", inputs, out_dir, ".vgc", options, workers, ray_address, retries,
               as_json, quiet)


@batch.command("decode", context_settings=CONTEXT)
@batch_options
@click.option("--format", "fmt", type=click.Choice(["mkv", "mp4", "y4m"]), default="mkv",
              show_default=True, help="Output container (mkv: lossless FFV1).")
@click.option("--no-refine", is_flag=True, help="Skip the refiner (STEM's warped frames).")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "auto"]))
@click.option("--weights", default=None, help="Weights folder (default: the shipped weights).")
def batch_decode(inputs, out_dir, workers, ray_address, retries, as_json, quiet, fmt, no_refine,
                 device, weights):
    """Decode each INPUT (a .vgc file, a folder of them, or @list.txt) to DIR/<name>.FORMAT.

    \b
    Examples:
      vgc batch decode out/ -o decoded/ --workers 4
      vgc batch decode a.vgc b.vgc -o decoded/ --format y4m --json
    """
    options = {"refine": not no_refine, "device": device, "weights": weights}
    _run_batch("decode", inputs, out_dir, "." + fmt, options, workers, ray_address, retries,
               as_json, quiet)


def _run_batch(kind, inputs, out_dir, suffix, options, workers, ray_address, retries, as_json,
               quiet):
    from .batch import collect, items_for, run_batch

    items = items_for(collect(list(inputs), kind), kind, out_dir, suffix, options)
    summary = run_batch(items, out_dir, workers=workers, retries=retries, address=ray_address,
                        progress=not quiet)
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        click.echo(f"{len(summary.done)} done, {len(summary.skipped)} skipped (already done), "
                   f"{len(summary.failed)} failed")
        for path, reason in summary.failed:
            click.echo(f"vgc: failed: {path}: {reason}", err=True)
    if summary.failed:
        sys.exit(1)


def run():
    """Console entry point: one-line errors, documented exit codes (README), no tracebacks for
    bad input: 0 done, 1 error, 2 usage error, 3 internal error, 128 + n killed by signal n
    (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""
    import warnings

    # compressai's import calls torch.jit.script, which torch 2.14 flags as deprecated
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
    previous = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            try:
                previous[sig] = signal.signal(sig, on_signal)
            except ValueError:  # not the main thread (run() called from a library)
                pass
    try:
        _run_main()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_main():
    try:
        main(standalone_mode=False)
    except Terminated as e:
        click.echo(f"vgc: terminated by {signal.Signals(e.signum).name}", err=True)
        sys.exit(128 + e.signum)
    except click.exceptions.Abort:
        click.echo("vgc: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx is not None else "vgc"
        click.echo(f"vgc: error: {e.format_message()} (see {cmd} --help)", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except VgcError as e:
        click.echo(f"vgc: error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("vgc: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a bug: say so in one line; VGC_DEBUG=1 shows the traceback
        if os.environ.get("VGC_DEBUG"):
            raise
        click.echo(f"vgc: internal error: {type(e).__name__}: {e} (set VGC_DEBUG=1 for details)",
                   err=True)
        sys.exit(3)
