"""video_io / video_writer / frames: reading, slicing, writing round trips, atomicity, errors."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from vidgen_codec.errors import InputError
from vidgen_codec.frames import crop, pad_to_multiple, to_tensor, to_uint8
from vidgen_codec.metrics import psnr, psnr_y
from vidgen_codec.video_io import (DEFAULT_FPS, RawSpec, VideoWriter, check_output_path, probe,
                                   read_frames)


def max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    assert len(a) == len(b)
    return max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a, b))


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# --- reading ------------------------------------------------------------------------------

def test_read_mkv_exact(mkv_clip):
    info = probe(mkv_clip.path)
    assert (info.width, info.height, info.fps) == (64, 48, Fraction(25))
    assert info.frame_count == 10 and info.pix_fmt == "bgr0"  # mkv: counted from packets
    frames = list(read_frames(mkv_clip.path))
    assert frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    assert_same(frames, mkv_clip.frames)


def test_read_odd_size_ntsc_rate(odd_mkv_clip):
    info = probe(odd_mkv_clip.path)
    assert (info.width, info.height, info.fps) == (37, 29, Fraction(30000, 1001))
    assert_same(list(read_frames(odd_mkv_clip.path)), odd_mkv_clip.frames)


def test_read_mp4_and_y4m(mp4_clip, y4m_clip):
    assert probe(mp4_clip.path).frame_count == 10
    assert max_diff(list(read_frames(mp4_clip.path)), mp4_clip.frames) <= 3
    info = probe(y4m_clip.path)
    assert (info.fps, info.pix_fmt) == (Fraction(25), "yuv420p")
    frames = list(read_frames(y4m_clip.path))
    assert len(frames) == 10 and psnr_y(frames, y4m_clip.frames) > 45  # chroma is 4:2:0


@pytest.mark.parametrize("name,codec,pix_fmt", [
    ("a.webm", "libvpx-vp9", "yuv420p"), ("a.avi", "mjpeg", "yuvj420p"),
    ("a.mov", "mpeg4", "yuv420p"), ("a.mkv", "libx264", "yuv420p")])
def test_read_other_formats(make_clip, name, codec, pix_fmt):
    clip = make_clip(name, count=5, fps=Fraction(30000, 1001), codec=codec, pix_fmt=pix_fmt)
    assert probe(clip.path).fps == Fraction(30000, 1001)
    frames = list(read_frames(clip.path))
    assert len(frames) == 5 and psnr_y(frames, clip.frames) > 25


@pytest.mark.parametrize("kind", ["mkv", "mp4", "raw"])
def test_start_count(kind, mkv_clip, mp4_clip, make_raw_clip):
    if kind == "raw":
        clip = make_raw_clip("rgb24", count=10)
        path, raw, every = clip.path, clip.spec, clip.frames
    else:
        clip = mkv_clip if kind == "mkv" else mp4_clip
        path, raw, every = clip.path, None, list(read_frames(clip.path))
    assert_same(list(read_frames(path, start=3, count=4, raw=raw)), every[3:7])
    assert_same(list(read_frames(path, start=7, raw=raw)), every[7:])
    assert_same(list(read_frames(path, start=8, count=50, raw=raw)), every[8:])  # clipped
    assert list(read_frames(path, count=0, raw=raw)) == []
    with pytest.raises(InputError, match="beyond the end"):
        list(read_frames(path, start=10, raw=raw))


@pytest.mark.parametrize("pix_fmt,width,height", [
    ("yuv420p", 64, 48), ("yuv420p", 37, 29), ("yuv444p", 37, 29), ("gray", 64, 48)])
def test_raw_yuv_matches_ffmpeg(make_raw_clip, pix_fmt, width, height):
    clip = make_raw_clip(pix_fmt, width, height)
    info = probe(clip.path, clip.spec)
    assert (info.width, info.height, info.frame_count) == (width, height, 6)
    ours, ffmpeg = list(read_frames(clip.path, raw=clip.spec)), list(read_frames(clip.y4m_twin))
    assert_same(ours, ffmpeg)
    assert_same(list(read_frames(clip.path, start=4, raw=clip.spec)), ffmpeg[4:])  # seek


def test_raw_rgb24_exact(make_raw_clip):
    clip = make_raw_clip("rgb24", 37, 29)
    assert_same(list(read_frames(clip.path, raw=clip.spec)), clip.frames)


def test_image_folder_input(tmp_path, make_frames):
    from PIL import Image

    frames = make_frames(20, 10, 3)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / f"frame_{i:06d}.png")
    info = probe(tmp_path)
    assert (info.width, info.height, info.frame_count, info.fps) == (20, 10, 3, DEFAULT_FPS)
    assert_same(list(read_frames(tmp_path, start=1)), frames[1:])


# --- writing ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["out.mkv", "out.y4m", "out.mp4", "out/", "frames"])
@pytest.mark.parametrize("size,fps", [((64, 48), Fraction(25)), ((37, 29), Fraction(30000, 1001))])
def test_writer_round_trip(tmp_path, target, size, fps, make_frames):
    width, height = size
    frames = make_frames(width, height, 7)
    path = str(tmp_path / target)
    with VideoWriter(path, width, height, fps) as writer:
        for f in frames:
            writer.write(f)
    assert writer.frames_written == 7
    decoded = list(read_frames(path))
    assert len(decoded) == 7
    info = probe(path)
    assert (info.width, info.height) == (width, height)
    is_folder = target.endswith("/") or "." not in target
    assert info.fps == (DEFAULT_FPS if is_folder else fps)  # a PNG folder stores no rate
    if is_folder or target.endswith(".mkv"):
        assert_same(decoded, frames)  # lossless
    else:
        # y4m: 8-bit YUV rounding only; mp4: crf 6 on noisy frames, 4:2:0 chroma at even sizes
        assert psnr(decoded, frames) > (45 if target.endswith(".y4m") else 25)
        assert psnr_y(decoded, frames) > 40
    assert sorted(os.listdir(tmp_path)) == [target.rstrip("/")]  # no temporary left


def test_mkv_is_bit_exact_on_random_rgb(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 256, (29, 37, 3), dtype=np.uint8)
              for i in range(3)]
    for target in ("r.mkv", "r/"):
        with VideoWriter(tmp_path / target, 37, 29, Fraction(24)) as writer:
            for f in frames:
                writer.write(f)
        assert_same(list(read_frames(tmp_path / target)), frames)


@pytest.mark.parametrize("target", ["out.mkv", "out.mp4", "out/"])
def test_writer_is_atomic(tmp_path, target, make_frames):
    frames = make_frames(16, 16, 2)
    path = str(tmp_path / target)
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 16, 16, Fraction(25)) as writer:
            writer.write(frames[0])
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []  # no output, no temporary
    with VideoWriter(path, 16, 16, Fraction(25)):
        pass  # nothing written: nothing published
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_old_output(tmp_path, mkv_clip):
    before = open(mkv_clip.path, "rb").read()
    with pytest.raises(ValueError):
        with VideoWriter(mkv_clip.path, 64, 48, Fraction(25)) as writer:
            writer.write(np.zeros((10, 10, 3), np.uint8))  # wrong size
    assert open(mkv_clip.path, "rb").read() == before


def test_png_folder_replaces_previous_frames(tmp_path, make_frames):
    out = tmp_path / "dec"
    for count in (4, 2):
        with VideoWriter(out, 8, 8, Fraction(25)) as writer:
            for f in make_frames(8, 8, count):
                writer.write(f)
    assert sorted(os.listdir(out)) == ["frame_000000.png", "frame_000001.png"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="other files"):
        VideoWriter(out, 8, 8, Fraction(25))


@pytest.mark.parametrize("name,message", [("a.png", "folder"), ("a.avi", "unsupported output")])
def test_bad_output_paths(tmp_path, name, message):
    with pytest.raises(InputError, match=message):
        check_output_path(str(tmp_path / name))
    with pytest.raises(InputError, match=message):
        VideoWriter(str(tmp_path / name), 8, 8, Fraction(25))


# --- errors -------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(InputError, match="not found"):
        read_frames(tmp_path / "nope.mp4")


def test_text_file_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("hello\n" * 50)
    with pytest.raises(InputError, match="not a video"):
        probe(path)
    with pytest.raises(InputError, match="not a video"):
        read_frames(path)


def test_audio_only_file(tmp_path):
    path = str(tmp_path / "tone.wav")
    with av.open(path, "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(InputError, match="no video stream"):
        read_frames(path)


def test_zero_frame_video(tmp_path):
    path = tmp_path / "empty.y4m"
    path.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n")
    assert probe(path).width == 64
    with pytest.raises(InputError, match="has no video frames"):
        list(read_frames(path))


def test_truncated_mp4_never_raises_av_errors(mp4_clip, tmp_path):
    data = open(mp4_clip.path, "rb").read()
    for cut in (40, len(data) // 2):
        path = tmp_path / f"cut{cut}.mp4"
        path.write_bytes(data[:cut])
        try:
            list(read_frames(path))
        except InputError:
            pass


def test_raw_errors(tmp_path):
    path = tmp_path / "clip.yuv"
    path.write_bytes(bytes(64 * 48 * 3 // 2 * 2 + 5))
    with pytest.raises(InputError, match="needs --size and --fps"):
        probe(path)
    with pytest.raises(InputError, match="not a multiple"):
        read_frames(path, raw=RawSpec(64, 48, Fraction(25)))
    with pytest.raises(InputError, match="unsupported raw pixel format"):
        probe(path, RawSpec(64, 48, Fraction(25), "nv12"))
    path.write_bytes(b"")
    with pytest.raises(InputError, match="no video frames"):
        read_frames(path, raw=RawSpec(64, 48, Fraction(25)))


# --- frames.py ----------------------------------------------------------------------------

def test_tensor_round_trip_and_padding(make_frames):
    frames = make_frames(37, 29, 2)
    x = to_tensor(frames)
    assert x.shape == (2, 3, 29, 37) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert_same(to_uint8(x), frames)
    assert_same(to_uint8(x + 0.4 / 255), frames)  # rounds
    assert to_uint8(x * 3 - 1)[0].dtype == np.uint8  # clamps
    padded, (h, w) = pad_to_multiple(x, 16)
    assert padded.shape == (2, 3, 32, 48) and (h, w) == (29, 37)
    assert torch.equal(padded[..., 31, :37], x[..., 28, :])  # replicated bottom row
    assert torch.equal(crop(padded, h, w), x)
    assert pad_to_multiple(x[..., :16, :32], 16)[0].shape == (2, 3, 16, 32)
