"""STEM with the av1 backbone: colour conversion, GOP layout, round trips, determinism,
scene cuts, rate control and refusing malformed files."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
import torch

from conftest import run_python, synthetic_frames, write_clip
from vidgen_codec import api, metrics
from vidgen_codec.bitstream import ContainerReader, ContainerWriter, FramePayload
from vidgen_codec.bitstream.ids import ChunkType, FrameType
from vidgen_codec.codecs.stem import StemCodec
from vidgen_codec.errors import FormatError, InputError
from vidgen_codec.info import describe
from vidgen_codec.pictures.yuv420 import rgb_to_yuv420, upsample2x, yuv420_to_rgb
from vidgen_codec.stem_gop import (BackboneConfig, GopHeader, pack_gop, split_units,
                                   unpack_gop)
from vidgen_codec.video_io import read_frames


def two_shots(width=96, height=64, count=24, cut=12):
    """A smooth pan, then a hard cut to another smooth scene."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for t in range(count):
        if t < cut:
            r = 128 + 100 * np.sin((xx + 2 * t) / 9.0)
            img = np.stack([r, 0.5 * r + 60, 200 - 0.5 * r], -1)
        else:
            g = 128 + 90 * np.cos((yy + t) / 6.0) * np.sin(xx / 13.0)
            img = np.stack([255 - g, g, 40 + 0 * g], -1)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def test_yuv420_flat_colours_round_trip_exactly():
    for rgb in [(0, 0, 0), (255, 255, 255), (128, 128, 128), (16, 200, 40)]:
        img = np.full((8, 6, 3), rgb, np.uint8)
        back = yuv420_to_rgb(rgb_to_yuv420(img), 8, 6)
        assert np.abs(back.astype(int) - img).max() <= 1


def test_yuv420_compiled_path_gives_the_numpy_samples():
    rng = np.random.default_rng(0)
    for h, w in [(2, 2), (6, 10), (36, 64), (98, 130)]:
        for extreme in (False, True):  # extreme: only 0 and 255, the ends of every sum
            draw = ((lambda shape: rng.choice(np.array([0, 255], np.uint8), shape)) if extreme
                    else (lambda shape: rng.integers(0, 256, shape, dtype=np.uint8)))
            planes = draw((h * 3 // 2, w))
            np.testing.assert_array_equal(yuv420_to_rgb(planes, h, w, compiled=True),
                                          yuv420_to_rgb(planes, h, w, compiled=False))
            c = draw((h, w)).astype(np.int32)
            np.testing.assert_array_equal(upsample2x(c, compiled=True),
                                          upsample2x(c, compiled=False))
            rgb = draw((h, w, 3))
            rgb[0, 0] = (255, 0, 255)  # the clipped corners of the chroma range
            rgb[-1, -1] = (0, 255, 0)
            np.testing.assert_array_equal(rgb_to_yuv420(rgb, compiled=True),
                                          rgb_to_yuv420(rgb, compiled=False))


def test_yuv420_tier_converts_with_numpy_then_compiled():
    """A process converts with numpy until TIER_PIXELS pixels (here 3 frames' worth), then
    with the kernels; in a fresh process, so that no other kernel has loaded Numba."""
    code = """
import sys
import numpy as np
from vidgen_codec import jit
from vidgen_codec.pictures import yuv420, yuv420_jit
calls = []
real = yuv420_jit.yuv420_to_rgb_kernel
yuv420_jit.yuv420_to_rgb_kernel = lambda *a: calls.append(1) or real(*a)
yuv420._TIER = jit.Tier(3 * 36 * 64)
planes = np.random.default_rng(1).integers(0, 256, (54, 64), dtype=np.uint8)
outs = [yuv420.yuv420_to_rgb(planes, 36, 64) for _ in range(5)]
assert len(calls) == (2 if jit.AVAILABLE else 0), calls  # the 4th and 5th conversions
assert all((o == outs[0]).all() for o in outs)
"""
    run_python(code)


def test_yuv420_chroma_upsampling_is_centre_sited():
    c = np.array([[0, 16], [32, 48]])
    up = upsample2x(c)
    assert up.shape == (4, 4) and up[0, 0] == 0 and up[3, 3] == 48
    assert up[1, 1] == (9 * 0 + 3 * 16 + 3 * 32 + 48 + 8) >> 4


def _unit(k: int) -> bytes:
    """A temporal unit: temporal delimiter OBU, then a frame OBU of k + 1 payload bytes."""
    return b"\x12\x00" + bytes([0x32, k + 1]) + bytes(range(k + 1))


def test_gop_layout_round_trips_and_refuses_malformed_layouts():
    head = GopHeader(2, 5, 2, refine_mask=0b101)  # backbones 0, 2, 4
    assert head.positions() == [0, 2, 4]
    predicted = b"\x20"  # a PREDICTED field: its flags byte alone
    coded = b"\x01\x07\x08\x09"  # flags (not PREDICTED), then entropy-coded bytes
    parts = [FramePayload(0, FrameType.I, 0, [_unit(0)]),
             FramePayload(2, FrameType.P, 0, [coded, _unit(1)]),
             FramePayload(1, FrameType.M, 0, [predicted, coded, b""]),
             FramePayload(4, FrameType.P, 0, [predicted, _unit(2)]),
             FramePayload(3, FrameType.M, 0, [coded, predicted, b"\x03\x04"])]
    gop = pack_gop(0, head, parts)
    assert gop.streams[1] == _unit(0) + _unit(1) + _unit(2)  # one AV1 stream, no lengths
    # motion: coded field (flags, length - 1, rest), predicted fields alone, modes with length
    assert gop.streams[2] == (b"\x01\x03\x07\x08\x09" + b"\x20" + b"\x01\x03\x07\x08\x09"
                              + b"\x00" + b"\x20" + b"\x01\x03\x07\x08\x09" + b"\x20"
                              + b"\x02\x03\x04")
    assert unpack_gop(gop) == (head, parts)
    with pytest.raises(FormatError, match="streams"):
        unpack_gop(FramePayload(0, FrameType.I, 0, gop.streams[:-1]))
    for motion, what in ((gop.streams[2][:-1], "run past"), (gop.streams[2] + b"\x00", "left"),
                         (b"\x01\xff", "motion stream length")):
        with pytest.raises(FormatError, match=what):
            unpack_gop(FramePayload(0, FrameType.I, 0, gop.streams[:2] + [motion]))
    for units, what in ((_unit(0) + _unit(1), "temporal units"), (_unit(0)[2:], "delimiter"),
                        (gop.streams[1][:-1], "truncated"), (b"\x80\x00", "OBU header")):
        with pytest.raises(FormatError, match=what):
            unpack_gop(FramePayload(0, FrameType.I, 0, [gop.streams[0], units] + gop.streams[2:]))
    for bad in (b"", b"\x02\x05\x02\x00", b"\x00\x05\x05\x00", b"\x00\x00\x01\x00",
                b"\x00\x05\x02\x00\x00", b"\x00\x05\x02"):
        with pytest.raises(FormatError, match="GOP header"):
            unpack_gop(FramePayload(0, FrameType.I, 0, [bad] + gop.streams[1:]))


def test_backbone_config_refuses_unknown_values():
    assert BackboneConfig.unpack(None).coder == 0 and BackboneConfig.unpack(b"\x00").coder == 0
    good = BackboneConfig(1).pack()
    assert BackboneConfig.unpack(good).coder == 1
    for bad in (b"\x02", good[:3], good[:3] + b"\x01", b"\x01\x0e\x02\x00", b""):
        with pytest.raises(FormatError, match="codec config"):
            BackboneConfig.unpack(bad)


@pytest.fixture(scope="module")
def coded(tmp_path_factory, stem_weights):
    d = tmp_path_factory.mktemp("av1")
    clip = write_clip(str(d / "clip.mkv"), synthetic_frames(96, 64, 14), Fraction(25))
    out = d / "a.vgc"
    api.encode(clip, str(out), bpp=0.3, weights=stem_weights, refine=False, progress=False)
    return clip, out, d


def test_av1_backbone_round_trip_is_deterministic(coded, stem_weights):
    clip, out, d = coded
    again = d / "b.vgc"
    api.encode(clip, str(again), bpp=0.3, weights=stem_weights, refine=False, progress=False)
    assert out.read_bytes() == again.read_bytes()
    with ContainerReader(out) as rd:
        assert BackboneConfig.unpack(rd.codec_config).coder == 1
        chunks = list(rd.iter_frames())
    assert all(c.payload.frame_type == FrameType.I for c in chunks)
    decoded = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        api.decode(str(out), str(d / f"d{threads}.mkv"), weights=stem_weights, progress=False)
        decoded.append(np.stack(list(read_frames(str(d / f"d{threads}.mkv")))))
    assert np.array_equal(decoded[0], decoded[1])
    orig = np.stack(list(read_frames(clip)))
    assert decoded[0].shape == orig.shape
    assert metrics.psnr(decoded[0], orig) > 24


def test_info_expands_av1_gops_and_reports_overhead(coded):
    _, out, _ = coded
    d = describe(str(out))
    assert d["backbone"] == "av1" and len(d["frame_types"]) == 14
    assert d["frame_types"][0] == "I" and set(d["frame_types"]) <= {"I", "P", "M"}
    assert sum(f["bytes"] for f in d["per_frame"]) == d["chunks"]["BACKBONE_FRAME"]["bytes"]
    assert 0 < d["overhead_bytes"] < d["bytes"]
    q = [f["qindex"] for f in d["per_frame"]]  # the AV1 quantiser of each backbone frame
    assert all((v is None) == (f["type"] == "M") for v, f in zip(q, d["per_frame"]))
    known = [v for v in q if v is not None]
    assert d["av1_qindex"]["frames"] == len(known) and 0 <= min(known) <= max(known) <= 255
    assert sum(g["gops"] for g in d["av1_gops"]) == d["chunks"]["BACKBONE_FRAME"]["count"]
    assert all("gop" not in f for f in d["per_frame"])


def test_fixed_structure_with_motion_frames_and_half_scale(tmp_path, stem_weights):
    clip = write_clip(str(tmp_path / "c.mkv"), synthetic_frames(96, 64, 9), Fraction(25))
    out = tmp_path / "s.vgc"
    api.encode(clip, str(out), bpp=0.2, weights=stem_weights, refine=False, progress=False,
               gop=9, backbone_interval=4, backbone_scale=2)
    d = describe(str(out))
    assert d["frame_types"] == "IMMMPMMMP"
    assert [(g["interval"], g["scale"]) for g in d["av1_gops"]] == [(4, 2)]
    api.decode(str(out), str(tmp_path / "s.mkv"), weights=stem_weights, progress=False)
    dec = np.stack(list(read_frames(str(tmp_path / "s.mkv"))))
    assert metrics.psnr(dec, np.stack(list(read_frames(clip)))) > 18


def test_scene_cut_starts_a_gop_and_no_frame_after_it_is_smeared(tmp_path, stem_weights):
    frames = two_shots()
    clip = write_clip(str(tmp_path / "cut.mkv"), frames, Fraction(25))
    out = tmp_path / "cut.vgc"
    api.encode(clip, str(out), bpp=0.3, weights=stem_weights, refine=False, progress=False)
    with ContainerReader(out) as rd:
        starts = [e.frame_index for e in rd.read_index()]
    assert 12 in starts
    api.decode(str(out), str(tmp_path / "cut.mkv.mkv"), weights=stem_weights, progress=False)
    dec = list(read_frames(str(tmp_path / "cut.mkv.mkv")))
    q = metrics.psnr_per_frame(dec, frames)
    second = q[12:]
    assert min(second) > np.median(second) - 3


def test_rate_control_meets_the_target(tmp_path, stem_weights):
    clip = write_clip(str(tmp_path / "r.mkv"), synthetic_frames(128, 96, 20), Fraction(25))
    for bpp in (0.1, 0.3):
        rep = api.encode(clip, str(tmp_path / "r.vgc"), bpp=bpp, weights=stem_weights,
                         refine=False, progress=False)
        assert abs(rep.bpp - bpp) <= 0.05 * bpp, (bpp, rep.bpp)


def _rebuild(src, dst, *, config=None, payloads=None):
    """Write src again with another codec config and/or other frame payloads."""
    from dataclasses import replace as dc_replace

    from vidgen_codec.bitstream import ContainerWriter

    with ContainerReader(src) as rd:
        hdr = rd.header
        frames = [c.payload for c in rd.iter_frames()]
    with ContainerWriter(dst) as w:
        w.write_sequence_header(hdr if config is None else dc_replace(hdr, codec_config=config))
        for k, p in enumerate(payloads or frames):
            w.write_frame(ChunkType.BACKBONE_FRAME, p, gop_start=True)
        w.finish(hdr.frame_count)
    return frames


def test_malformed_av1_files_are_refused(coded, stem_weights, tmp_path):
    _, out, _ = coded
    bad = tmp_path / "bad.vgc"
    frames = _rebuild(out, bad)  # a faithful copy decodes
    api.decode(str(bad), str(tmp_path / "ok.mkv"), weights=stem_weights, progress=False)
    _rebuild(out, bad, config=b"\x07")
    with pytest.raises(FormatError, match="codec config"):
        api.decode(str(bad), str(tmp_path / "x.mkv"), weights=stem_weights, progress=False)
    assert not (tmp_path / "x.mkv").exists()
    hdr_frames = ContainerReader(out).header.frame_count
    short = tmp_path / "short.vgc"  # a header that claims fewer frames than the GOP holds
    from dataclasses import replace as dc_replace
    from vidgen_codec.bitstream import ContainerWriter

    with ContainerReader(out) as rd, ContainerWriter(short) as w:
        w.write_sequence_header(dc_replace(rd.header, frame_count=0))
        for c in rd.iter_frames():
            w.write_frame(ChunkType.BACKBONE_FRAME, c.payload, gop_start=True)
        w.finish(hdr_frames - 3)
    with pytest.raises(FormatError, match="frames"):
        api.decode(str(short), str(tmp_path / "z.mkv"), weights=stem_weights, progress=False)
    with pytest.raises(FormatError, match="frames"):
        describe(str(short))
    assert not (tmp_path / "z.mkv").exists()
    p = frames[0]
    units = split_units(p.streams[1])
    damaged = bytearray(units[0])
    damaged[len(damaged) // 2:] = bytes(len(damaged) - len(damaged) // 2)  # zeroed, same size
    for av1 in (p.streams[1][: len(p.streams[1]) // 3], b"\x12\x00" * len(units),
                bytes(damaged) + b"".join(units[1:]), b""):
        broken = FramePayload(p.frame_index, p.frame_type, 0, [p.streams[0], av1] + p.streams[2:])
        _rebuild(out, bad, payloads=[broken] + frames[1:])
        with pytest.raises(FormatError, match="AV1"):
            api.decode(str(bad), str(tmp_path / "y.mkv"), weights=stem_weights, progress=False)
        assert not (tmp_path / "y.mkv").exists()


@pytest.mark.parametrize("backbone, version", [("learned", (1, 0)), ("av1", (1, 1))])
def test_format_1_files_still_decode(tmp_path, stem_weights, backbone, version):
    """Files in the 1.0 (learned backbone) and 1.1 (av1) layouts decode to the frames of the
    same streams in 2.0."""
    clip = write_clip(str(tmp_path / "c.mkv"), synthetic_frames(64, 48, 6), Fraction(25))
    new = tmp_path / "new.vgc"
    api.encode(clip, str(new), bpp=0.5, weights=stem_weights, backbone=backbone,
               refine=False, progress=False)
    assert new.read_bytes()[4:6] == b"\x02\x00"
    old = tmp_path / "old.vgc"
    sha = StemCodec.load(stem_weights).legacy_weights_sha256  # what 1.x files hold
    with ContainerReader(new) as rd, ContainerWriter(old, version=version) as w:
        w.write_sequence_header(dataclasses.replace(rd.header, weights_sha256=sha))
        index = {e.offset for e in rd.read_index()}
        for c in rd.iter_frames():
            w.write_frame(c.chunk_type, c.payload, gop_start=c.offset in index)
        w.finish(rd.header.frame_count)
    with ContainerReader(old) as rd:
        assert rd.version == version and (rd.codec_config is None) == (backbone == "learned")
        assert old.stat().st_size > new.stat().st_size
    for f in (new, old):
        api.decode(str(f), str(f) + ".mkv", weights=stem_weights, progress=False)
    a, b = (np.stack(list(read_frames(str(f) + ".mkv"))) for f in (new, old))
    assert np.array_equal(a, b)


def test_backbone_preset_is_chosen_and_recorded(tmp_path, stem_weights):
    """--preset sets SVT-AV1's preset of the backbone; it is recorded in the codec config."""
    from vidgen_codec.stem_gop import BackboneConfig

    clip = write_clip(str(tmp_path / "p.mkv"), synthetic_frames(64, 48, 4), Fraction(25))
    out = tmp_path / "p.vgc"
    api.encode(clip, str(out), bpp=0.5, weights=stem_weights, refine=False, fast=True,
               preset=10, progress=False)
    with ContainerReader(out) as rd:
        assert BackboneConfig.unpack(rd.codec_config).av1.preset == 10
    api.decode(str(out), str(tmp_path / "p.mkv2.mkv"), weights=stem_weights, progress=False)
    for bad, kw in ((14, {}), (4, {"backbone": "learned"})):
        with pytest.raises(InputError, match="preset"):
            api.encode(clip, str(tmp_path / "q.vgc"), bpp=0.5, weights=stem_weights,
                       refine=False, preset=bad, progress=False, **kw)
