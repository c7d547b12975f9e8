"""`-` as an input or output path, as in ffmpeg: standard input and output through a temporary
file beside nothing the user owns.

vgc reads its inputs more than once (probe, then frames; a .vgc's tail holds its index) and
writes its outputs with seeks (a .vgc's frame count is patched at the end), so a pipe is
spooled: stdin is copied to a temporary file before the work starts, and an output meant for
stdout is written to a temporary file and copied out once it is complete (so a failed run
writes nothing to stdout). Decoding to `-` writes YUV4MPEG2 (y4m), what ffmpeg reads from a
pipe with `-f yuv4mpegpipe -i -` (or just `-i -`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile

from .deferred_signals import signals_deferred
from .errors import InputError

STDIO = "-"


@contextlib.contextmanager
def input_path(path: str, suffix: str = ""):
    """`path`, or for `-` a temporary copy of stdin (removed afterwards)."""
    if path != STDIO:
        yield path
        return
    tmp = None
    try:
        with signals_deferred():  # no signal between creating the file and knowing its name
            fd, tmp = tempfile.mkstemp(prefix="vgc-stdin-", suffix=suffix)
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
        yield tmp
    finally:
        if tmp is not None:
            os.unlink(tmp)


@contextlib.contextmanager
def output_path(path: str, suffix: str):
    """`path`, or for `-` a temporary file (with `suffix`) whose bytes go to stdout when the
    block ends without an error."""
    if path != STDIO:
        yield path
        return
    folder = None
    try:
        with signals_deferred():
            folder = tempfile.mkdtemp(prefix="vgc-stdout-")
        tmp = os.path.join(folder, "out" + suffix)
        yield tmp
        out = sys.stdout.buffer
        try:
            with open(tmp, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
            out.flush()
        except BrokenPipeError:  # the reader went away (`| head`): not vgc's error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error at interpreter exit
            raise InputError("standard output was closed before all of the output was "
                             "written") from None
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
