"""Shared fixtures: small synthetic clips written with PyAV into tmp_path (no data needed).

    make_frames(w, h, n)      -> [HxWx3 uint8]   moving gradient + moving square + texture
    make_clip(name, ...)      -> Clip            any codec/container PyAV can write
    mkv_clip, odd_mkv_clip, mp4_clip, y4m_clip   ready-made clips

Clips are written with PyAV directly, not with vidgen_codec's VideoWriter, so reader tests
do not depend on the writer under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if _SRC not in sys.path:  # run from a fresh clone without installing the package
    sys.path.insert(0, _SRC)


@dataclass
class Clip:
    """A clip on disk and the RGB frames it was made from (exact only for lossless codecs)."""

    path: str
    frames: list[np.ndarray]
    fps: Fraction
    width: int
    height: int


def synthetic_frames(width: int, height: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """A horizontal gradient sliding right, a square moving diagonally, and fixed fine noise."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(-12, 13, size=(height, width, 3))
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(count):
        frame = np.empty((height, width, 3), np.int64)
        frame[..., 0] = (xx * 255 // max(width - 1, 1) + 9 * t) % 256
        frame[..., 1] = yy * 255 // max(height - 1, 1)
        frame[..., 2] = 128
        top, left = (2 * t) % max(height - 8, 1), (3 * t) % max(width - 8, 1)
        frame[top:top + 8, left:left + 8] = (250, 40, 20)
        frames.append(np.clip(frame + texture, 0, 255).astype(np.uint8))
    return frames


def write_clip(path: str, frames: list[np.ndarray], fps: Fraction, codec: str = "ffv1",
               pix_fmt: str = "bgr0", options: dict | None = None) -> str:
    """Encode RGB frames with PyAV (the container follows the extension)."""
    height, width = frames[0].shape[:2]
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = options or {}
        for i, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = i, 1 / Fraction(fps)
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture
def make_frames():
    """The `synthetic_frames(width, height, count, seed=0)` function, as a fixture."""
    return synthetic_frames


@pytest.fixture
def make_clip(tmp_path):
    """Factory: make_clip("a.mkv", width=64, height=48, count=10, fps=25, codec=..., ...)."""

    def make(name: str, width: int = 64, height: int = 48, count: int = 10,
             fps: Fraction = Fraction(25), codec: str = "ffv1", pix_fmt: str = "bgr0",
             options: dict | None = None, seed: int = 0) -> Clip:
        frames = synthetic_frames(width, height, count, seed)
        path = write_clip(str(tmp_path / name), frames, Fraction(fps), codec, pix_fmt, options)
        return Clip(path, frames, Fraction(fps), width, height)

    return make


@pytest.fixture
def mkv_clip(make_clip) -> Clip:
    """64x48, 25 fps, 10 frames, FFV1 bgr0: decodes to exactly `frames`."""
    return make_clip("clip.mkv")


@pytest.fixture
def odd_mkv_clip(make_clip) -> Clip:
    """37x29, 30000/1001 fps, 9 frames, FFV1 bgr0 (lossless, odd size, NTSC rate)."""
    return make_clip("odd.mkv", width=37, height=29, count=9, fps=Fraction(30000, 1001))


@pytest.fixture
def mp4_clip(make_clip) -> Clip:
    """64x48, 25 fps, 10 frames, H.264 yuv444p qp 0 (lossless in YUV, close in RGB)."""
    return make_clip("clip.mp4", codec="libx264", pix_fmt="yuv444p", options={"qp": "0"})


@pytest.fixture
def y4m_clip(make_clip) -> Clip:
    """64x48, 25 fps, 10 frames, y4m yuv420p (close to `frames`, chroma subsampled)."""
    return make_clip("clip.y4m", codec="rawvideo", pix_fmt="yuv420p")


@dataclass
class RawClip:
    """A headerless raw file, its spec, the RGB frames it came from, and a y4m twin holding
    the same YUV samples (None for rgb24) that ffmpeg reads as a reference."""

    path: str
    spec: object  # vidgen_codec.video_io.RawSpec
    frames: list[np.ndarray]
    y4m_twin: str | None


def plane_bytes(frame: av.VideoFrame) -> bytes:
    """The visible samples of each plane, back to back: ffmpeg's rawvideo layout."""
    out = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        out.append(rows[:, :plane.width].tobytes())
    return b"".join(out)


@pytest.fixture
def make_raw_clip(tmp_path):
    """Factory: make_raw_clip("yuv420p", width=64, height=48, count=6) -> RawClip."""
    from vidgen_codec.video_io import RawSpec

    def make(pix_fmt: str = "yuv420p", width: int = 64, height: int = 48, count: int = 6,
             fps: Fraction = Fraction(25)) -> RawClip:
        frames = synthetic_frames(width, height, count)
        path = str(tmp_path / f"raw_{pix_fmt}_{width}x{height}.yuv")
        twin = None
        if pix_fmt == "rgb24":
            data = b"".join(f.tobytes() for f in frames)
        else:
            converted = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format=pix_fmt)
                         for f in frames]
            data = b"".join(plane_bytes(v) for v in converted)
            twin = path[:-4] + ".y4m"
            with av.open(twin, "w") as container:
                stream = container.add_stream("rawvideo", rate=fps)
                stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
                for i, v in enumerate(converted):
                    v.pts, v.time_base = i, 1 / Fraction(fps)
                    container.mux(stream.encode(v))
                container.mux(stream.encode(None))
        with open(path, "wb") as f:
            f.write(data)
        return RawClip(path, RawSpec(width, height, Fraction(fps), pix_fmt), frames, twin)

    return make


def vgc(*args, capsys):
    """Run the real console entry point in-process; returns (exit code, stdout, stderr)."""
    import sys

    from vidgen_codec.cli import run

    old = sys.argv
    sys.argv = ["vgc", *map(str, args)]
    try:
        run()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="session")
def stem_weights(tmp_path_factory):
    """A STEM weights folder with random weights (seed 5), built once per session."""
    from vidgen_codec.codecs.stem import StemCodec

    d = tmp_path_factory.mktemp("w") / "stem"
    StemCodec.random(seed=5).save(d)
    return str(d)


def decoded_digests(path, dst, threads=(1, 2, 3, 1), **decode_kw) -> list[list[str]]:
    """Decode the .vgc at `path` to PNG folders under `dst` once per torch thread count in
    `threads` (restored after): per run, the SHA-256 of each frame file, in order."""
    import hashlib

    import torch

    from vidgen_codec import api

    digests = []
    saved = torch.get_num_threads()
    try:
        for run, n in enumerate(threads):
            torch.set_num_threads(n)
            out = Path(dst) / f"d{run}"
            api.decode(str(path), str(out) + "/", progress=False, **decode_kw)
            digests.append([hashlib.sha256(p.read_bytes()).hexdigest()
                            for p in sorted(out.iterdir())])
    finally:
        torch.set_num_threads(saved)
    return digests


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -c code` in a fresh process, text output captured; the test fails with the tail
    of its stderr unless it exits 0."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def stand_in_gop(head):
    """An av1 GOP chunk of `head` (a `stem_gop.GopHeader` of a synthesised GOP) with stand-in
    AV1 units, one per backbone: what the layout tests and the fuzzers mutate."""
    from vidgen_codec.bitstream import FramePayload
    from vidgen_codec.bitstream.ids import FrameType
    from vidgen_codec.stem_gop import pack_gop

    pos = head.positions()
    units = [b"\x12\x00" + bytes([0x32, 1, k]) for k in range(len(pos))]
    parts = [FramePayload(0, FrameType.I, 0, [units[0]])]
    for k, (a, b) in enumerate(zip(pos, pos[1:])):
        parts += [FramePayload(i, FrameType.M, 0, []) for i in range(a + 1, b)]
        parts.append(FramePayload(b, FrameType.P, 0, [units[k + 1]]))
    return pack_gop(0, head, parts)


def check_mutated_gop(gop, stream: int, at: int, value: int, cut: bool) -> None:
    """One stream of a GOP chunk mutated (byte `at` set to `value`, or the stream cut at `at`)
    parses, to the frame count its header claims, or raises FormatError, never anything else."""
    from vidgen_codec.bitstream import FramePayload
    from vidgen_codec.bitstream.ids import FrameType
    from vidgen_codec.errors import FormatError
    from vidgen_codec.stem_gop import unpack_gop

    streams = list(gop.streams)
    data = bytearray(streams[stream])
    if cut:
        data = data[:at % (len(data) + 1)]
    elif data:
        data[at % len(data)] = value
    streams[stream] = bytes(data)
    try:
        h, frames = unpack_gop(FramePayload(0, FrameType.I, 0, streams))
    except FormatError:
        return
    assert len(frames) == h.frames and len(h.modes) == (h.gaps() if h.synth else 0)
