"""Issue 31: the rate fit from a guess, the first-pass CRF model, --speed, --keyint, and the
full-rate AV1 shortcut (no structure search above the floor)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from conftest import synthetic_frames, write_clip
from vidgen_codec import api
from vidgen_codec.bitstream import ContainerReader
from vidgen_codec.codecs.stem import StemCodec
from vidgen_codec.codecs.stem.speed import SPEEDS, speed_named
from vidgen_codec.errors import InputError
from vidgen_codec.info import describe
from vidgen_codec.pictures.av1_rate import DEFAULT_GUESS, guess_crf, slope
from vidgen_codec.pictures.fit import fit_from_guess
from vidgen_codec.codecs.stem import candidate, synth_gop


def _sizes(k0=60.0, b0=1000.0, a=0.06, bend=0.12):
    """A falling size curve with a steeper tail, as SVT-AV1's."""
    def size(k):
        s = a if k < k0 else bend
        return max(int(b0 * math.exp(-a * (k - k0) if k < k0 else -s * (k - k0))), 1)
    return size


@pytest.mark.parametrize("budget", [400, 700, 1000, 2500, 9000])
def test_fit_from_guess_lands_near_the_budget_from_a_poor_guess(budget):
    size = _sizes()
    made = []

    def code(k):
        made.append(k)
        return size(k)

    (k, got), n = fit_from_guess(code, lambda c: c, budget, 1, 70, 0.25, guess=45.0,
                                 slope=slope, falling=True, max_codes=3, over=0.03)
    assert n == len(made) <= 6
    assert got == size(k)
    assert abs(got - budget) <= 0.05 * budget, (budget, made, got)
    # the one chosen is the largest coding within the budget's slack
    assert got <= 1.03 * budget or all(size(j) > 1.03 * budget for j in made)


def test_fit_from_guess_stops_at_the_end_of_the_range():
    size = lambda k: 100 + int(1000 * math.exp(-0.06 * k))  # noqa: E731  never below 100
    (k, got), n = fit_from_guess(size, lambda c: c, 10, 1, 70, 0.25, guess=30,
                                 slope=slope, falling=True, max_codes=3)
    assert k == 70 and got == size(70) and n <= 6  # the smallest coding when none fits


def test_guess_crf_falls_as_the_target_rises_and_defaults_without_a_measure():
    assert guess_crf(0.01, None, 1) == DEFAULT_GUESS
    guesses = [guess_crf(t, 0.01, step) for step in (1, 3) for t in (1e-4, 1e-3, 1e-2, 1e-1)]
    assert guesses[:4] == sorted(guesses[:4], reverse=True)
    assert guesses[4:] == sorted(guesses[4:], reverse=True)
    # a coarser first-pass step means more bytes per small pixel: a higher CRF for a target
    assert guess_crf(1e-3, 0.01, 3) < guess_crf(1e-3, 0.01, 1)


def test_speed_names_and_numbers():
    assert speed_named(None).name == "medium"
    for i, s in enumerate(SPEEDS):
        assert speed_named(s.name) == speed_named(i) == speed_named(str(i)) == s
    presets = [s.preset for s in SPEEDS]
    assert presets == sorted(presets, reverse=True)  # slower speeds, no faster SVT-AV1 presets
    effort = [(s.search != "none", s.gate, s.fit_codes or 99) for s in SPEEDS]
    assert all(a <= b for a, b in zip(effort, effort[1:]) if a[:2] == b[:2])
    with pytest.raises(ValueError, match="ultrafast"):
        speed_named("ludicrous")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    return write_clip(str(d / "c.mkv"), synthetic_frames(96, 64, 40), Fraction(25))


def _starts(path) -> list[int]:
    with ContainerReader(path) as rd:
        return [e.frame_index for e in rd.read_index()]


def test_keyint_places_key_frames_and_the_default_forces_none(clip, stem_weights, tmp_path):
    out = tmp_path / "k.vgc"
    api.encode(clip, str(out), bpp=0.3, weights=stem_weights, progress=False, keyint=16)
    assert _starts(out) == [0, 16, 32]
    api.encode(clip, str(out), bpp=0.3, weights=stem_weights, progress=False)
    assert _starts(out) == [0]  # 40 frames: within the default keyint, no forced key frame
    with pytest.raises(InputError, match="keyint"):
        api.encode(clip, str(tmp_path / "x.vgc"), bpp=0.3, weights=stem_weights, progress=False,
                   keyint=300)
    assert not (tmp_path / "x.vgc").exists()


def test_each_speed_codes_and_records_its_preset(clip, stem_weights, tmp_path):
    from vidgen_codec.stem_gop import BackboneConfig

    for name in ("ultrafast", "fast", "medium"):
        out = tmp_path / f"{name}.vgc"
        rep = api.encode(clip, str(out), bpp=0.3, weights=stem_weights, progress=False, speed=name)
        assert abs(rep.bpp / 0.3 - 1) <= 0.05, (name, rep.bpp)
        with ContainerReader(out) as rd:
            assert BackboneConfig.unpack(rd.codec_config).av1.preset == speed_named(name).preset
        api.decode(str(out), str(tmp_path / f"{name}.mkv"), weights=stem_weights, progress=False)
    with pytest.raises(InputError, match="speed"):
        api.encode(clip, str(tmp_path / "y.vgc"), bpp=0.3, weights=stem_weights, progress=False,
                   speed="warp")


def test_above_the_floor_every_frame_is_av1_without_a_search(clip, stem_weights):
    """At a rate where the full-scale coding's CRF is low, the encoder keeps it: a handful of
    AV1 codings, not a search over structures, and no refiner is named."""
    from vidgen_codec.codecs.base import RateTarget, Structure
    from vidgen_codec.video_io import read_frames

    codec = StemCodec.load(stem_weights)
    frames = list(read_frames(clip))
    st = codec.new_encoder(96, 64, RateTarget(bpp=0.5), len(frames), Structure(speed="medium"),
                           refiner=lambda: pytest.fail("no gate: the refiner is not loaded"))
    assert codec.takes_pictures(st)
    for f in frames:
        _, st = codec.encode_frame(st, f)
    _, st = codec.flush(st)
    assert [(b, s) for _, b, s, _, _ in st.chosen] == [(1, 1)]
    assert st.chosen[0][3] <= 60 and st.codings <= 5
    assert not codec.refines(st)


def test_uint8_frames_and_padded_tensors_give_the_same_bytes(clip, stem_weights):
    from vidgen_codec.codecs.base import RateTarget, Structure
    from vidgen_codec.frames import pad_to_multiple, to_tensor
    from vidgen_codec.video_io import read_frames

    codec = StemCodec.load(stem_weights)
    frames = list(read_frames(clip))[:10]
    out = []
    for as_tensor in (False, True):
        st = codec.new_encoder(96, 64, RateTarget(bpp=0.3), len(frames), Structure(speed=1))
        chunks = []
        for f in frames:
            x = pad_to_multiple(to_tensor(f), codec.stride)[0] if as_tensor else f
            c, st = codec.encode_frame(st, x)
            chunks += c
        c, st = codec.flush(st)
        out.append([ch.payload for ch in chunks + c])
    assert out[0] == out[1]


def test_info_reports_the_longest_gop(clip, stem_weights, tmp_path):
    out = tmp_path / "i.vgc"
    api.encode(clip, str(out), bpp=0.3, weights=stem_weights, progress=False, keyint=20)
    d = describe(str(out))
    assert d["gop_size"] == 20
    assert np.isfinite(d["bpp"])


def test_option_errors_name_the_keyword_and_the_cli_names_the_flag(clip, stem_weights, tmp_path,
                                                                    capsys):
    from conftest import vgc
    from vidgen_codec.errors import OptionError

    with pytest.raises(OptionError) as e:
        api.encode(clip, str(tmp_path / "o.vgc"), bpp=0.3, weights=stem_weights, progress=False,
                   backbone="learned", backbone_scale=4)
    assert (e.value.option, e.value.value) == ("backbone_scale", 4)
    assert "--" not in str(e.value)  # the library's message names no flag
    code, _, err = vgc("encode", clip, tmp_path / "o.vgc", "--bpp", "0.3",
                       "--weights", stem_weights,
                       "--backbone", "learned", "--backbone-scale", "4", capsys=capsys)
    assert code == 1 and err.strip().splitlines() == [
        "vgc: error: --backbone-scale 4: reduced scales need the av1 backbone"]
    code, _, err = vgc("encode", clip, tmp_path / "o.vgc", "--rate", "99",
                       "--weights", stem_weights,
                       capsys=capsys)
    assert code == 1 and err.startswith("vgc: error: --rate 99.0: the av1 backbone's rate")
    assert not (tmp_path / "o.vgc").exists()


@pytest.mark.parametrize("s2_best, tried_4", [(8.0, False), (10.5, True)])
def test_a_pruned_search_stops_at_a_scale_that_scores_below_the_finer_one(monkeypatch, s2_best,
                                                                          tried_4):
    """Pruned (`speed`, "Pruned"): scale 4 is tried only when scale 2's best beat scale 1's;
    an unpruned search tries every scale."""
    from types import SimpleNamespace

    from vidgen_codec.codecs.stem import rate_fit

    scores = {1: 10.0, 2: s2_best, 4: 11.0}
    tried = []

    def fake(codec, st, frames, originals, b, s, budget, ledger):
        tried.append((b, s))
        return candidate.Candidate(b, s, 40.0, None, 100, scores[s] - b / 100, False, synth=True)

    monkeypatch.setattr(synth_gop, "candidate", fake)
    for pruned in (True, False):
        tried.clear()
        st = SimpleNamespace(synth=((2, 4, 8), (1, 2, 4)), scales=(1,),
                             speed=speed_named("medium") if pruned else speed_named("slow"))
        assert st.speed.pruned == pruned
        synth_gop.candidates(None, st, [None] * 20, [], 200.0, rate_fit.Ledger())
        assert {s for _, s in tried} == ({1, 2, 4} if tried_4 or not pruned else {1, 2})


def test_medium_searches_no_gops_with_motion_frames_and_slow_does(stem_weights):
    from vidgen_codec.codecs.base import RateTarget, Structure

    codec = StemCodec.load(stem_weights)
    got = {}
    for name in ("medium", "slow"):
        st = codec.new_encoder(96, 64, RateTarget(bpp=0.005), 40, Structure(speed=name),
                               refiner=None)
        got[name] = (st.intervals, st.scales)
    assert got["medium"] == ((1,), (1,))
    assert got["slow"][0] != (1,) and 2 in got["slow"][1]
    # an interval the user asks for is still tried both ways
    st = codec.new_encoder(96, 64, RateTarget(bpp=0.005), 40,
                           Structure(speed="medium", backbone_interval=8), refiner=None)
    assert st.intervals == (8,) and st.synth[0] == (8,)


def test_a_fit_carries_to_other_structures_of_the_gop():
    """`rate_fit.predicted`: the CRF a candidate's backbones should take, from the nearest
    fit."""
    from vidgen_codec.codecs.stem import rate_fit
    from vidgen_codec.pictures.av1_rate import slope

    assert rate_fit.predicted([], 8, 1, 9, 1000, 500.0) is None
    full = rate_fit.Fitted(8, 1, 9, 1000, 50.0, 500)
    half = rate_fit.Fitted(8, 2, 9, 250, 40.0, 500)
    assert rate_fit.predicted([full], 8, 1, 9, 1000, 500.0) == 50.0  # itself
    # twice the bytes: ln 2 / slope lower
    assert math.isclose(rate_fit.predicted([full], 8, 1, 9, 1000, 1000.0),
                        50.0 - math.log(2) / slope(50.0))
    # twice the backbones, each half as far apart: more CRF, less than ln 2 / slope more
    up = rate_fit.predicted([full], 4, 1, 18, 1000, 500.0) - 50.0
    assert 0 < up < math.log(2) / slope(50.0)
    # the same scale's fit first, though another scale's was made later
    assert rate_fit.predicted([half, full], 8, 2, 9, 250, 500.0) == 40.0
    assert rate_fit.predicted([full, half], 8, 1, 9, 1000, 500.0) == 50.0
