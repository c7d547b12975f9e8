"""Checks that run before any heavy import or long work: paths and argument ranges.

torch-free, so that a bad argument or path is refused in well under a second. `api` calls the
same checks, so library users get them too.
"""

from __future__ import annotations

import os
import stat
import sys

from .errors import InputError

DEFAULT_BPP = 0.05
MAX_BPP = 24
MAX_PIXELS = 1 << 26  # 8192 x 8192: the largest frame vgc codes or decodes (spec 7.1)


def require_file(path: str, what: str = "input") -> str:
    """A readable regular file (or a pipe/device that is not /dev/null), else InputError."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read {what}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a folder, not a {what} file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path} is not a regular file ({what})")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    return path


def check_vgc_output(path: str, *, suffix: bool = True) -> None:
    """The target of `vgc encode`: a (.vgc) path whose folder can hold it."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputError(f"output {path} is a folder; give a file name ending in .vgc")
    if suffix and os.path.splitext(path)[1].lower() != ".vgc":
        raise InputError(f"output {path}: vgc encode writes .vgc files; name it "
                         f"{os.path.splitext(path)[0] or path}.vgc (decode makes videos)")
    check_parent(path)


def check_parent(path: str) -> None:
    """The folder of `path` exists or can be made, and is a folder."""
    parent = os.path.dirname(os.path.abspath(path))
    probe = parent
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise InputError(f"cannot write {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: permission denied in {probe}")
    try:  # what access() cannot see: a read-only file system, root squashing, quotas
        import tempfile

        with tempfile.NamedTemporaryFile(dir=probe, prefix=".vgc-probe-"):
            pass
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e} in {probe}") from None


def may_overwrite(path: str, overwrite: bool | None) -> None:
    """ffmpeg's rule for an existing output: -y overwrites, -n refuses; with neither, ask on a
    terminal and refuse otherwise."""
    if not os.path.exists(path):
        return
    if overwrite:
        return
    if overwrite is None and sys.stdin.isatty() and sys.stderr.isatty():
        sys.stderr.write(f"File '{path}' already exists. Overwrite? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() in ("y", "yes"):
            return
    raise InputError(f"output {path} exists; not overwritten (-y to overwrite)")


def check_encode_args(bpp: float | None, q: float | None, start: int,
                      frames: int | None) -> float | None:
    """The bpp target to use (DEFAULT_BPP when neither bpp nor q is given)."""
    if start < 0 or (frames is not None and frames <= 0):
        raise InputError("--start must be >= 0 and --frames > 0")
    if bpp is not None and q is not None:
        raise InputError("give either a bpp target or a rate parameter, not both")
    if bpp is None and q is None:
        bpp = DEFAULT_BPP
    if bpp is not None and not 0 < bpp <= MAX_BPP:
        raise InputError(f"--bpp {bpp} outside (0, {MAX_BPP}]")
    return bpp


def umask_mode(folder: bool = False) -> int:
    """The mode a new file (0666) or folder (0777) gets under the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if folder else 0o666) & ~mask


def check_header(header, version: tuple[int, int]) -> None:
    """What a decoder refuses in a SEQUENCE_HEADER that the container accepts (spec 7.1, 11):
    a codec, entropy coder or pixel format this vgc does not know; format 2 files coded with
    the legacy COMPRESSAI_RANS coder (never written in format 2; it has no end-of-stream check,
    so a flipped id would decode garbage silently). `vgc info` and `vgc decode` both call it."""
    from .bitstream.ids import EntropyCoderId, PixelFormat
    from .errors import FormatError
    from .registry import codec_by_id

    codec_by_id(header.codec_id)
    if header.width * header.height > MAX_PIXELS:
        raise FormatError(f"frame size {header.width}x{header.height} is over the "
                          f"{MAX_PIXELS:,}-pixel limit (8192 x 8192)", chunk=0)
    try:
        PixelFormat(header.pixel_format)
    except ValueError:
        raise FormatError(f"unknown pixel format {header.pixel_format}", chunk=0) from None
    try:
        coder = EntropyCoderId(header.entropy_coder_id)
    except ValueError:
        raise FormatError(f"unknown entropy coder id {header.entropy_coder_id}",
                          chunk=0) from None
    if version[0] >= 2 and coder != EntropyCoderId.VGC_RANS:
        raise FormatError(f"entropy coder {coder.name.lower()} is not allowed in format "
                          f"{version[0]}.{version[1]} files", chunk=0)
