"""`vgc encode`, `vgc decode`, `vgc info`, `vgc codecs`: parse the arguments, call `api`."""

from __future__ import annotations

import json
import os

import click

from ..errors import InputError
from ..preflight import DEFAULT_BPP
from ..video_writer import MP4_SETTINGS_HELP, SUPPORTED_OUTPUTS
from .main import main
from .options import (CONTEXT, _overwrite, device_option, overwrite_options, raw_input_options,
                      raw_spec, refiner_options, run_options, setup_run, weights_option,
                      worker_options)


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
@click.option("--no-prior", is_flag=True,
              help="stem av1: upsample reduced-scale backbones by Lanczos only, never by a "
                   "pretrained prior (the slow speeds try three installed waifu2x priors and "
                   "keep one where it measures better).")
@device_option()
@weights_option
@refiner_options
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the refiner's noise, stored in the file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@overwrite_options
@worker_options
@run_options
def encode(input_path, output_path, codec, bpp, q, start, frames, size, fps, pix_fmt, speed,
           keyint, gop, backbone_interval, backbone, backbone_scale, preset, fast, no_prior,
           device, weights,
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
      vgc encode clip.mp4 clip.vgc --bpp 0.02 --speed ultrafast   # one coding, no search
      vgc encode clip.mp4 clip.vgc --bpp 0.02 --speed slower      # preset 4, gated refiner
      vgc encode clip.mp4 clip.vgc --bpp 0.005 --speed slow --no-prior   # Lanczos only
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
    from ..preflight import check_encode_args, check_vgc_output, may_overwrite
    from ..registry import get_codec

    from ..pipes import STDIO, input_path as stdin_or, output_path as stdout_or

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
    from .. import api

    with stdin_or(input_path, ".yuv" if size else "") as src, \
            stdout_or(output_path, ".vgc") as dst:
        rep = api.encode(src, dst, codec=codec, bpp=bpp, q=q, start=start,
                         frames=frames, raw=raw_spec(size, fps, pix_fmt), device=device,
                         weights=weights, gop=gop, backbone_interval=backbone_interval,
                         backbone=backbone, fast=fast, preset=preset, speed=speed,
                         keyint=keyint, prior=not no_prior,
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
@device_option()
@weights_option
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
    from ..preflight import may_overwrite, require_file
    from ..video_writer import check_output_path

    from ..pipes import STDIO, input_path as stdin_or, output_path as stdout_or

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
    from .. import api

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
    from ..info import check_weights_id, describe, format_text

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
    from ..registry import RESERVED, list_codecs
    from ..weights import repo_weights_dir

    click.echo(f"{'name':<8}{'id':>4}  {'weights':<28}{'devices':<11}description")
    for s in list_codecs():
        wdir = repo_weights_dir() / s.weights
        shipped = "weights/" + s.weights + ("" if (wdir / "config.json").exists() else " (missing)")
        click.echo(f"{s.name:<8}{int(s.codec_id):>4}  {shipped:<28}{','.join(s.devices):<11}"
                   f"{s.description}")
    for cid, desc in RESERVED.items():
        click.echo(f"{cid.name.lower():<8}{int(cid):>4}  {'-':<28}{'-':<11}{desc}")
