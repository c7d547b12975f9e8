"""vgc's own UpConv7 upsampler (issue 33, part 3): its weights format (`priors.own`), the
training form (`train.upsampler.Trainable`), training with resume, and export."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from conftest import synthetic_frames, write_clip
from vidgen_codec.errors import WeightsError
from vidgen_codec.priors import own, upscale2x
from vidgen_codec.priors.upconv7 import UpConv7
from vidgen_codec.train import upsampler
from vidgen_codec.codecs.stem import chosen_gop


def small_chain(seed: int = 0) -> dict:
    """A tiny UpConv7-shaped chain (3 -> 4 -> 6 -> deconv 4x4/2, crop 3) with random weights."""
    rng = np.random.default_rng(seed)
    shapes = [(4, 3), (6, 4)]
    t = {}
    for i, (o, c) in enumerate(shapes):
        t[f"conv{i}.weight"] = (rng.standard_normal((o, c, 3, 3)) * 0.3).astype(np.float32)
        t[f"conv{i}.bias"] = (rng.standard_normal(o) * 0.05).astype(np.float32)
    t["deconv.weight"] = (rng.standard_normal((3, 6, 4, 4)) * 0.2).astype(np.float32)
    t["deconv.bias"] = np.full(3, 0.5, np.float32)
    return t


CONFIG = {"slope": 0.1, "stride": 2, "crop": 3}


def test_chain_model_builds_the_upconv7_and_inverts():
    t = small_chain()
    model = own.chain_model(t, CONFIG)
    module = UpConv7(model)
    assert (module.scale, module.border) == (2, 3)  # two 3x3 layers: 2 samples, the crop 1
    back = own.chain_tensors(model)
    assert set(back) == set(t) and all(np.array_equal(back[k], t[k]) for k in t)
    with pytest.raises(WeightsError, match="conv0"):
        own.chain_model({"deconv.weight": t["deconv.weight"]}, CONFIG)


def test_trainable_is_the_upconv7_it_exports():
    t = small_chain(1)
    net = upsampler.Trainable(t, **CONFIG)
    module = UpConv7(own.chain_model({k: v.numpy() for k, v in net.tensors().items()}, CONFIG))
    x = torch.rand(2, 3, 15, 18)
    assert net.border == module.border == 3
    with torch.no_grad():
        assert torch.allclose(net(x), module(x), atol=1e-5)
    assert all(np.array_equal(net.tensors()[k].numpy(), t[k]) for k in t)


def test_own_weights_load_with_their_identity_and_run_exactly(tmp_path):
    from vidgen_codec.weights import save_state

    t = small_chain(2)
    save_state({k: torch.from_numpy(v) for k, v in t.items()}, {**CONFIG, "base": "test"},
               own.ARCHITECTURE, tmp_path)
    model, identity = own._loaded(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    from vidgen_codec.weights import identity as folder_identity

    assert identity == folder_identity(meta).hex()
    module = UpConv7(model)
    rgb = np.random.default_rng(0).integers(0, 256, (10, 13, 3), dtype=np.uint8)
    got = upscale2x(module, rgb)
    x = torch.nn.functional.pad(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255,
                                (3, 3, 3, 3), mode="replicate")
    want = np.clip(np.trunc(module(x)[0].numpy() * 255 + 0.5), 0, 255).transpose(1, 2, 0)
    assert got.shape == (20, 26, 3) and np.abs(got.astype(int) - want).max() <= 1
    (tmp_path / "model.safetensors").write_bytes(b"0" * 64)
    own._loaded.cache_clear()
    with pytest.raises(WeightsError, match="sha256"):
        own._loaded(tmp_path)


def test_the_shipped_upsampler_loads_without_the_wheel():
    if not own.own_available("vgc-upconv7-av1"):
        pytest.skip("weights/upsampler-av1 is not in this checkout")
    module, identity = own.load_own("vgc-upconv7-av1")
    assert (module.scale, module.border, module.n_weights) == (2, 7, 552483)
    assert len(identity) == 64 and identity == own.own_identity("vgc-upconv7-av1")
    assert identity.startswith("b4dc2b8eb45c88a9")  # what files record (spec, "Upsamplers")
    rgb = np.random.default_rng(33).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    rgb[5:15, 6:18] = (200, 40, 90)
    # the exact arithmetic's samples: the same on every machine, device and thread count
    assert hashlib.sha256(upscale2x(module, rgb).tobytes()).hexdigest() == (
        "302d4a461e042975e2fc6ae58c482ff0a8a95c7e7c0a3cf43d9aa6398e9abc92")


@pytest.fixture()
def data_folder(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    write_clip(str(d / "a.mkv"), synthetic_frames(96, 64, 24), Fraction(25))
    write_clip(str(d / "cup.mp4"), synthetic_frames(96, 64, 24, seed=7), Fraction(25))
    return d


def test_round_trips_skip_the_held_out_clips_and_repeat(data_folder):
    pairs = upsampler.round_trips(data_folder, windows=2, backbones=3, gap=2, seed=4)
    assert len(pairs) == 6
    low, high = pairs[0]
    assert low.shape == (32, 48, 3) and high.shape == (64, 96, 3)
    again = upsampler.round_trips(data_folder, windows=2, backbones=3, gap=2, seed=4)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(pairs, again))
    held = upsampler.round_trips(data_folder, only=("cup.mp4",), windows=1, backbones=3, gap=2)
    assert len(held) == 3


def test_training_resumes_and_exports(data_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(upsampler, "base_tensors", lambda base: small_chain(3))
    monkeypatch.setattr(upsampler, "HOLDOUT", ("cup.mp4",))
    out = tmp_path / "run"
    kw = dict(batch=2, patch=8, windows=1, val_every=2, val_side=16)
    upsampler.train_upsampler(data_folder, out, steps=2, **kw)
    first = torch.load(out / "ckpt.pt", weights_only=False)
    assert first["step"] == 2
    upsampler.train_upsampler(data_folder, out, steps=4, resume=True, **kw)
    ck = torch.load(out / "ckpt.pt", weights_only=False)
    assert ck["step"] == 4 and not torch.equal(ck["tensors"]["conv0.weight"],
                                               first["tensors"]["conv0.weight"])
    rows = (out / "val_log.csv").read_text().splitlines()
    assert rows[0] == "step,val_psnr,lanczos_psnr" and [r.split(",")[0] for r in rows[1:]] == [
        "0", "2", "4"]
    from vidgen_codec.train.export import export_upsampler

    export_upsampler(out / "ckpt.pt", tmp_path / "w")
    model, _ = own._loaded(tmp_path / "w")
    assert np.array_equal(own.chain_tensors(model)["conv0.weight"],
                          ck["tensors"]["conv0.weight"].numpy())


def test_the_encoder_falls_back_to_its_own_upsampler_without_the_wheel(monkeypatch):
    from vidgen_codec.codecs.stem import upsamplers
    from vidgen_codec.priors import loading

    if not own.own_available("vgc-upconv7-av1"):
        pytest.skip("weights/upsampler-av1 is not in this checkout")
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None)  # no wheel
    got = upsamplers.encoder_priors()
    assert [pid for pid, _, _ in got] == [6]
    assert got[0][2] == bytes.fromhex(own.own_identity("vgc-upconv7-av1"))[:8]


def test_a_file_upsampled_by_vgcs_own_decodes_the_same_on_any_thread_count(tmp_path,
                                                                            monkeypatch):
    """Without the wheel the encoder names vgc-upconv7-av1 (Lanczos scored as hopeless, so
    that it is named whatever the content); the file decodes, to the same frames on 1, 2 and
    3 threads, without the wheel."""
    from dataclasses import replace

    from conftest import decoded_digests
    from vidgen_codec import api
    from vidgen_codec.codecs.stem import StemCodec
    from vidgen_codec.info import describe
    from vidgen_codec.priors import loading

    if not own.own_available("vgc-upconv7-av1"):
        pytest.skip("weights/upsampler-av1 is not in this checkout")
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None)  # no wheel
    upsampled = chosen_gop.upsampled
    monkeypatch.setattr(chosen_gop, "upsampled", lambda st, best, o: upsampled(
        st, replace(best, score=-1.0), o))
    StemCodec.random(seed=3).save(tmp_path / "w")
    clip = write_clip(str(tmp_path / "c.mkv"), synthetic_frames(64, 48, 9), Fraction(25))
    api.encode(clip, str(tmp_path / "o.vgc"), bpp=0.05, weights=str(tmp_path / "w"),
               refine=False, progress=False, speed="slow", backbone_interval=4,
               backbone_scale=2)
    assert [g["upsampler"] for g in describe(str(tmp_path / "o.vgc"))["av1_gops"]] == [
        "vgc-upconv7-av1"]
    runs = decoded_digests(tmp_path / "o.vgc", tmp_path / "d", threads=(1, 2, 3),
                           refine=False, weights=str(tmp_path / "w"))
    assert len(runs[0]) == 9 and runs[0] == runs[1] == runs[2]
