"""`vgc eval`: the click command. Parses arguments and calls `eval.run.run_eval`."""

from __future__ import annotations

import click

from .main import main
from .options import CONTEXT, raw_input_options, raw_spec
from ..errors import InputError



def _csv(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _targets(text: str) -> list[float]:
    try:
        return [float(t) for t in _csv(text)]
    except ValueError:
        raise InputError(f"--bpp {text!r}: expected numbers separated by commas") from None


@click.command("eval", context_settings=CONTEXT,
               epilog="Metrics: psnr, psnr_y, ms_ssim, cvvdp, vmaf, ewarp, lpips, dists. "
                      "Baselines: x264, x265, svtav1 (preset 8, the backbone's), svtav1-p4 (preset 4), "
                      "svtav1-p4-resize (preset 4, frames after the key frame coded at half "
                      "size, scaled up by Lanczos).")
@click.argument("clips", metavar="CLIP...", nargs=-1, required=True)
@click.option("--codecs", default=None,
              help="vgc codecs, comma-separated (default: every registered codec; one whose "
                   "weights are missing is skipped with a message). stem/no-refine: the stem "
                   "file decoded without the refiner; stem/p4: encoded with --preset 4; "
                   "stem/slow: encoded at --speed slow (any speed name); stem/no-prior: "
                   "encoded with --no-prior; stem/half, stem/quarter: encoded with "
                   "--backbone-scale 2 or 4; "
                   "stem/learned: the learned backbone; s2vc/no-generate: the s2vc file "
                   "decoded without its generator; parts combine: stem/learned/no-refine.")
@click.option("--bpp", default="0.02,0.05,0.1", show_default=True,
              help="Target bits per pixel of each vgc file, comma-separated.")
@click.option("--baselines", default="x264,x265,svtav1", show_default=True,
              help="Classical codecs matched to each vgc file's size (±5 %), one GOP; "
                   "'none' for none.")
@click.option("--anchor", default=None,
              help="Curve the BD-rates are computed against (default: the first baseline).")
@click.option("--metrics", default=None,
              help="Metrics to compute, comma-separated (default: all).")
@click.option("--out", required=True, help="Results folder (created; reruns resume from it).")
@click.option("--start", type=int, default=0, show_default=True, help="First frame of each clip.")
@click.option("--frames", type=int, default=None, help="Frames per clip (default: all).")
@raw_input_options
@click.option("--device", default="cpu", show_default=True,
              type=click.Choice(["cpu", "cuda", "auto"]),
              help="Device of the vgc codecs and the torch metrics.")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Points computed in parallel (worker processes).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def eval_cmd(clips, codecs, bpp, baselines, anchor, metrics, out, start, frames, size, fps,
             pix_fmt, device, jobs, quiet):
    """Evaluate vgc codecs against x264, x265 and SVT-AV1 at matched sizes.

    Each CLIP is encoded with each vgc codec at each --bpp target; each baseline is then
    encoded through PyAV as one GOP with its CRF searched until its payload is within ±5 % of
    the .vgc file. Everything is decoded and measured: PSNR (RGB, Y), MS-SSIM, ColorVideoVDP,
    VMAF, warping error E_warp, LPIPS and DISTS (when their backbone weights are in the torch
    cache), encode/decode fps and peak memory. OUT gets results.json, results.csv,
    bdrate.csv/.md (BD-rate against --anchor), table.txt and plots/*.png; points are cached
    in OUT/points, so a rerun resumes where it stopped.

    \b
    Examples:
      vgc eval clip.mp4 --out results/clip --frames 30
      vgc eval a.mp4 b.mkv --codecs intra --bpp 0.01,0.02,0.05 --out results/ab --jobs 2
      vgc eval cup.mp4 --codecs stem,stem/no-refine --bpp 0.02,0.05 --out results/refine
      vgc eval cup.mp4 --codecs s2vc,s2vc/no-generate,stem/learned --bpp 0.02,0.05
      vgc eval seq.yuv --size 1920x1080 --fps 50 --frames 96 --out results/uvg
      vgc eval clip.mp4 --baselines x264 --metrics psnr,ms_ssim,ewarp --out results/quick
    """
    from ..eval.run import EvalConfig, run_eval
    from ..eval import report

    base = [] if baselines.strip().lower() == "none" else _csv(baselines)
    if jobs < 1:
        raise InputError("--jobs must be >= 1")
    cfg = EvalConfig(
        clips=list(clips), bpp=_targets(bpp), out=out,
        codecs=_csv(codecs) if codecs is not None else None, baselines=base,
        **({"metrics": _csv(metrics)} if metrics is not None else {}),
        start=start, frames=frames, raw=raw_spec(size, fps, pix_fmt), anchor=anchor,
        device=device, jobs=jobs, progress=not quiet)
    if cfg.codecs is not None and not cfg.codecs:
        raise InputError("--codecs lists no codec")
    if metrics is not None and not cfg.metrics:
        raise InputError("--metrics lists no metric")
    results = run_eval(cfg, log=lambda m: click.echo(m, err=True))
    click.echo(report.points_table(results))
    click.echo("")
    click.echo(report.bd_table(results))
    click.echo(f"\n{out}: results.json, results.csv, bdrate.csv, bdrate.md, table.txt, "
               f"{len(results['files']['plots'])} plots in plots/")


main.add_command(eval_cmd)
