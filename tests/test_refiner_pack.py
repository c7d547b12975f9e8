"""Refiner training sequences precomputed into a training pack (train/refiner_pack.py, issue 17
part 2): the pack gives exactly the sequences a live round trip gives, and refuses a pool that
does not fit its clips or its payload file."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import pytest
import torch
from PIL import Image

from vidgen_codec.codecs.stem import StemCodec
from vidgen_codec.errors import InputError
from vidgen_codec.train.refiner_data import RefinerSampler, as_u8, refiner_clips
from vidgen_codec.train.refiner_pack import POOL_DIR, PackedPool, build_refiner_pool

from conftest import synthetic_frames, write_clip

KW = {"size": 64, "window": 9, "backbones": ("av1",), "seed": 3}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    write_clip(str(d / "a.mkv"), synthetic_frames(96, 80, 24, seed=1), Fraction(25))
    Image.fromarray(synthetic_frames(160, 128, 1, seed=10)[0]).save(d / "p0.png")
    return d


@pytest.fixture(scope="module")
def pack(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pack")
    build_refiner_pool(str(data), str(out), 3, seq_len=9, progress=False, **KW)
    return out


def test_packed_sequences_are_the_live_round_trips(data, pack):
    codec = StemCodec.load(None)
    live = RefinerSampler(refiner_clips(str(data), 3), codec, size=64, seq_len=9,
                          backbones=("av1",), seed=3)
    pool = PackedPool.open(str(pack), refiner_clips(str(data), 3), codec, size=64, window=9,
                           backbones=("av1",), seed=0)
    assert pool is not None
    index = json.loads((pack / POOL_DIR / "index.json").read_text())
    assert len(index["sequences"]) == 3 and index["bytes"] > 0
    for k in range(3):
        recipe, orig, (inter, types, levels), _ = live.coded_sequence()
        assert recipe == index["sequences"][k]["recipe"]
        o, x, t, lv = pool.decode(k)
        assert torch.equal(o, as_u8(orig)) and torch.equal(x, as_u8(inter))
        assert torch.equal(t, types) and torch.equal(lv, levels)
    got = [pool.next() for _ in range(4)]  # seeded order, cycled past the end
    assert torch.equal(got[3][0], pool.decode(pool.order[0])[0])
    here = PackedPool.open(str(pack), refiner_clips(str(data), 3), codec, size=64, window=9,
                           backbones=("av1",), seed=0, ahead=0)  # no thread: the same order
    assert all(torch.equal(here.next()[1], g[1]) for g in got)


def test_a_pool_for_other_settings_is_not_used(data, pack):
    codec = StemCodec.load(None)
    clips = refiner_clips(str(data), 3)
    for kw in ({"size": 32}, {"window": 17}, {"backbones": ("learned",)}):
        args = {**KW, **kw}
        assert PackedPool.open(str(pack), clips, codec, size=args["size"],
                               window=args["window"], backbones=args["backbones"],
                               seed=0) is None
    other = StemCodec.random(seed=9)  # other STEM weights: the payloads would not decode
    assert PackedPool.open(str(pack), clips, other, size=64, window=9, backbones=("av1",),
                           seed=0) is None


def test_a_pool_that_does_not_fit_its_files_is_refused(data, pack, tmp_path):
    codec = StemCodec.load(None)
    bad = tmp_path / "pack"
    (bad / POOL_DIR).mkdir(parents=True)
    index = (pack / POOL_DIR / "index.json").read_text()
    (bad / POOL_DIR / "index.json").write_text(index)
    (bad / POOL_DIR / "payloads.bin").write_bytes((pack / POOL_DIR / "payloads.bin").read_bytes()[:-1])
    with pytest.raises(InputError, match="bytes"):
        PackedPool.open(str(bad), refiner_clips(str(data), 3), codec, size=64, window=9,
                        backbones=("av1",), seed=0)
    # other clips than the pack's: the original crops' hashes differ
    (bad / POOL_DIR / "payloads.bin").write_bytes((pack / POOL_DIR / "payloads.bin").read_bytes())
    clips = [c[:, ::-1].copy() for c in refiner_clips(str(data), 3)]
    pool = PackedPool.open(str(bad), clips, codec, size=64, window=9, backbones=("av1",), seed=0)
    with pytest.raises(InputError, match="original crop differs"):
        pool.next()


def test_training_records_that_it_used_the_pack(data, tmp_path):
    import shutil

    from vidgen_codec.train.refiner import SEQUENCES_FILE, train_refiner

    d = tmp_path / "data"
    shutil.copytree(data, d)
    runs = {}
    for name, with_pool in (("packed", True), ("live", False)):
        if with_pool:
            build_refiner_pool(str(d), str(d), 1, seq_len=9, progress=False, **KW)
        else:
            shutil.rmtree(d / POOL_DIR)
        out = tmp_path / name
        train_refiner(str(d), str(out), steps=1, batch=1, patch=64, pool=1, seq_len=9,
                      backbones=("av1",), seed=3)
        runs[name] = json.loads((out / SEQUENCES_FILE).read_text())
    assert runs["packed"]["packed"] and runs["packed"]["pool"] == str(d / POOL_DIR)
    assert not runs["live"]["packed"] and runs["live"]["pool"] is None


@pytest.mark.slow  # over 10 s on 2 cores: .ci/run runs it, make test does not
def test_cli_pack_with_refiner_sequences_and_its_size_limit(data, tmp_path):
    vgc = [sys.executable, "-m", "vidgen_codec", "train", "pack", "--data", str(data)]
    ok = subprocess.run(vgc + ["--out", str(tmp_path / "p"), "--refiner-sequences", "2",
                               "--refiner-patch", "64", "--refiner-seq-len", "9",
                               "--refiner-bpp", "1,2"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "2 refiner sequences" in ok.stdout
    assert (tmp_path / "p" / POOL_DIR / "payloads.bin").stat().st_size > 0
    index = json.loads((tmp_path / "p" / POOL_DIR / "index.json").read_text())
    assert index["bpp_range"] == [1.0, 2.0]
    assert all(1.0 <= e["recipe"]["bpp"] <= 2.0 for e in index["sequences"])
    bad = subprocess.run(vgc + ["--out", str(tmp_path / "r"), "--refiner-sequences", "1",
                                "--refiner-bpp", "2,1"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--refiner-bpp" in bad.stderr and not (tmp_path / "r").exists()
    big = subprocess.run(vgc + ["--out", str(tmp_path / "q"), "--max-mib", "0.001"],
                         capture_output=True, text=True)
    assert big.returncode != 0 and "MiB" in big.stderr and not (tmp_path / "q").exists()


def test_training_data_without_videos_is_a_one_line_error(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    Image.fromarray(synthetic_frames(160, 128, 1, seed=10)[0]).save(d / "p0.png")
    r = subprocess.run([sys.executable, "-m", "vidgen_codec", "train", "pack", "--data", str(d),
                        "--out", str(tmp_path / "p"), "--refiner-sequences", "1"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and not (tmp_path / "p").exists()
    assert r.stderr.strip().splitlines() == [f"vgc: error: no training videos under {d}"]
