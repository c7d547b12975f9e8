"""`vgc batch encode|decode`: many files, one task per file, resumable."""

from __future__ import annotations

import json
import sys

import click

from ..preflight import DEFAULT_BPP
from .main import main
from .options import CONTEXT, device_option, weights_option, worker_options


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
@device_option()
@weights_option
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
    from ..preflight import check_encode_args

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
@device_option()
@weights_option
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
    from ..batch import collect, items_for, run_batch

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
