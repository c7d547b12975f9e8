"""Options shared by several `vgc` commands (raw .yuv input), and what they parse into."""

from __future__ import annotations

from fractions import Fraction

import click

from .errors import InputError


def raw_input_options(f):
    """--size, --fps, --pix-fmt: how to read a raw .yuv input (see `raw_spec`)."""
    f = click.option("--pix-fmt", default="yuv420p", show_default=True,
                     help="Raw .yuv input: yuv420p, yuv444p, gray or rgb24.")(f)
    f = click.option("--fps", default=None,
                     help="Raw .yuv input: frame rate, e.g. 25 or 30000/1001.")(f)
    return click.option("--size", default=None, help="Raw .yuv input: frame size WxH.")(f)


def raw_spec(size: str | None, fps: str | None, pix_fmt: str):
    """The RawSpec of the raw-input options, or None when --size is not given."""
    from .video_io import RawSpec

    if size is None:
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
        rate = Fraction(fps or "25")
    except (ValueError, ZeroDivisionError):
        raise InputError(f"bad --size {size!r} or --fps {fps!r} (expected WxH and a rate)")
    return RawSpec(w, h, rate, pix_fmt)
