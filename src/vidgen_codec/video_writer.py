"""Writing video: `VideoWriter` streams HxWx3 uint8 RGB frames to a file or a folder of PNGs.

The output format follows the path:

    out.mkv          FFV1, pix_fmt bgr0: lossless, decoded RGB == written RGB
    out.y4m          YUV4MPEG2, yuv444p or (pix_fmt="yuv420p") yuv420p (BT.601 limited range:
                     not bit-exact RGB)
    out.yuv          raw planar yuv420p (or yuv444p), BT.601 limited range, no header
    out.mp4          H.264, see MP4_SETTINGS_HELP (near-lossless, not bit-exact)
    out/ or out      a folder of PNGs frame_000000.png, frame_000001.png, ... (lossless)

Writes are atomic: frames go to a hidden temporary file or folder beside the target, which is
renamed onto the target when the writer closes cleanly. On an exception, or when no frame was
written, the temporary output is deleted and the target is left as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction

import av
import av.error
import numpy as np

from .deferred_signals import signals_deferred
from .errors import InputError
from .preflight import umask_mode

MP4_SETTINGS_HELP = (
    "mp4 output is H.264 (libx264) at crf 6, preset veryfast, yuv420p (yuv444p when the width "
    "or height is odd), BT.601: near-lossless but not bit-exact; use .mkv (FFV1) or a PNG "
    "folder for lossless output"
)
"""One sentence for the CLI help describing how .mp4 output is encoded."""

SUPPORTED_OUTPUTS = ".mkv (FFV1 lossless), .y4m (yuv444p, or yuv420p with --pix-fmt), .yuv " \
                    "(raw yuv420p, or yuv444p), .mp4 (H.264), or a folder of PNGs (a path " \
                    "ending in '/' or without an extension)"

_CONTAINER = {".mkv": "matroska", ".y4m": "yuv4mpegpipe", ".mp4": "mp4", ".yuv": "rawvideo"}
YUV_PIX_FMTS = ("yuv444p", "yuv420p")
_PNG_PATTERN = "frame_{:06d}.png"
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, RuntimeError)


def check_output_path(path: str | os.PathLike) -> str:
    """Return the kind of output for `path` (".mkv", ".y4m", ".mp4" or "png_dir").

    Raises InputError for a single .png, an unknown extension, or a folder that holds files
    other than frames a previous run wrote (it would be replaced). Call it before long work.
    """
    path = os.fspath(path)
    stem, ext = os.path.splitext(path.rstrip("/" + os.sep))
    if path.endswith(("/", os.sep)) or os.path.isdir(path) or not ext:
        if os.path.exists(path) and not os.path.isdir(path):
            raise InputError(f"output {path} exists and is not a folder")
        if os.path.isdir(path):
            others = [n for n in os.listdir(path) if not _is_frame_name(n)]
            if others:
                raise InputError(f"output folder {path} holds other files ({others[0]}, ...); "
                                 f"choose a new or empty folder")
        return "png_dir"
    ext = ext.lower()
    if ext == ".png":
        raise InputError(f"output {path} is a single image; to write PNG frames give a folder, "
                         f"e.g. {stem}/")
    if ext not in _CONTAINER:
        raise InputError(f"unsupported output {path}; write {SUPPORTED_OUTPUTS}")
    return ext


def _is_frame_name(name: str) -> bool:
    return name.startswith("frame_") and name.endswith(".png") and name[6:-4].isdigit()


class VideoWriter:
    """Stream RGB frames into a video file or PNG folder chosen by the path's extension.

        with VideoWriter("out.mkv", width, height, fps) as w:
            for frame in frames:          # HxWx3 uint8 RGB
                w.write(frame)
        # out.mkv now exists; it did not change if the block raised

    `frames_written` counts the frames written so far. Without a `with` block, call `close()`
    to publish the output or `abort()` to discard it.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: Fraction,
                 pix_fmt: str | None = None, time_base: Fraction | None = None):
        """`pix_fmt`: yuv444p or yuv420p for .y4m (default yuv444p) and .yuv (default
        yuv420p); 4:2:0 needs even sides. `time_base`: frames are written with the `pts`
        given to `write`, in these units (variable frame rate: .mkv and .mp4 keep them; the
        other outputs have no timestamps)."""
        self.time_base = time_base if os.path.splitext(os.fspath(path))[1].lower() in (
            ".mkv", ".mp4") else None
        self.kind = check_output_path(path)
        if pix_fmt is not None and (pix_fmt not in YUV_PIX_FMTS
                                    or self.kind not in (".y4m", ".yuv")):
            raise InputError(f"--pix-fmt {pix_fmt}: for .y4m and .yuv outputs, "
                             f"{' or '.join(YUV_PIX_FMTS)}")
        self.pix_fmt = pix_fmt or ("yuv420p" if self.kind == ".yuv" else "yuv444p")
        if self.pix_fmt == "yuv420p" and self.kind in (".y4m", ".yuv") and (width % 2 or height % 2):
            raise InputError(f"{width}x{height} has an odd side: 4:2:0 output needs even "
                             "sides (use --pix-fmt yuv444p, .mkv or PNGs)")
        if width <= 0 or height <= 0:
            raise InputError(f"frame size must be positive, got {width}x{height}")
        self.fps = Fraction(fps)
        if self.fps <= 0:
            raise InputError(f"frame rate must be positive, got {fps}")
        self.path = os.fspath(path).rstrip("/" + os.sep) or os.fspath(path)
        self.width, self.height = width, height
        self.frames_written = 0
        self._container = self._stream = self._tmp = None
        parent = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(parent, exist_ok=True)
            prefix = f".{os.path.basename(self.path)}."
            # mkstemp/mkdtemp make 0600/0700; the output gets what the umask allows, as
            # any other program's output does
            with signals_deferred():  # SIGTERM/SIGHUP wait until self._tmp is set
                if self.kind == "png_dir":
                    self._tmp = tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent)
                else:
                    fd, self._tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=parent)
                    os.close(fd)
            if self.kind == "png_dir":
                os.chmod(self._tmp, umask_mode(folder=True))
            else:
                os.chmod(self._tmp, umask_mode())
                self._open_container()
        except _AV_ERRORS as e:
            self.abort()
            raise InputError(f"cannot write {self.path}: {_reason(e)}") from None
        except BaseException:  # a signal (deferred_signals.Terminated) or Ctrl-C while opening
            self.abort()
            raise

    def _open_container(self) -> None:
        self._container = av.open(self._tmp, "w", format=_CONTAINER[self.kind])
        if self.kind == ".mkv":
            codec, pix_fmt, options = "ffv1", "bgr0", {}
        elif self.kind in (".y4m", ".yuv"):
            codec, pix_fmt, options = "rawvideo", self.pix_fmt, {}
        else:
            odd = self.width % 2 or self.height % 2
            codec, pix_fmt = "libx264", "yuv444p" if odd else "yuv420p"
            # crf 6 veryfast: 1.2-2.8x faster than crf 10 medium, 0.2-0.7 dB closer to the
            # frames, files 22-62 % larger (benchmarks/mp4_output.py, issue 31)
            options = {"crf": "6", "preset": "veryfast"}
        stream = self._container.add_stream(codec, rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, pix_fmt
        stream.options = options
        if self.time_base is not None:
            stream.codec_context.time_base = self.time_base
            stream.time_base = self.time_base
        if codec == "ffv1":  # its slices code in parallel: same bytes, 1.35x on two cores
            stream.codec_context.thread_type = "SLICE"
            stream.codec_context.thread_count = 0
        if self.kind == ".mp4":  # tag the matrix PyAV converts with, so players agree
            stream.codec_context.colorspace = 6  # SMPTE 170M (BT.601)
            stream.codec_context.color_range = 1  # limited ("tv")
        self._stream = stream

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        """Append one HxWx3 uint8 RGB frame (at `pts`, in time_base units, when the writer
        has a time base)."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width}x3 uint8 frame, "
                             f"got {frame.shape} {frame.dtype}")
        try:
            if self.kind == "png_dir":
                from PIL import Image

                name = os.path.join(self._tmp, _PNG_PATTERN.format(self.frames_written))
                Image.fromarray(np.ascontiguousarray(frame)).save(name, compress_level=3)
            else:
                video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                                         format="rgb24")
                if self.time_base is not None and pts is not None:
                    video_frame.pts, video_frame.time_base = pts, self.time_base
                else:
                    video_frame.pts = self.frames_written
                    video_frame.time_base = 1 / self.fps
                self._container.mux(self._stream.encode(video_frame))
        except _AV_ERRORS as e:
            raise InputError(f"cannot write {self.path}: {_reason(e)}") from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the output and move it onto the target (discard it if no frame was written)."""
        if self._tmp is None:
            return
        if self.frames_written == 0:
            self.abort()
            return
        try:
            if self._container is not None:
                self._container.mux(self._stream.encode(None))  # flush the encoder
                self._container.close()
                self._container = None
                os.replace(self._tmp, self.path)
            else:
                self._replace_folder()
        except _AV_ERRORS as e:
            self.abort()
            raise InputError(f"cannot write {self.path}: {_reason(e)}") from None
        self._tmp = None

    def _replace_folder(self) -> None:
        """Swap the finished PNG folder in; an old one (frames only) is moved away first."""
        if not os.path.exists(self.path):
            os.rename(self._tmp, self.path)
            return
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}.", suffix=".old",
                               dir=os.path.dirname(os.path.abspath(self.path)))
        os.rmdir(old)
        os.rename(self.path, old)
        os.rename(self._tmp, self.path)
        shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Discard everything written; the target is left untouched."""
        if self._container is not None:
            try:
                self._container.close()
            except _AV_ERRORS:
                pass
            self._container = None
        tmp, self._tmp = self._tmp, None
        if tmp is not None and os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None and os.path.exists(tmp):
            os.remove(tmp)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())
