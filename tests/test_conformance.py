"""Conformance suite run over every registered codec with tiny random weights.

Each codec is saved to a weights folder and loaded back through the same path users take, then
encode -> decode through the API: frame count, size, bpp accounting, determinism, weights check.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from vidgen_codec.bitstream.framing import FILE_HEADER_SIZE_2
import torch

from vidgen_codec import api
from vidgen_codec.bitstream import ContainerReader
from vidgen_codec.errors import FormatError, InputError, WeightsError
from vidgen_codec.info import describe
from vidgen_codec.registry import list_codecs
from vidgen_codec.video_io import read_frames

# every codec; stem and s2vc with each backbone coder ("stem" is the learned one, "stem/av1"
# SVT-AV1; s2vc's I-frames likewise)
# "stem/synth": av1 backbones at quarter scale, so every GOP is synthesised (frames between
# backbones rebuilt by the decoder)
CODECS = [s.name for s in list_codecs()] + ["stem/av1", "s2vc/av1", "stem/synth"]
BACKBONE = {"stem": "learned", "stem/av1": "av1", "s2vc/av1": "av1", "stem/synth": "av1"}
EXTRA = {"stem/synth": {"backbone_scale": 4}}


@pytest.fixture(params=CODECS)
def weights(request, tmp_path):
    spec = next(s for s in list_codecs() if s.name == request.param.split("/")[0])
    wdir = tmp_path / f"w_{spec.name}"
    spec.cls.random(seed=1).save(wdir)
    return request.param, str(wdir)


def _encode(clip, weights, out, **kw):
    name, wdir = weights
    if name in BACKBONE:
        kw.setdefault("backbone", BACKBONE[name])
    kw.update(EXTRA.get(name, {}))
    return api.encode(clip.path, str(out), codec=name.split("/")[0], weights=wdir,
                      progress=False, **kw)


@pytest.mark.parametrize("size", [(64, 48), (37, 29)])
def test_round_trip_counts_sizes_and_bpp(weights, make_clip, tmp_path, size):
    clip = make_clip(f"c{size[0]}.mkv", width=size[0], height=size[1], count=5)
    rep = _encode(clip, weights, tmp_path / "a.vgc", bpp=0.5)
    file_bytes = (tmp_path / "a.vgc").stat().st_size
    assert rep.bytes == file_bytes
    assert rep.bpp == pytest.approx(file_bytes * 8 / (size[0] * size[1] * 5))
    d = describe(str(tmp_path / "a.vgc"))
    assert d["frames"] == 5 and (d["width"], d["height"]) == size
    assert d["bpp"] == pytest.approx(rep.bpp)
    assert sum(c["bytes"] for c in d["chunks"].values()) + FILE_HEADER_SIZE_2 == file_bytes
    n = api.decode(str(tmp_path / "a.vgc"), str(tmp_path / "d.mkv"), weights=weights[1],
                   progress=False)
    frames = list(read_frames(str(tmp_path / "d.mkv")))
    assert n == 5 and len(frames) == 5
    assert frames[0].shape == (size[1], size[0], 3)


def test_encode_and_decode_are_deterministic(weights, make_clip, tmp_path):
    clip = make_clip("c.mkv", count=3)
    _encode(clip, weights, tmp_path / "a.vgc", bpp=0.5)
    _encode(clip, weights, tmp_path / "b.vgc", bpp=0.5)
    assert (tmp_path / "a.vgc").read_bytes() == (tmp_path / "b.vgc").read_bytes()
    digests = []
    threads = torch.get_num_threads()
    try:
        for n_threads in (1, max(2, threads)):
            torch.set_num_threads(n_threads)
            out = tmp_path / f"d{n_threads}"
            api.decode(str(tmp_path / "a.vgc"), str(out) + "/", weights=weights[1],
                       progress=False)
            digests.append([hashlib.sha256(p.read_bytes()).hexdigest()
                            for p in sorted(out.iterdir())])
    finally:
        torch.set_num_threads(threads)
    assert digests[0] == digests[1]


def test_seek_decodes_the_same_frames(weights, make_clip, tmp_path):
    clip = make_clip("c.mkv", count=6)
    _encode(clip, weights, tmp_path / "a.vgc", bpp=0.5)
    api.decode(str(tmp_path / "a.vgc"), str(tmp_path / "all") + "/", weights=weights[1],
               progress=False)
    api.decode(str(tmp_path / "a.vgc"), str(tmp_path / "part") + "/", start=3, frames=2,
               weights=weights[1], progress=False)
    full = sorted((tmp_path / "all").iterdir())
    part = sorted((tmp_path / "part").iterdir())
    assert len(part) == 2
    assert [p.read_bytes() for p in part] == [p.read_bytes() for p in full[3:5]]


def test_other_weights_are_refused(weights, make_clip, tmp_path):
    clip = make_clip("c.mkv", count=2)
    _encode(clip, weights, tmp_path / "a.vgc", bpp=0.5)
    spec = next(s for s in list_codecs() if s.name == weights[0].split("/")[0])
    other = tmp_path / "other"
    spec.cls.random(seed=2).save(other)
    with pytest.raises(WeightsError, match="encoded with weights"):
        api.decode(str(tmp_path / "a.vgc"), str(tmp_path / "d.mkv"), weights=str(other),
                   progress=False)
    assert not (tmp_path / "d.mkv").exists()


def test_corrupt_file_fails_cleanly_and_leaves_no_output(weights, make_clip, tmp_path):
    clip = make_clip("c.mkv", count=2)
    _encode(clip, weights, tmp_path / "a.vgc", bpp=0.5)
    data = bytearray((tmp_path / "a.vgc").read_bytes())
    rng = np.random.default_rng(0)
    for trial in range(6):
        bad = bytearray(data)
        bad[int(rng.integers(12, len(bad)))] ^= 1 << int(rng.integers(0, 8))
        (tmp_path / "bad.vgc").write_bytes(bytes(bad[: len(bad) - trial]))
        with pytest.raises(FormatError):
            api.decode(str(tmp_path / "bad.vgc"), str(tmp_path / "d.mkv"), weights=weights[1],
                       progress=False)
        assert not (tmp_path / "d.mkv").exists()


def test_fixed_rate_parameter_is_stored(weights, make_clip, tmp_path):
    clip = make_clip("c.mkv", count=2)
    if weights[0] in ("stem/av1", "stem/synth"):
        pytest.skip("the av1 backbone's fixed rate is its CRF; its GOP chunks store rate_code 0")
    if weights[0] == "s2vc/av1":
        with pytest.raises(InputError):  # one --rate cannot be both a CRF and a gain level
            _encode(clip, weights, tmp_path / "a.vgc", q=1.25)
        return
    _encode(clip, weights, tmp_path / "a.vgc", q=1.25)
    with ContainerReader(str(tmp_path / "a.vgc")) as rd:
        assert rd.header.rate == pytest.approx(1.25)
        assert {fc.payload.rate_code for fc in rd.iter_frames()} == {1250}
