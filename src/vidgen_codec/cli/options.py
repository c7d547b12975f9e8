"""Options shared by several `vgc` commands (raw .yuv input), and what they parse into."""

from __future__ import annotations

from fractions import Fraction

import click

from ..errors import InputError


FLAGS = {"q": "--rate", "bpp": "--bpp", "gop": "--gop", "keyint": "--keyint",
         "backbone": "--backbone", "backbone_interval": "--backbone-interval",
         "backbone_scale": "--backbone-scale", "preset": "--preset", "speed": "--speed",
         "start": "--start", "frames": "--frames", "seed": "--seed"}
"""api keywords -> the flags that set them (errors.OptionError names the keyword)."""


def option_message(e) -> str:
    """An OptionError as the CLI says it: the flag and the value, then why."""
    flag = FLAGS.get(e.option, "--" + e.option.replace("_", "-"))
    return f"{flag} {e.value}: {e.why}"


def device_option(default: str = "cpu"):
    """--device: where the networks run (auto: cuda when there is one)."""
    return click.option("--device", default=default, show_default=True,
                        type=click.Choice(["cpu", "cuda", "auto"]))


def weights_option(f):
    """--weights: the codec's weights folder."""
    return click.option("--weights", default=None,
                        help="Weights folder (default: the shipped weights).")(f)


def raw_input_options(f):
    """--size, --fps, --pix-fmt: how to read a raw .yuv input (see `raw_spec`)."""
    f = click.option("--pix-fmt", default="yuv420p", show_default=True,
                     help="Raw .yuv input: yuv420p, yuv444p, gray or rgb24.")(f)
    f = click.option("--fps", default=None,
                     help="Raw .yuv input: frame rate, e.g. 25 or 30000/1001.")(f)
    return click.option("--size", default=None, help="Raw .yuv input: frame size WxH.")(f)


def raw_spec(size: str | None, fps: str | None, pix_fmt: str):
    """The RawSpec of the raw-input options, or None when --size is not given."""
    from ..video_io import RawSpec

    if size is None:
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
        rate = Fraction(fps or "25")
    except (ValueError, ZeroDivisionError):
        raise InputError(f"bad --size {size!r} or --fps {fps!r} (expected WxH and a rate)")
    return RawSpec(w, h, rate, pix_fmt)


def train_options(steps: int, batch: int, patch: int = 128):
    """--data, --out, --steps, --resume, --batch, --patch, --export, --max-minutes: every
    `vgc train` command."""
    def deco(f):
        f = click.option("--max-minutes", type=float, default=None,
                         help="Stop after this much wall time, with a checkpoint (a GPU "
                              "session's share; --resume continues).")(f)
        f = click.option("--export", "export_dir", default=None,
                         help="Write the checkpoint of OUT as shipped weights to this folder "
                              "and stop.")(f)
        f = click.option("--patch", type=int, default=patch, show_default=True,
                         help="Training crop side in pixels.")(f)
        f = click.option("--batch", type=int, default=batch, show_default=True)(f)
        f = click.option("--resume", is_flag=True, help="Continue from OUT/ckpt.pt.")(f)
        f = click.option("--steps", type=int, default=steps, show_default=True,
                         help="Total steps.")(f)
        f = click.option("--out", required=True, help="Run folder: checkpoint, logs.")(f)
        return click.option("--data", default=None,
                            help="Folder of images and videos (cup.mp4, tree.avi held out).")(f)
    return deco


def refiner_options(f):
    """--no-refine, --refiner, --model-dir: which diffusion refiner runs after the codec."""
    f = click.option("--model-dir", default=None,
                     help="A Wan model in diffusers format (vae/, transformer/) to refine "
                          "with; --refiner then names its adapter folder.")(f)
    f = click.option("--refiner", default=None,
                     help="Refiner weights folder (default: the shipped weights/refiner).")(f)
    return click.option("--no-refine", "no_refine", is_flag=True,
                        help="No diffusion refinement: the codec's frames as they are.")(f)


def run_options(f):
    """--threads, --json, -v: how encode and decode run and report."""
    f = click.option("-v", "--verbose", count=True,
                     help="Log what the codec decides on stderr (-v: info, -vv: debug).")(f)
    f = click.option("--json", "as_json", is_flag=True,
                     help="Print the result as one JSON object (on stderr when OUTPUT is -).")(f)
    return click.option("--threads", type=int, default=None,
                        help="CPU threads for the networks (default: torch's; decoded frames "
                             "do not depend on it).")(f)


def worker_options(f):
    """--workers, --ray-address: one file's spans in parallel (parallel/)."""
    f = click.option("--ray-address", default=None, envvar="RAY_ADDRESS", metavar="HOST:PORT",
                     help="Run the workers on this Ray cluster (default: $RAY_ADDRESS, else a "
                          "local Ray started for the job, on 127.0.0.1 only). Every node must "
                          "read the input and the .vgc at the same path (shared storage).")(f)
    return click.option("--workers", type=click.IntRange(1, 1024), default=1,
                        show_default=True,
                        help="Parallel workers (Ray tasks), one span of GOPs each; the output "
                             "is the same byte for byte for any count. 1: no Ray.")(f)


def setup_run(threads: int | None, verbose: int) -> None:
    """Apply --threads and -v before the work starts (torch may not be imported yet)."""
    import logging
    import os
    import sys

    if threads is not None:
        if threads < 1:
            raise InputError(f"--threads {threads}: at least 1")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                            format="vgc: %(name)s: %(message)s", stream=sys.stderr)
        for noisy in ("PIL", "matplotlib", "numba"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


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
