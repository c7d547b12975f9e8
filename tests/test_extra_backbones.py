"""Extra backbones of a synthesised av1 GOP (bitstream_spec.md, stem, GOP header bit 7 EXTRA):
the frames the encoder found too hard to rebuild are coded by AV1 with the interval's
backbones, and the header lists them."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import (check_mutated_gop, decoded_digests, stand_in_gop, synthetic_frames,
                      write_clip)
from vidgen_codec import api, metrics
from vidgen_codec.bitstream import ContainerReader, FramePayload
from vidgen_codec.bitstream.ids import FrameType
from vidgen_codec.codecs.stem import StemCodec
from vidgen_codec.codecs.stem import av1, extra_backbones
from vidgen_codec.codecs.stem.speed import speed_named
from vidgen_codec.errors import FormatError
from vidgen_codec.info import describe
from vidgen_codec.pictures import ssim
from vidgen_codec.pictures.av1 import Av1Settings
from vidgen_codec.stem_gop import BLEND, MOTION, GopHeader, unpack_gop
from vidgen_codec.video_io import read_frames
from vidgen_codec.codecs.stem import candidate, chosen_gop, synth_gop

HEAD = GopHeader(1, 9, 4, synth=True, modes=(MOTION, BLEND, MOTION), extra=(2, 5))


def test_extra_backbones_join_the_grid_and_round_trip():
    assert HEAD.positions() == [0, 2, 4, 5, 8] and HEAD.gaps() == 3
    gop = stand_in_gop(HEAD)
    # flags SYNTH | EXTRA, n 9, B 4, refine_mask 0, k 2, steps 2 and 3 (offsets 2, 5)
    assert gop.streams[0] == bytes([0x84, 9, 4, 0, 2, 2, 3])
    back_head, back = unpack_gop(gop)
    assert back_head == HEAD
    assert sorted(p.frame_index for p in back if p.frame_type != FrameType.M) == [0, 2, 4, 5, 8]
    assert len(back) == 9


def test_extra_backbones_come_before_a_priors_tag():
    head = GopHeader(2, 9, 4, synth=True, modes=(0, 1, 0), prior=4, prior_tag=b"\xab" * 8,
                     extra=(2, 5))
    gop = stand_in_gop(head)
    assert gop.streams[0] == bytes([0x80 | 0x40 | 0x04 | 1, 9, 4, 0, 2, 2, 3]) + b"\xab" * 8
    assert unpack_gop(gop)[0] == head


@pytest.mark.parametrize("head", [
    GopHeader(1, 9, 4, synth=True, extra=(4,)),  # on the grid
    GopHeader(1, 9, 4, synth=True, extra=(5, 2)),  # not ascending
    GopHeader(1, 9, 4, synth=True, extra=(2, 2)),
    GopHeader(1, 9, 4, synth=True, extra=(0,)),  # the first frame
    GopHeader(1, 9, 4, synth=True, extra=(8,)),  # the last frame
    GopHeader(1, 9, 4, extra=(2,)),  # not synthesised
])
def test_the_writer_refuses_extra_backbones_the_spec_forbids(head):
    with pytest.raises(ValueError, match="extra backbones"):
        head.pack()


@pytest.mark.parametrize("header", [
    bytes([0x80, 9, 4, 0, 1, 2]),  # EXTRA without SYNTH
    bytes([0x84, 9, 4, 0, 0]),  # k = 0
    bytes([0x84, 9, 4, 0, 2, 2, 0]),  # a step of 0: offset 2 twice
    bytes([0x84, 9, 4, 0, 1, 4]),  # on the grid
    bytes([0x84, 9, 4, 0, 1, 8]),  # the last frame
    bytes([0x84, 9, 4, 0, 2, 2]),  # cut short
    bytes([0x84, 9, 4, 0, 1, 2, 7]),  # a byte left over
    bytes([0x84, 9, 4, 0, 8, 1, 1, 1, 1, 1, 1, 1, 1]),  # k over n - 2 (refused before its list)
    bytes([0x84, 9, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 2]),  # k = 2^32 - 1 (the same)
    bytes([0x84, 9, 4, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f]),  # a step past 32 bits
])
def test_the_reader_refuses_malformed_extra_backbones(header):
    streams = list(stand_in_gop(HEAD).streams)
    with pytest.raises(FormatError, match="GOP header"):
        unpack_gop(FramePayload(0, FrameType.I, 0, [header] + streams[1:]))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2), st.integers(0, 40), st.integers(0, 255), st.booleans())
def test_fuzzed_gop_chunks_with_extra_backbones_parse_or_raise_format_errors(stream, at, value,
                                                                             cut):
    check_mutated_gop(stand_in_gop(HEAD), stream, at, value, cut)


def test_split_points_are_each_intervals_worst_frame_far_below_its_backbones():
    q = [40, 30, 40, 39, 38, 39.5, 20, 41, 40]
    # (0, 2): frame 1 is 10 dB under; (2, 4): 0 dB; (4, 8): frame 6 is 19 dB under
    assert extra_backbones.split_points(q, [0, 2, 4, 8]) == [1, 6]
    assert extra_backbones.split_points([40.0] * 9, [0, 2, 4, 8]) == []
    assert extra_backbones.split_points(q, [0, 1, 2]) == [] == extra_backbones.split_points(q, [0])


def _cand(score: float, size: int = 100, extra: tuple = ()) -> candidate.Candidate:
    """A synthesised candidate of 5 frames, interval 2 (backbones 0, 2, 4), whose frame 1 is
    10 dB under its backbones."""
    return candidate.Candidate(2, 1, 50.0, None, size, score, False, synth=True, extra=extra,
                               frame_db=(40.0, 30.0, 40.0, 40.0, 40.0))


@pytest.fixture
def coder(monkeypatch):
    """`synth_gop.candidate` stubbed: it records the extra backbones asked for and answers
    with `coder.score` and `coder.size`."""
    stub = SimpleNamespace(calls=[], score=11.0, size=100)

    def fake(codec, st, frames, originals, b, s, budget, ledger, extra=(), slower=False):
        stub.calls.append((budget, extra) + ((True,) if slower else ()))
        return replace(_cand(stub.score, stub.size, extra), interval=b, slower=slower)

    monkeypatch.setattr(synth_gop, "candidate", fake)
    return stub


FIVE = [(t, None) for t in range(5)]  # the frames' (index, picture) as `chosen_gop.split` gets them


def test_split_keeps_extra_backbones_that_score_higher_within_the_budget(coder):
    state = SimpleNamespace(split=True)
    got = chosen_gop.split(None, state, _cand(10.0), FIVE, None, 100, None)
    assert coder.calls == [(100, (1,))] and got.extra == (1,) and got.score == 11.0
    coder.score = 9.0  # scores lower: the GOP stays as it was
    assert chosen_gop.split(None, state, _cand(10.0), FIVE, None, 100, None).extra == ()
    coder.score, coder.size = 11.0, 104  # over the budget's slack (3 %)
    assert chosen_gop.split(None, state, _cand(10.0), FIVE, None, 100, None).extra == ()
    state.split = False  # the speed's choice, or the user's interval
    assert chosen_gop.split(None, state, _cand(10.0), FIVE, None, 100, None).extra == ()
    assert len(coder.calls) == 3


def test_a_coding_again_keeps_the_extra_backbones(coder, monkeypatch):
    """`chosen_gop.mapped` codes the GOP again when the maps' bytes put it over its budget, `_gated`
    when the first refined GOP pays for the REFINE chunk: both keep the extra backbones and
    the slower preset (`chosen_gop.slower`)."""
    best = replace(_cand(10.0, 100, (1,)), slower=True)
    maps = iter([replace(best, bytes=130), replace(best, bytes=95, score=10.5)])
    monkeypatch.setattr(chosen_gop, "with_maps", lambda state, c, originals: next(maps))
    state = SimpleNamespace(speed=speed_named("medium"))
    assert chosen_gop.mapped(None, state, best, FIVE, None, 100, None).score == 10.5
    assert coder.calls == [(70, (1,), True)]  # the budget less the maps' 30 bytes
    coder.calls.clear()
    monkeypatch.setattr(av1, "_gate", lambda codec, state, c, t0, o: replace(c, refine_mask=1))
    monkeypatch.setattr(chosen_gop, "mapped", lambda codec, state, c, *a: c)
    monkeypatch.setattr(chosen_gop, "upsampled", lambda state, c, originals: c)
    state = SimpleNamespace(refine_bytes=20, refined=False)
    av1._gated(None, state, best, FIVE, None, 100, None, None)
    assert coder.calls == [(80, (1,), True)]


def test_a_short_interval_is_tried_at_the_slower_preset(coder):
    """`chosen_gop.slower`: a chosen synthesised GOP whose interval is under SLOWER_FROM is
    coded again with its backbones at the preset longer intervals get, and kept where it
    scores higher within the budget."""
    state = SimpleNamespace(speed=speed_named("medium"), settings=Av1Settings(preset=8))
    got = chosen_gop.slower(None, state, _cand(10.0, 100, (1,)), FIVE, None, 100, None)
    assert coder.calls == [(100, (1,), True)] and got.slower and got.extra == (1,)
    assert synth_gop.synth_settings(state.settings, synth_gop.SLOWER_FROM).preset == 4
    coder.score = 9.0  # scores lower: the first coding stays
    assert not chosen_gop.slower(None, state, _cand(10.0), FIVE, None, 100, None).slower
    coder.score, coder.size = 11.0, 104  # over the budget's slack
    assert not chosen_gop.slower(None, state, _cand(10.0), FIVE, None, 100, None).slower
    assert len(coder.calls) == 3
    # not tried: an interval already at the slower preset, a file at preset 4 already, a
    # speed without it, a GOP that is not synthesised
    long = replace(_cand(10.0), interval=synth_gop.SLOWER_FROM)
    assert chosen_gop.slower(None, state, long, FIVE, None, 100, None) is long
    for st_ in (SimpleNamespace(speed=speed_named("medium"), settings=Av1Settings(preset=4)),
                SimpleNamespace(speed=speed_named("fast"), settings=Av1Settings(preset=8))):
        assert chosen_gop.slower(None, st_, _cand(10.0), FIVE, None, 100, None).interval == 2
    plain = replace(_cand(10.0), synth=False)
    assert chosen_gop.slower(None, state, plain, FIVE, None, 100, None) is plain
    assert len(coder.calls) == 3


def test_a_gop_at_the_slower_preset_encodes_and_decodes_bit_exactly(tmp_path, monkeypatch):
    """The user's interval 2 at quarter scale: `chosen_gop.slower` codes its backbones at
    preset 4 (the file's is 8); that coding, kept here whatever it scores, decodes the same at
    any thread count."""
    presets, kept = [], []
    real_code, real_slower = synth_gop.encode_sequence, chosen_gop.slower
    monkeypatch.setattr(synth_gop, "encode_sequence", lambda planes, crf, settings: presets.append(
        settings.preset) or real_code(planes, crf, settings))

    def slower(codec, st, best, *a):
        with monkeypatch.context() as m:  # the slower coding is kept
            m.setattr(chosen_gop, "choose_within_budget", lambda cands, *rest: cands[-1])
            got = real_slower(codec, st, best, *a)
        kept.append((best.interval, got.slower))
        return got

    monkeypatch.setattr(chosen_gop, "slower", slower)
    StemCodec.random(seed=5).save(tmp_path / "w")
    clip = write_clip(str(tmp_path / "c.mkv"), synthetic_frames(96, 64, 13), Fraction(25))
    out = tmp_path / "x.vgc"
    api.encode(clip, str(out), bpp=0.05, weights=str(tmp_path / "w"), refine=False,
               progress=False, backbone_scale=4, backbone_interval=2)
    assert kept == [(2, True)]
    assert 8 in presets and 4 in presets  # the search's codings, then the slower preset's
    digests = decoded_digests(out, tmp_path, weights=str(tmp_path / "w"))
    assert all(x == digests[0] for x in digests) and len(digests[0]) == 13


def test_a_fit_starts_from_the_same_structures_fit_at_its_own_preset():
    """`chosen_gop.slower` fits a structure at preset 4 that the search fitted at 8: each
    later fit of that structure starts from the one at its own preset (the latest among
    equals before)."""
    from vidgen_codec.codecs.stem.rate_fit import Fitted, predicted

    at8 = Fitted(2, 1, 30, 1000, 50.0, 9000, 8)
    at4 = Fitted(2, 1, 30, 1000, 44.0, 9000, 4)
    assert predicted([at8, at4], 2, 1, 30, 1000, 9000, 8) == 50.0
    assert predicted([at8, at4], 2, 1, 30, 1000, 9000, 4) == 44.0
    near4 = Fitted(4, 1, 15, 1000, 40.0, 9000, 4)  # a nearer interval still comes first
    assert predicted([at8, near4], 4, 1, 15, 1000, 9000, 8) == 40.0
    # two other intervals equally near (1 and 4 for 2): the latest, whatever its preset
    at1 = Fitted(1, 1, 60, 1000, 55.0, 9000, 8)
    assert predicted([at1, near4], 2, 1, 30, 1000, 9000, 8) \
        == predicted([near4], 2, 1, 30, 1000, 9000, 8) != predicted([at1], 2, 1, 30, 1000, 9000, 8)


def test_the_split_measures_luma_psnr():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (36, 64, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    # integer luma: rounding moves a 38 dB PSNR by under 0.15 dB
    ya, yb = ssim.luma(a), ssim.luma(b)
    assert abs(extra_backbones.luma_psnr(ya, yb) - metrics.psnr_y(a[None], b[None])) < 0.15
    assert extra_backbones.luma_psnr(ya, ya) == 99.0


def test_the_score_from_luma_planes_is_the_score():
    """`synth_gop.candidate` scores from the luma planes it also measures the split with."""
    rng = np.random.default_rng(1)
    rec = [rng.integers(0, 256, (36, 64, 3), dtype=np.uint8) for _ in range(3)]
    real = [np.clip(r.astype(int) + rng.integers(-20, 21, r.shape), 0, 255).astype(np.uint8)
            for r in rec]
    lumas = [(ssim.luma(r), ssim.luma(o)) for r, o in zip(rec, real)]
    assert candidate.score(rec, real, lumas) == candidate.score(rec, real)
    assert ssim.ssim_luma(*lumas[0]) == ssim.ssim_y(rec[0], real[0])


def test_the_split_is_off_for_a_users_interval(tmp_path, monkeypatch):
    seen = []
    real = chosen_gop.split
    monkeypatch.setattr(chosen_gop, "split", lambda codec, st, best, *a: seen.append(
        (st.split, best.frame_db)) or real(codec, st, best, *a))
    StemCodec.random(seed=5).save(tmp_path / "w")
    clip = write_clip(str(tmp_path / "c.mkv"), synthetic_frames(96, 64, 13), Fraction(25))
    api.encode(clip, str(tmp_path / "x.vgc"), bpp=0.05, weights=str(tmp_path / "w"),
               refine=False, progress=False, backbone_interval=4, backbone_scale=4)
    assert seen == [(False, ())]


def test_a_gop_with_extra_backbones_encodes_and_decodes_bit_exactly(tmp_path, monkeypatch):
    """The encoder's split forced onto the first two frames off the searched interval's grid
    of a quarter-scale synthesised GOP, which the search measured frame by frame."""
    seen = []

    def forced(codec, st, best, frames, originals, budget, ledger):
        seen.append((st.split, len(best.frame_db)))
        extra = tuple(i for i in range(1, len(frames) - 1) if i % best.interval)[:2]
        return synth_gop.candidate(codec, st, frames, originals, best.interval, best.scale,
                                   budget, ledger, extra)

    monkeypatch.setattr(chosen_gop, "split", forced)
    StemCodec.random(seed=5).save(tmp_path / "w")
    clip = write_clip(str(tmp_path / "c.mkv"), synthetic_frames(96, 64, 13), Fraction(25))
    out = tmp_path / "x.vgc"
    api.encode(clip, str(out), bpp=0.05, weights=str(tmp_path / "w"), refine=False,
               progress=False, backbone_scale=4)
    assert seen == [(True, 13)]
    info = describe(str(out))
    assert [g["extra_backbones"] for g in info["av1_gops"]] == [2]
    with ContainerReader(str(out)) as rd:
        head, _ = unpack_gop(next(c for c in rd.iter_frames()).payload)
    assert len(head.extra) == 2 and set(head.extra) < set(head.positions())
    assert info["frame_types"] == "".join(
        "I" if i == 0 else "P" if i in head.positions() else "M" for i in range(13))
    digests = decoded_digests(out, tmp_path, weights=str(tmp_path / "w"))
    assert all(x == digests[0] for x in digests) and len(digests[0]) == 13
    api.decode(str(out), str(tmp_path / "d.mkv"), weights=str(tmp_path / "w"), progress=False)
    dec = np.stack(list(read_frames(str(tmp_path / "d.mkv"))))
    assert metrics.psnr(dec, np.stack(list(read_frames(clip)))) > 15
