"""Reading video: probe a clip and stream its frames as HxWx3 uint8 RGB arrays.

    path --probe()-------> VideoInfo(width, height, fps, frame_count, pix_fmt)
    path --read_frames()-> frame, frame, ...   (one HxWx3 uint8 RGB array at a time)

Three kinds of input:

* anything ffmpeg demuxes and decodes (mp4, mkv, avi, mov, webm, y4m, a single image...),
  through PyAV. YUV is turned into RGB by libswscale using the colour matrix and range the
  stream is tagged with (untagged: BT.601, limited range).
* raw planar video (.yuv, .rgb, or any file when a `RawSpec` is given): yuv420p, yuv444p,
  gray or rgb24, frames packed back to back with no header, as `ffmpeg -f rawvideo` writes.
* a folder of images (as `VideoWriter` writes): frames in file-name order, `DEFAULT_FPS`.

Every failure a user can cause is an `InputError` with one line of text; PyAV exceptions
never escape. Writing lives in `video_writer.py` and is re-exported here.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Iterator

import av
import av.error
import numpy as np

from .errors import InputError
from .video_writer import MP4_SETTINGS_HELP, SUPPORTED_OUTPUTS, VideoWriter, check_output_path

__all__ = [
    "DEFAULT_FPS", "RAW_EXTENSIONS", "RAW_PIX_FMTS", "RawSpec", "VideoInfo", "probe", "read_frames",
    "VideoWriter", "check_output_path", "MP4_SETTINGS_HELP", "SUPPORTED_OUTPUTS",
]

DEFAULT_FPS = Fraction(25)
"""Frame rate used when the input does not state one (image folders, some streams)."""

RAW_EXTENSIONS = (".yuv", ".rgb")
"""Extensions read as headerless raw video; they need a `RawSpec`."""

RAW_PIX_FMTS = ("yuv420p", "yuv444p", "gray", "rgb24")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# Exceptions that PyAV / ffmpeg raise on bad data; wrapped into InputError.
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, IndexError, RuntimeError)


@dataclass
class RawSpec:
    """How to read a headerless raw video file: frame size, rate and pixel format.

    yuv420p chroma planes are ceil(width/2) x ceil(height/2), as ffmpeg lays them out.
    YUV is BT.601 limited range; gray is full range.
    """

    width: int
    height: int
    fps: Fraction
    pix_fmt: str = "yuv420p"

    def frame_bytes(self) -> int:
        """Bytes one frame occupies in the file."""
        w, h = self.width, self.height
        return {
            "yuv420p": w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2),
            "yuv444p": 3 * w * h,
            "gray": w * h,
            "rgb24": 3 * w * h,
        }[self.pix_fmt]

    def check(self) -> None:
        """Raise InputError when the spec cannot describe a video."""
        if self.pix_fmt not in RAW_PIX_FMTS:
            raise InputError(f"unsupported raw pixel format {self.pix_fmt!r}; "
                             f"use one of {', '.join(RAW_PIX_FMTS)}")
        if self.width <= 0 or self.height <= 0:
            raise InputError(f"raw frame size must be positive, got {self.width}x{self.height}")
        if Fraction(self.fps) <= 0:
            raise InputError(f"frame rate must be positive, got {self.fps}")


@dataclass
class VideoInfo:
    """What `probe` learns about a clip without decoding it.

    `frame_count` is the number of packets of the video stream (demuxed, not decoded), else
    the count the container states; None when neither is known; `pix_fmt` is the stored pixel format (e.g. "yuv420p", "bgr0", "rgb24").
    """

    path: str
    width: int
    height: int
    fps: Fraction
    frame_count: int | None
    pix_fmt: str
    notes: tuple[str, ...] = ()  # what coding will lose that the user may not expect
    # a variable-frame-rate input's frame times (display order) in units of time_base
    pts: tuple[int, ...] | None = None
    time_base: Fraction | None = None


def probe(path: str | os.PathLike, raw: RawSpec | None = None) -> VideoInfo:
    """Describe the video at `path` (raw when `raw` is given or the extension is .yuv/.rgb)."""
    path = _check_exists(path)
    if _is_raw(path, raw):
        return _probe_raw(path, raw)
    if os.path.isdir(path):
        return _probe_image_dir(path)[0]
    container = _open(path)
    try:
        stream = _video_stream(path, container)
        info = _info_from_stream(path, stream)
        # Count the packets (demuxed, not decoded): mkv and webm state no count, and some
        # files state a wrong one (an avi whose header claims 444 frames but holds 68).
        counted, pts = _count_packets(container, stream)
        notes, times = _lossy_notes(info, container, stream, pts)
        return replace(info, frame_count=counted or info.frame_count, notes=notes, **times)
    finally:
        container.close()


def _count_packets(container, stream) -> tuple[int | None, list[int]]:
    """(packets with data, their timestamps) of the video stream."""
    pts = []
    try:
        for p in container.demux(stream):
            if p.size:
                pts.append(p.pts)
    except av.FFmpegError:
        return None, []
    return len(pts) or None, pts


def _lossy_notes(info: VideoInfo, container, stream, pts: list) -> tuple[tuple[str, ...], dict]:
    """Warnings for what vgc drops (bit depth above 8, audio) or keeps only in part (variable
    frame timing: kept in the .vgc, played by .mkv and .mp4 outputs); and, when the timing is
    variable (every frame has a timestamp and they are not evenly spaced), the VideoInfo
    fields `pts` (display order) and `time_base`."""
    notes = []
    try:
        bits = max(c.bits for c in av.VideoFormat(info.pix_fmt).components)
    except (ValueError, TypeError):
        bits = 8
    if bits > 8:
        notes.append(f"{info.path}: {bits}-bit video ({info.pix_fmt}) is coded as 8-bit RGB")
    if container.streams.audio:
        notes.append(f"{info.path}: its audio is dropped (vgc codes the video only)")
    known = sorted(t for t in pts if t is not None)
    variable = False
    if len(known) > 2 and len(known) == len(pts) and stream.time_base:
        steps = {b - a for a, b in zip(known, known[1:])}
        variable = min(steps) > 0 and len(steps) > 1 and max(steps) > 1.5 * min(steps)
        if variable:
            notes.append(f"{info.path}: variable frame rate: the frame times are kept in the "
                         ".vgc and played by .mkv and .mp4 outputs; .y4m, .yuv and PNG outputs "
                         f"play at a fixed {float(info.fps):.3f} fps")
    times = {"pts": tuple(known), "time_base": Fraction(stream.time_base)} if variable else {}
    return tuple(notes), times


def read_frames(path: str | os.PathLike, *, start: int = 0, count: int | None = None,
                raw: RawSpec | None = None, seek: bool = False) -> Iterator[np.ndarray]:
    """Yield frames start .. start+count-1 of `path` as HxWx3 uint8 RGB arrays, one at a time.

    Frames are decoded as they are consumed; the clip is never held in memory. Fewer than
    `count` frames are yielded when the clip ends first. Errors about the path and format are
    raised by this call; errors found while decoding (no frames at all, `start` past the end,
    corrupt data) are raised by the iterator. `seek`: reach `start` in a container by its
    timestamps instead of decoding from the top (fast, but trusts the file's timestamps; see
    _read_container_from).
    """
    if start < 0 or (count is not None and count < 0):
        raise InputError(f"start and count must not be negative (got {start}, {count})")
    path = _check_exists(path)
    if _is_raw(path, raw):
        info = _probe_raw(path, raw)
        _check_start(path, start, info.frame_count)
        return _read_raw(path, raw, start, count)
    if os.path.isdir(path):
        info, files = _probe_image_dir(path)
        _check_start(path, start, info.frame_count)
        return _read_image_dir(info, files, start, count)
    container = _open(path)
    try:
        stream = _video_stream(path, container)
        frame_count = _info_from_stream(path, stream).frame_count
    except BaseException:
        container.close()
        raise
    if frame_count is not None and frame_count > 0:
        _check_start(path, start, frame_count)
    if start > 0 and seek:
        return _read_container_from(path, container, stream, start, count)
    return _read_container(path, container, stream, start, count)


# --- helpers shared by the three kinds of input -------------------------------------------

def _check_exists(path) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"input file not found: {path}")
    return path


def _check_start(path: str, start: int, frame_count: int) -> None:
    if frame_count == 0:
        raise InputError(f"{path} has no video frames")
    if start >= frame_count and start > 0:
        raise InputError(f"start frame {start} is beyond the end of {path} ({frame_count} frames)")


def _stop(start: int, count: int | None) -> int | None:
    return None if count is None else start + count


# --- containers through PyAV --------------------------------------------------------------

def _open(path: str):
    _check_y4m_header(path)
    try:
        return av.open(path, "r")
    except _AV_ERRORS as e:
        raise InputError(f"{path} is not a video file ffmpeg can read ({_reason(e)})") from None


Y4M_MAGIC = b"YUV4MPEG2"


def _check_y4m_header(path: str) -> None:
    """A .y4m file's stream header, read here so that a malformed one is named as such (ffmpeg
    reports some as 'Device or resource busy'): the magic, then W, H and F (and any other
    tag) each with a value, W and H positive integers, F a ratio of positive integers."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return  # a pipe or device: ffmpeg's error will do
    if not (head.startswith(Y4M_MAGIC) or path.lower().endswith(".y4m")):
        return
    line = head.split(b"\n", 1)[0]
    if not line.startswith(Y4M_MAGIC + b" ") or b"\n" not in head:
        raise InputError(f"{path}: not a YUV4MPEG2 stream (the first line must start with "
                         f"'YUV4MPEG2 ' and end within 256 bytes)")
    tags = {}
    for tok in line.decode("ascii", "replace").split()[1:]:
        tags[tok[:1]] = tok[1:]
    for key in "WHF":
        if key not in tags:
            raise InputError(f"{path}: malformed YUV4MPEG2 header: no {key} tag")
    for key in "WH":
        if not tags[key].isdigit() or int(tags[key]) == 0:
            raise InputError(f"{path}: malformed YUV4MPEG2 header: {key}{tags[key]} is not a "
                             "positive integer")
    num, _, den = tags["F"].partition(":")
    if not (num.isdigit() and den.isdigit() and int(num) and int(den)):
        raise InputError(f"{path}: malformed YUV4MPEG2 header: F{tags['F']} is not a frame "
                         "rate like F25:1")


def _reason(e: BaseException) -> str:
    """The human part of a PyAV error, without errno numbers or the repeated path."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())


def _video_stream(path: str, container):
    streams = [s for s in container.streams.video
               if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        raise InputError(f"{path} has no video stream")
    stream = streams[0]
    stream.thread_type = "AUTO"
    return stream


def _info_from_stream(path: str, stream) -> VideoInfo:
    fps = next((Fraction(r) for r in (stream.average_rate, stream.guessed_rate, stream.base_rate)
                if r), DEFAULT_FPS)
    cc = stream.codec_context
    return VideoInfo(path=path, width=cc.width, height=cc.height, fps=fps,
                     frame_count=stream.frames or None, pix_fmt=cc.pix_fmt or "unknown")


def _to_rgb(frame, size: tuple[int, int] | None) -> np.ndarray:
    """Convert a decoded frame to RGB, honouring its colour matrix and range tags."""
    kwargs = {"format": "rgb24"}
    if frame.color_range:  # unspecified (0) lets swscale assume limited range for YUV
        kwargs["src_color_range"] = frame.color_range
    if size is not None and (frame.width, frame.height) != size:
        kwargs["width"], kwargs["height"] = size  # a stream that changes size mid-way
    return frame.to_ndarray(**kwargs)


def _read_container(path, container, stream, start, count) -> Iterator[np.ndarray]:
    stop = _stop(start, count)
    index, size = 0, None
    try:
        if stop is not None and stop <= start:
            return
        for frame in container.decode(stream):
            if index >= start:
                size = size or (frame.width, frame.height)
                yield _to_rgb(frame, size)
            index += 1
            if stop is not None and index >= stop:
                return
    except _AV_ERRORS as e:
        raise InputError(f"cannot decode {path}: {_reason(e)}") from None
    finally:
        container.close()
    if index == 0:
        raise InputError(f"{path} has no video frames")
    if index <= start:
        raise InputError(f"start frame {start} is beyond the end of {path} ({index} frames)")


def _read_container_from(path, container, stream, start, count) -> Iterator[np.ndarray]:
    """Frames from `start` on, found by seeking (a parallel encode's workers each read their
    own range, issue 16): demux the packets' timestamps, seek to the keyframe at or before
    frame `start`'s, decode and drop the frames before it. Where the timestamps are missing,
    repeated, or the seek lands after the frame, it decodes from the top instead. A file
    whose timestamps lie (box.mp4 in the development data: pts = dts, so sorted timestamps are
    not the decoder's output order) gives other frames than a decode from the top: callers
    check what they get (parallel/frames.py compares each frame's hash with the first pass's).
    """
    target = _frame_pts(container, stream, start)
    if target is not None:
        try:
            container.seek(target, stream=stream, backward=True, any_frame=False)
            frames = container.decode(stream)
            first = next(frames, None)
            while first is not None and first.pts is not None and first.pts < target:
                first = next(frames, None)
            if first is not None and first.pts == target:
                return _read_seeked(path, container, first, frames, count)
        except _AV_ERRORS:
            pass
    container.close()
    container = _open(path)
    try:
        stream = _video_stream(path, container)
    except BaseException:
        container.close()
        raise
    return _read_container(path, container, stream, start, count)


def _frame_pts(container, stream, index: int) -> int | None:
    """Display-order timestamp of frame `index`, if every packet has a distinct one."""
    try:
        pts = [p.pts for p in container.demux(stream) if p.size]
    except _AV_ERRORS:
        return None
    if index >= len(pts) or None in pts or len(set(pts)) != len(pts):
        return None
    return sorted(pts)[index]


def _read_seeked(path, container, first, frames, count) -> Iterator[np.ndarray]:
    size = (first.width, first.height)
    try:
        n = 0
        for frame in itertools.chain([first], frames):
            if count is not None and n >= count:
                return
            yield _to_rgb(frame, size)
            n += 1
    except _AV_ERRORS as e:
        raise InputError(f"cannot decode {path}: {_reason(e)}") from None
    finally:
        container.close()


# --- raw planar video ---------------------------------------------------------------------

def _is_raw(path: str, raw: RawSpec | None) -> bool:
    if raw is not None:
        return True
    if os.path.splitext(path)[1].lower() in RAW_EXTENSIONS:
        raise InputError(f"{path}: raw .yuv input needs --size and --fps")
    return False


def _probe_raw(path: str, raw: RawSpec) -> VideoInfo:
    raw.check()
    if os.path.isdir(path):
        raise InputError(f"{path} is a folder, not a raw video file")
    size, frame_bytes = os.path.getsize(path), raw.frame_bytes()
    if size % frame_bytes:
        raise InputError(
            f"{path}: size {size} bytes is not a multiple of the {raw.width}x{raw.height} "
            f"{raw.pix_fmt} frame size ({frame_bytes} bytes); check --size and the pixel format")
    return VideoInfo(path=path, width=raw.width, height=raw.height, fps=Fraction(raw.fps),
                     frame_count=size // frame_bytes, pix_fmt=raw.pix_fmt)


def _read_raw(path: str, raw: RawSpec, start: int, count: int | None) -> Iterator[np.ndarray]:
    frame_bytes, stop = raw.frame_bytes(), _stop(start, count)
    with open(path, "rb") as f:
        f.seek(start * frame_bytes)
        index = start
        while stop is None or index < stop:
            buf = f.read(frame_bytes)
            if len(buf) < frame_bytes:
                return
            yield _raw_to_rgb(buf, raw)
            index += 1


def _raw_to_rgb(buf: bytes, raw: RawSpec) -> np.ndarray:
    """One raw frame to HxWx3 RGB; YUV goes through libswscale (BT.601, limited range)."""
    w, h = raw.width, raw.height
    data = np.frombuffer(buf, np.uint8)
    if raw.pix_fmt == "rgb24":
        return data.reshape(h, w, 3).copy()
    if raw.pix_fmt == "gray":
        return np.repeat(data.reshape(h, w, 1), 3, axis=2)
    frame = av.VideoFrame(w, h, raw.pix_fmt)
    offset = 0
    for plane in frame.planes:  # planes are padded to line_size; fill the visible part
        n = plane.width * plane.height
        view = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        view[:, :plane.width] = data[offset:offset + n].reshape(plane.height, plane.width)
        offset += n
    return frame.to_ndarray(format="rgb24")


# --- folders of images --------------------------------------------------------------------

def _probe_image_dir(path: str) -> tuple[VideoInfo, list[str]]:
    from PIL import Image

    files = sorted(os.path.join(path, n) for n in os.listdir(path)
                   if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS)
    if not files:
        raise InputError(f"{path} is a folder with no image frames "
                         f"({', '.join(IMAGE_EXTENSIONS)})")
    try:
        with Image.open(files[0]) as im:
            width, height = im.size
    except OSError as e:
        raise InputError(f"cannot read image {files[0]}: {_reason(e)}") from None
    info = VideoInfo(path=path, width=width, height=height, fps=DEFAULT_FPS,
                     frame_count=len(files), pix_fmt="rgb24")
    return info, files


def _read_image_dir(info: VideoInfo, files: list[str], start: int,
                    count: int | None) -> Iterator[np.ndarray]:
    from PIL import Image

    for name in files[start:_stop(start, count)]:
        try:
            with Image.open(name) as im:
                frame = np.asarray(im.convert("RGB"))
        except OSError as e:
            raise InputError(f"cannot read image {name}: {_reason(e)}") from None
        if frame.shape[:2] != (info.height, info.width):
            raise InputError(f"{name} is {frame.shape[1]}x{frame.shape[0]}, but the first frame "
                             f"of {info.path} is {info.width}x{info.height}")
        yield frame
