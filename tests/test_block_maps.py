"""Block mode maps of synthesised GOPs (issue 30, part 1): the section's layout and its
refusals, the per-block rebuild against its plain definition, and files with maps decoded bit
exactly (motion/block_modes.py, codecs/stem/block_maps.py; bitstream_spec.md, stem, "Block
mode maps")."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import decoded_digests, synthetic_frames, write_clip
from test_stem_synth import textured
from vidgen_codec import api
from vidgen_codec.bitstream import ContainerReader, FramePayload
from vidgen_codec.bitstream.ids import FrameType
from vidgen_codec.codecs.stem import block_maps
from vidgen_codec.entropy.rans_cpu import VgcRansCpu
from vidgen_codec.errors import FormatError
from vidgen_codec.info import describe
from vidgen_codec.motion import bilateral, block_modes
from vidgen_codec.stem_gop import BLEND, MOTION, GopHeader, pack_gop, unpack_gop
from vidgen_codec.video_io import read_frames
from vidgen_codec.codecs.stem import chosen_gop

RANS = VgcRansCpu()


def _maps(g, hb, wb, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice(4, size=(g, hb, wb), p=[0.85, 0.05, 0.05, 0.05]).astype(np.int32)


@pytest.mark.parametrize("block", block_modes.BLOCKS)
def test_sections_round_trip(block):
    hp, wp = 72, 100
    hb, wb = block_modes.grid(hp, wp, block)
    maps = _maps(3, hb, wb)
    data = block_modes.pack(block, maps, RANS)
    got_block, got = block_modes.unpack(data, 3, hp, wp, RANS)
    assert got_block == block and np.array_equal(got, maps)
    f = block_modes.frequencies(maps)
    assert sum(f) == 65535 and min(f) >= 1


def test_malformed_sections_are_format_errors():
    hp, wp = 48, 64
    maps = _maps(2, 3, 4, seed=1)
    good = block_modes.pack(16, maps, RANS)
    escaped = bytes([0]) + good[1:4] + RANS.encode(  # a symbol 4: the table's escape
        np.array([0, 4] + [0] * 22, np.int32), np.zeros(24, np.int32),
        block_modes.table(block_modes.frequencies(maps)))
    bad = {
        "block code": bytes([3]) + good[1:],
        "frequencies": bytes([0]) + b"\x00" + good[2:],  # f1 = 0
        "too few symbols": good[:-2],
        "bytes past": good + b"\x00\x00",
        "no symbols": good[:4],
        "escape": escaped,
    }
    for why, data in bad.items():
        with pytest.raises(FormatError):
            block_modes.unpack(data, 2, hp, wp, RANS)
    with pytest.raises(FormatError, match="no maps"):
        block_modes.parse_header(good, 0)
    with pytest.raises(FormatError):  # 3 intervals declared, 2 coded
        block_modes.unpack(good, 3, hp, wp, RANS)


def test_absolute_modes_follow_the_interval_bit():
    sym = np.arange(4)
    assert block_modes.absolute(sym, MOTION).tolist() == [1, 0, 2, 3]
    assert block_modes.absolute(sym, BLEND).tolist() == [0, 1, 2, 3]
    for mode in (BLEND, MOTION):
        symbol_of = np.argsort(block_modes.absolute(sym, mode))  # absolute mode -> symbol
        assert np.array_equal(symbol_of[block_modes.absolute(sym, mode)], sym)


def test_block_errors_are_the_four_rebuilds_squared_errors():
    h, w, n = 40, 56, 4
    b0, b1, real = textured(h, w, 1), textured(h, w, 2), textured(h, w, 3)
    s = bilateral.smooth_sum(bilateral.estimate(b0, b1), h, w)
    err = np.zeros((4, 3, 4), np.int64)
    for m in range(1, n):
        o0, o1 = bilateral.offsets(s, m, n)
        whole = [bilateral.blend(b0, b1, m, n), bilateral.interpolate(b0, b1, s, m, n)]
        for img, o in ((b0, o0), (b1, o1)):  # one side's sample alone: V0, V1 of the spec
            f = np.empty_like(b0)
            bilateral._interp(img, img, o, o, m, n, f)
            whole.append(f)
        bilateral.block_errors(b0, b1, s, m, n, real[:37, :50], 16, err)
        for k in range(4):
            d = (whole[k][:37, :50].astype(np.int64) - real[:37, :50]) ** 2
            d = np.pad(d.sum(2), ((0, 48 - 37), (0, 64 - 50)))
            err[k] -= d.reshape(3, 16, 4, 16).sum((1, 3))
    assert not err.any()


def test_the_map_choice_prices_bits_and_lowers_the_error():
    h, w = 48, 64
    frames = [textured(h, w, k) for k in range(5)]
    backs = [frames[0], frames[4]]
    head = GopHeader(1, 5, 4, synth=True, modes=(MOTION,))
    sym, _ = block_maps.choose(backs, [0, 4], head.modes, frames, h, w, gop_bytes=1)
    assert sym is None  # a bit priced above any block's gain: no block leaves its mode
    sym, fields = block_maps.choose(backs, [0, 4], head.modes, frames, h, w, gop_bytes=10**6)
    hb, wb = block_modes.grid(h, w, block_maps.BLOCK)
    assert sym is not None and sym.shape == (1, hb, wb)
    head = replace(head, maps=block_maps.section(sym))
    rec = block_maps.rebuilt(head, backs, h, w)
    assert len(rec) == 5
    assert all(np.array_equal(a, b) for a, b in  # the fields handed on are the ones it finds
               zip(rec, block_maps.rebuilt(head, backs, h, w, fields)))
    sse = lambda fs: sum(int(((f.astype(np.int64) - o) ** 2).sum()) for f, o in zip(fs, frames))
    mv = [backs[0]] + [bilateral.interpolate(backs[0], backs[1], block_maps.sd.motion_field(
        *backs), m, 4) for m in (1, 2, 3)] + [backs[1]]
    assert sse(rec) < sse(mv)  # the chosen blocks lower the error


def _gop_with_maps(g=3, seed=2):
    head = GopHeader(2, 11, 4, synth=True, lanczos=True, modes=(MOTION, BLEND, MOTION)[:g])
    head = replace(head, maps=block_modes.pack(16, _maps(g, 3, 4, seed), RANS))
    units = [b"\x12\x00" + bytes([0x32, 1, k]) for k in range(4)]
    parts = [FramePayload(0, FrameType.I, 0, [units[0]])]
    for k, (a, b) in enumerate([(0, 4), (4, 8), (8, 10)]):
        parts += [FramePayload(i, FrameType.M, 0, []) for i in range(a + 1, b)]
        parts.append(FramePayload(b, FrameType.P, 0, [units[k + 1]]))
    return head, pack_gop(0, head, parts)


def test_gop_chunks_carry_maps_after_the_mode_bits():
    head, gop = _gop_with_maps()
    assert gop.streams[2][:1] == b"\x05" and gop.streams[2][1:] == head.maps
    back, _ = unpack_gop(gop)
    assert back == head
    bad = gop.streams[2][:1] + bytes([7]) + gop.streams[2][2:]
    with pytest.raises(FormatError, match="block mode maps"):
        unpack_gop(FramePayload(0, FrameType.I, 0, [gop.streams[0], gop.streams[1], bad]))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 60), st.integers(0, 255), st.booleans())
def test_fuzzed_map_sections_decode_or_raise_format_errors(at, value, cut):
    head, gop = _gop_with_maps()
    data = bytearray(gop.streams[2])
    if cut:
        data = data[:at % (len(data) + 1)]
    else:
        data[at % len(data)] = value
    try:
        h, _ = unpack_gop(FramePayload(0, FrameType.I, 0, [gop.streams[0], gop.streams[1],
                                                            bytes(data)]))
        if h.maps:
            _, maps = block_modes.unpack(h.maps, h.gaps(), 48, 64, RANS)
            assert maps.shape == (3, 3, 4) and maps.min() >= 0 and maps.max() <= 3
    except FormatError:
        return


@pytest.fixture(scope="module")
def mapped_file(tmp_path_factory):
    """A clip coded with synthesised GOPs whose maps the encoder is made to keep (all four
    symbols in a fixed pattern), so that the decoder's block path runs."""
    d = tmp_path_factory.mktemp("maps")
    clip = write_clip(str(d / "c.mkv"), synthetic_frames(96, 64, 13), Fraction(25))
    mp = pytest.MonkeyPatch()
    chosen = []

    def pattern(backs, pos, modes, originals, h, w, gop_bytes):
        hb, wb = block_modes.grid(*backs[0].shape[:2], block_maps.BLOCK)
        sym = (np.arange(len(modes) * hb * wb) % 4).reshape(len(modes), hb, wb)
        chosen.append((sym, backs[0].shape[:2]))
        return sym.astype(np.int32), None

    with_maps = chosen_gop.with_maps

    def kept(st_, c, originals):
        got = with_maps(st_, c, originals)
        return None if got is None else replace(got, score=got.score + 100)

    mp.setattr(block_maps, "choose", pattern)
    mp.setattr(chosen_gop, "with_maps", kept)
    kw = dict(bpp=0.05, refine=False, progress=False, backbone_interval=4, backbone_scale=2)
    try:
        api.encode(clip, str(d / "m.vgc"), **kw)
        api.encode(clip, str(d / "m2.vgc"), **kw)
    finally:
        mp.undo()
    return d, clip, chosen


def test_a_file_with_maps_decodes_bit_exactly_and_as_the_encoder_rebuilt_it(mapped_file):
    d, clip, chosen = mapped_file
    assert (d / "m.vgc").read_bytes() == (d / "m2.vgc").read_bytes()  # encoding is repeatable
    info = describe(str(d / "m.vgc"))
    assert [g["block_maps"] for g in info["av1_gops"]] == [True]
    with ContainerReader(str(d / "m.vgc")) as rd:
        head, parts = unpack_gop(next(rd.iter_frames()).payload)
    sym, (hp, wp) = chosen[-1]  # the padded frame's size
    assert np.array_equal(block_modes.unpack(head.maps, head.gaps(), hp, wp, RANS)[1], sym)
    digests = decoded_digests(d / "m.vgc", d)
    assert all(x == digests[0] for x in digests) and len(digests[0]) == 13
    # the decoder's frames are those the encoder scored (`block_maps.rebuilt`)
    from vidgen_codec.codecs.stem import backbone as bb

    units = [p.streams[-1] for p in parts if p.frame_type != FrameType.M]

    class St:
        height, width = 64, 96

    backs = bb.backbone_pictures(units, head.scale, St, hp, wp, head.lanczos)
    api.decode(str(d / "m.vgc"), str(d / "d.mkv"), progress=False)
    dec = np.stack(list(read_frames(str(d / "d.mkv"))))
    assert np.array_equal(dec, np.stack(block_maps.rebuilt(head, backs, 64, 96)))


def test_a_truncated_map_section_fails_cleanly(mapped_file, tmp_path):
    d, _, _ = mapped_file
    data = (d / "m.vgc").read_bytes()
    with ContainerReader(str(d / "m.vgc")) as rd:
        head, _ = unpack_gop(next(rd.iter_frames()).payload)
    at = data.find(head.maps)
    assert at > 0
    bad = tmp_path / "bad.vgc"
    bad.write_bytes(data[:at] + bytes([9]) + data[at + 1:])  # block code 9
    with pytest.raises(FormatError):
        api.decode(str(bad), str(tmp_path / "o.mkv"), progress=False)
    assert not (tmp_path / "o.mkv").exists()


def test_overlapped_blocks_are_their_definition():
    """Each sample mixes the modes of the 2 x 2 block centres around it, bilinear weights in
    half samples (bitstream_spec.md, "Block mode maps")."""
    h, w, n, z = 40, 56, 4, 16
    b0, b1 = textured(h, w, 5), textured(h, w, 6)
    s = bilateral.smooth_sum(bilateral.estimate(b0, b1), h, w)
    modes = np.random.default_rng(7).integers(0, 4, (3, 4)).astype(np.uint8)
    for m in range(1, n):
        o0, o1 = bilateral.offsets(s, m, n)
        whole = [bilateral.blend(b0, b1, m, n), bilateral.interpolate(b0, b1, s, m, n)]
        for img, o in ((b0, o0), (b1, o1)):
            f = np.empty_like(b0)
            bilateral._interp(img, img, o, o, m, n, f)
            whole.append(f)
        whole = np.stack(whole).astype(np.int64)
        want = np.empty_like(b0)
        for y in range(h):
            ty = 2 * y + 1 - z
            i0, ry = ty // (2 * z), ty % (2 * z)
            for x in range(w):
                tx = 2 * x + 1 - z
                j0, rx = tx // (2 * z), tx % (2 * z)
                acc = 0
                for i, wy in ((i0, 2 * z - ry), (i0 + 1, ry)):
                    for j, wx in ((j0, 2 * z - rx), (j0 + 1, rx)):
                        k = modes[min(max(i, 0), 2), min(max(j, 0), 3)]
                        acc = acc + wy * wx * whole[k, y, x]
                want[y, x] = (acc + 2 * z * z) // (4 * z * z)
        got = bilateral.rebuild_blocks(b0, b1, s, m, n, modes, z)
        assert np.array_equal(got, want)
