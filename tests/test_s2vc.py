"""S²VC: conditional coding round trip, the generator's buffers, seeking, bad streams, rate,
and the full-size (diffusers folder + LoRA) loading path at tiny size."""

from __future__ import annotations

import hashlib
import json

import pytest
import numpy as np
import torch

from conftest import synthetic_frames as moving_frames
from vidgen_codec import api
from vidgen_codec.codecs.base import RateTarget, Structure
from vidgen_codec.codecs.s2vc import S2vcCodec
from vidgen_codec.codecs.s2vc.codec import small_config
from vidgen_codec.errors import FormatError, InputError, WeightsError
from vidgen_codec.frames import pad_to_multiple, to_tensor
from vidgen_codec.info import describe
from vidgen_codec.models.integer_hyper import IntegerHyperSynthesis
from vidgen_codec.registry import get_codec
from vidgen_codec.weights import repo_weights_dir


@pytest.fixture(scope="module")
def s2vc_weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("w") / "s2vc"
    S2vcCodec.random(seed=3).save(d)
    return str(d)


def _encode(codec, n=10, gop=6, bpp=0.4, q=None):
    """Streaming (no share search): one chunk per frame, the state after each."""
    st = codec.new_encoder(64, 64, RateTarget(bpp=bpp, q=q), n, Structure(gop, search=False))
    chunks, recs = [], []
    for f in moving_frames(64, 64, n):
        out, st = codec.encode_frame(st, pad_to_multiple(to_tensor(f), 64)[0])
        chunks += out
        recs.append(st.buffer.clone())
    return chunks, recs


def _decode(codec, payloads, generate=True):
    st = codec.new_decoder(generate=generate)
    frames, feats = {}, []
    for p in payloads:
        out, st = codec.decode_frame(st, p, 64, 64)
        frames.update(out)
        feats.append(st.buffer.clone())
    return frames, feats


def test_structure_and_chunk_types():
    codec = S2vcCodec.random(seed=1)
    chunks, _ = _encode(codec, n=13, gop=6)
    kinds = "".join("IPMR"[c.payload.frame_type] for c in chunks)
    assert kinds == "IPPPPP" + "IPPPPPP"  # a stub of one frame joins the GOP before it
    assert [c.chunk_type.name for c in chunks[:2]] == ["BACKBONE_FRAME", "LATENT_RESIDUAL"]
    assert [c.gop_start for c in chunks].count(True) == 2
    assert all(len(c.payload.streams) == 2 for c in chunks)


def test_decoder_buffer_equals_encoder_buffer():
    """The feature buffer the encoder conditions on is the decoder's, bit for bit."""
    codec = S2vcCodec.random(seed=1)
    chunks, enc_feats = _encode(codec)
    _, dec_feats = _decode(codec, [c.payload for c in chunks])
    assert len(enc_feats) == len(dec_feats) == 10
    for a, b in zip(enc_feats, dec_feats):
        assert torch.equal(a, b)


def test_generator_uses_and_returns_its_diffusion_buffer():
    codec = S2vcCodec.random(seed=1)
    payloads = [c.payload for c in _encode(codec, n=4)[0]]
    gen, _ = _decode(codec, payloads)
    plain, _ = _decode(codec, payloads, generate=False)
    assert sorted(gen) == sorted(plain) == [0, 1, 2, 3]
    assert all(not torch.equal(gen[i], plain[i]) for i in gen)
    # TCG: the same P-frame decoded after a different previous frame differs
    f = torch.randn(1, codec.cfg.F, 8, 8)
    base = torch.rand(1, 3, 64, 64)
    y0, buf0 = codec.generator(f, base, 1, None)
    y1, _ = codec.generator(f, base, 1, [b + 1 for b in buf0])
    assert len(buf0) == codec.cfg.tcg_blocks and not torch.equal(y0, y1)


def test_encoder_state_does_not_grow():
    """Streaming (--fast): the encoder holds the feature buffer, the last frame and latent, no
    more."""
    codec = S2vcCodec.random(seed=1)
    st = codec.new_encoder(64, 64, RateTarget(bpp=0.4), None, Structure(50, search=False))
    def held(v) -> int:
        """Elements held by a field: a tensor's or array's, and a list's (its items'),
        so that a growing list (the held GOP, `pending`) counts."""
        if torch.is_tensor(v) or isinstance(v, np.ndarray):
            return int(np.prod(v.shape))
        if isinstance(v, (list, tuple)):
            return len(v) + sum(held(x) for x in v)
        return 0

    sizes = []
    for f in moving_frames(64, 64, 12):
        _, st = codec.encode_frame(st, pad_to_multiple(to_tensor(f), 64)[0])
        sizes.append(sum(held(v) for v in vars(st).values()))
    assert len(set(sizes)) == 1 and sizes[0] > 0


def test_latent_tables_come_from_integer_networks():
    codec = S2vcCodec.random(seed=1)
    z = torch.randint(-3, 4, (1, codec.cfg.N, 1, 1)).double()
    y_prev = torch.randint(-5, 6, (1, codec.cfg.M, 4, 4)).double() / 4
    a = codec.latent.params(z, y_prev)
    hs = IntegerHyperSynthesis(codec.coder.h_s).forward_int64(z)
    b = IntegerHyperSynthesis(codec.coder.prior).forward_int64(torch.cat([*hs, y_prev], 1))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_bad_streams_are_refused():
    codec = S2vcCodec.random(seed=1)
    p = [c.payload for c in _encode(codec, n=4)[0]]
    for payloads in ([p[1]], [p[0], p[1].__class__(1, 2, 0, p[1].streams)],
                     [p[0], p[1].__class__(1, 1, 0, p[1].streams[:1])]):
        with pytest.raises(FormatError):
            _decode(codec, payloads)
    with pytest.raises(FormatError):  # truncated y stream of a P-frame
        _decode(codec, [p[0], p[1].__class__(1, 1, p[1].rate_code, [p[1].streams[0], b""])])


def test_options_that_do_not_apply_are_refused():
    codec = S2vcCodec.random(seed=1)
    for s in (Structure(8, 4), Structure(0), Structure(backbone="bogus"), Structure(preset=4),
              Structure(backbone="av1", backbone_scale=2)):
        with pytest.raises(InputError):
            codec.new_encoder(64, 64, RateTarget(bpp=0.1), 10, s)
    with pytest.raises(InputError):
        codec.new_encoder(64, 64, RateTarget(q=1.0), 10, Structure(backbone="av1"))


def test_api_round_trip_seek_and_info(make_clip, tmp_path, s2vc_weights):
    clip = make_clip("c.mkv", width=64, height=48, count=12)
    vgc = str(tmp_path / "a.vgc")
    rep = api.encode(clip.path, vgc, codec="s2vc", bpp=0.5, weights=s2vc_weights, gop=5,
                     progress=False)
    assert rep.frames == 12
    d = describe(vgc)
    assert d["codec"] == "s2vc" and "".join(f["type"] for f in d["per_frame"]) == "IPPPP" + "IPPPPPPP"[:7]
    api.decode(vgc, str(tmp_path / "all") + "/", weights=s2vc_weights, progress=False)
    n = api.decode(vgc, str(tmp_path / "part") + "/", start=6, frames=5,
                   weights=s2vc_weights, progress=False)
    assert n == 5 and _digests(tmp_path / "part") == _digests(tmp_path / "all")[6:11]
    api.decode(vgc, str(tmp_path / "plain") + "/", weights=s2vc_weights, progress=False,
               generate=False)
    assert _digests(tmp_path / "plain") != _digests(tmp_path / "all")
    again = str(tmp_path / "b.vgc")
    api.encode(clip.path, again, codec="s2vc", bpp=0.5, weights=s2vc_weights, gop=5,
               progress=False)
    assert open(vgc, "rb").read() == open(again, "rb").read()


def test_av1_iframes(make_clip, tmp_path, s2vc_weights):
    """--backbone av1: I-frames are SVT-AV1 key frames (one stream), the codec config says so,
    the P-frames condition on dav1d's decode; seeking and determinism hold."""
    clip = make_clip("c.mkv", width=64, height=48, count=9)
    vgc = str(tmp_path / "a.vgc")
    rep = api.encode(clip.path, vgc, codec="s2vc", bpp=0.6, backbone="av1", gop=4,
                     weights=s2vc_weights, progress=False)
    d = describe(vgc)
    assert "".join(f["type"] for f in d["per_frame"]) == "IPPP" + "IPPPP"
    from vidgen_codec.bitstream import ContainerReader

    with ContainerReader(vgc) as rd:
        assert rd.codec_config == bytes([1, 8, 2, 0])
        first = next(rd.iter_frames())
        assert len(first.payload.streams) == 1
    assert abs(rep.bpp / 0.6 - 1) < 0.25
    api.decode(vgc, str(tmp_path / "all") + "/", weights=s2vc_weights, progress=False)
    api.decode(vgc, str(tmp_path / "part") + "/", start=4, weights=s2vc_weights,
               progress=False)
    assert _digests(tmp_path / "part") == _digests(tmp_path / "all")[4:]
    again = str(tmp_path / "b.vgc")
    api.encode(clip.path, again, codec="s2vc", bpp=0.6, backbone="av1", gop=4,
               weights=s2vc_weights, progress=False)
    assert open(vgc, "rb").read() == open(again, "rb").read()


def test_fixed_rate(make_clip, tmp_path, s2vc_weights):
    clip = make_clip("c.mkv", count=4)
    a = str(tmp_path / "a.vgc")
    api.encode(clip.path, a, codec="s2vc", q=1.5, weights=s2vc_weights, progress=False)
    assert {f["rate_code"] for f in describe(a)["per_frame"]} == {1500}
    with pytest.raises(InputError):
        api.encode(clip.path, str(tmp_path / "b.vgc"), codec="s2vc", q=99.0,
                   weights=s2vc_weights, progress=False)
    assert not (tmp_path / "b.vgc").exists()


def test_no_generate_is_refused_for_other_codecs(make_clip, tmp_path):
    clip = make_clip("c.mkv", count=2)
    a = str(tmp_path / "a.vgc")
    api.encode(clip.path, a, codec="intra", bpp=0.5, progress=False)
    with pytest.raises(InputError, match="generate"):
        api.decode(a, str(tmp_path / "d.mkv"), generate=False, progress=False)
    assert not (tmp_path / "d.mkv").exists()


def test_threads_do_not_change_bytes_or_frames(make_clip, tmp_path, s2vc_weights):
    clip = make_clip("c.mkv", count=5)
    threads = torch.get_num_threads()
    out = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            vgc = str(tmp_path / f"{n}.vgc")
            api.encode(clip.path, vgc, codec="s2vc", bpp=0.5, weights=s2vc_weights,
                       progress=False)
            api.decode(vgc, str(tmp_path / f"{n}.y4m"), weights=s2vc_weights, progress=False)
            out[n] = (open(vgc, "rb").read(), open(tmp_path / f"{n}.y4m", "rb").read())
    finally:
        torch.set_num_threads(threads)
    assert out[1] == out[2]


def test_spec_worked_example_framing():
    """bitstream_spec.md 15 s2vc: the chunks' framing fields, as the encoder writes them."""
    from vidgen_codec.bitstream.framing import FRAMING

    codec = S2vcCodec.random(seed=3)
    st = codec.new_encoder(64, 64, RateTarget(q=1.0), 2, Structure(2))
    packed = []
    for f in moving_frames(64, 64, 2):
        chunks, st = codec.encode_frame(st, pad_to_multiple(to_tensor(f), 64)[0])
        packed += [FRAMING.pack_chunk(int(c.chunk_type) & 0x7F, c.payload.pack()) for c in chunks]
    # type, (length), frame_index, frame_type, rate_code 1000 (zigzag d0 0f), n_streams 2
    assert packed[0][0] == 0x02 and packed[0][2:7] == bytes.fromhex("0000d00f02")
    assert packed[1][0] == 0x04 and packed[1][2:7] == bytes.fromhex("0101d00f02")


def test_codecs_lists_s2vc():
    spec = get_codec("s2vc")
    assert spec.codec_id == 3 and spec.weights == "s2vc"


# -- shipped weights ----------------------------------------------------------------------------
SHIPPED = repo_weights_dir() / "s2vc" / "config.json"


@pytest.mark.slow  # over 10 s on 2 cores: .ci/run runs it, make test does not
@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped s2vc weights")
@pytest.mark.parametrize("target", [0.02, 0.03])
def test_shipped_s2vc_meets_bpp_target(tmp_path, target):
    """A moving synthetic scene, 320x192, 41 frames (one GOP: the 9-frame stub joins the
    first 32): within ±5 % of the target;
    the file decodes with and without the generator. (The shipped model's P-frames top out
    near 0.047 bpp on this clip; on cup a larger I-frame share now reaches 0.049 at a 0.05
    target, which the config's share left at 0.039: see RESULTS.md.)"""
    from fractions import Fraction

    from conftest import write_clip
    from vidgen_codec.tools.sample_clip import synthetic_frames
    from vidgen_codec.video_io import read_frames

    write_clip(str(tmp_path / "c.mkv"), list(synthetic_frames(n=41, w=320, h=192)),
               Fraction(25))
    rep = api.encode(str(tmp_path / "c.mkv"), str(tmp_path / "a.vgc"), codec="s2vc",
                     bpp=target, progress=False)
    real = (tmp_path / "a.vgc").stat().st_size * 8 / (320 * 192 * 41)
    assert rep.bpp == pytest.approx(real)
    assert abs(real - target) / target <= 0.05, f"real {real:.4f} vs target {target}"
    for gen in (True, False):
        out = str(tmp_path / f"d{gen}.mkv")
        assert api.decode(str(tmp_path / "a.vgc"), out, generate=gen, progress=False) == 41
        assert len(list(read_frames(out))) == 41


# -- full-size path at tiny size ----------------------------------------------------------------
def test_model_from_a_diffusers_folder_with_lora(tmp_path, make_clip):
    """An SD-shaped U-Net and VAE saved with save_pretrained, loaded with from_pretrained
    under the s2vc weights folder (LoRA adapters I and P on the U-Net), encode and decode."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from vidgen_codec.models.s2vc_model import S2vcModel

    cfg = small_config()
    torch.manual_seed(0)
    base = tmp_path / "sd"
    UNet2DConditionModel(**cfg.unet).save_pretrained(base / "unet")
    AutoencoderKL(**cfg.vae).save_pretrained(base / "vae")
    full = small_config(unet=None, vae=None, base_dir=str(base), skip=False, lora_rank=4,
                       model_id="s2vc-sd-lora4")
    model = S2vcModel(full, base)
    kinds = {k.split("lora_")[1].split(".")[1] for k in model.adapter_state() if "lora_" in k}
    assert kinds == {"I", "P"}
    assert not any(k.startswith("generator.vae.") for k in model.adapter_state())
    from vidgen_codec.codecs.intra import IntraCodec, build_tables

    build_tables(model.coder)
    codec = S2vcCodec(IntraCodec.random(1), model, b"\1" * 32)
    wdir = tmp_path / "weights"
    codec.save(wdir)
    meta = json.loads((wdir / "config.json").read_text())
    assert meta["config"]["unet"] is None and meta["config"]["lora_rank"] == 4
    clip = make_clip("c.mkv", count=3)
    vgc = str(tmp_path / "a.vgc")
    api.encode(clip.path, vgc, codec="s2vc", bpp=0.5, weights=str(wdir), progress=False)
    assert api.decode(vgc, str(tmp_path / "d") + "/", weights=str(wdir), progress=False) == 3
    (base / "vae" / "config.json").unlink()
    with pytest.raises(WeightsError):
        S2vcCodec.load(wdir)


def _digests(folder) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())]


# -- fuzzing the s2vc payloads -------------------------------------------------------------------
_FUZZ = {}


def _fuzz_payloads():
    if not _FUZZ:
        codec = S2vcCodec.random(seed=1)
        _FUZZ["codec"] = codec
        _FUZZ["payloads"] = [c.payload for c in _encode(codec, n=3, gop=3)[0]]
    return _FUZZ["codec"], _FUZZ["payloads"]


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(which=st.integers(0, 2), stream=st.integers(0, 1), data=st.binary(max_size=64),
       rate=st.integers(-32768, 32767))
def test_garbage_streams_fail_cleanly(which, stream, data, rate):
    """Any bytes in an s2vc stream decode to frames or raise FormatError, nothing else."""
    codec, payloads = _fuzz_payloads()
    p = list(payloads)
    streams = list(p[which].streams)
    streams[stream] = data
    p[which] = p[which].__class__(p[which].frame_index, p[which].frame_type, rate, streams)
    try:
        frames, _ = _decode(codec, p)
    except FormatError:
        return
    assert all(torch.isfinite(f).all() for f in frames.values())


def test_training_resumes_and_exports_on_a_diffusers_base(tmp_path, make_clip):
    """`vgc train s2vc --model-dir`: LoRA adapters on a tiny SD-shaped base, a resumed run,
    an export that holds no base tensors and loads back as a codec."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from conftest import write_clip
    from fractions import Fraction
    from vidgen_codec.train.export import export_s2vc
    from vidgen_codec.train.s2vc import train_s2vc

    cfg = small_config()
    base = tmp_path / "sd"
    UNet2DConditionModel(**cfg.unet).save_pretrained(base / "unet")
    AutoencoderKL(**cfg.vae).save_pretrained(base / "vae")
    data = tmp_path / "data"
    data.mkdir()
    write_clip(str(data / "a.mkv"), moving_frames(96, 80, 12), Fraction(25))
    weights = tmp_path / "weights"
    S2vcCodec.random(seed=1).intra.save(weights / "intra")
    full = small_config(unet=None, vae=None, base_dir=str(base), skip=False, lora_rank=2)
    run = tmp_path / "run"
    kw = dict(intra_dir=str(weights / "intra"), batch=1, size=64, frames=3, adv_start=1,
              ckpt_every=1)
    train_s2vc(str(data), str(run), coder_steps=1, generator_steps=1, cfg=full, **kw)
    ck = torch.load(run / "ckpt.pt", weights_only=False)
    assert ck["step"] == 2 and not any(k.startswith("generator.vae.") for k in ck["model"])
    lora = {k: v.clone() for k, v in ck["model"].items() if "lora_B" in k}
    train_s2vc(str(data), str(run), coder_steps=1, generator_steps=3, resume=True, **kw)
    ck = torch.load(run / "ckpt.pt", weights_only=False)
    assert ck["step"] == 4
    assert any(not torch.equal(v, ck["model"][k]) for k, v in lora.items())  # LoRA trained
    log = (run / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,stage,loss,bpp,psnr_rec,l1,ssim")
    export_s2vc(run / "ckpt.pt", weights / "s2vc")
    codec = S2vcCodec.load(weights / "s2vc")
    assert codec.cfg.lora_rank == 2 and codec.model_id == "s2vc-random"


def test_skip_head_starts_as_the_generator_without_it():
    """A zero-initialised skip head adds nothing until trained: a warm start from a model
    without one decodes the same frames."""
    from vidgen_codec.models.s2vc_model import S2vcModel

    torch.manual_seed(0)
    old = S2vcModel(small_config())
    torch.nn.init.normal_(old.generator.vae.decoder.conv_out.weight, std=0.02)
    new = S2vcModel(small_config(skip_head=4))
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert missing and all(k.startswith("generator.head.") for k in missing) and not unexpected
    f, base = torch.randn(1, 8, 8, 8), torch.rand(1, 3, 64, 64)
    y_old, _ = old.generator(f, base, 1, None)
    y_new, _ = new.generator(f, base, 1, None)
    assert torch.equal(y_old, y_new)
    torch.nn.init.normal_(new.generator.head[-1].weight, std=0.02)
    assert not torch.equal(new.generator(f, base, 1, None)[0], y_old)  # the head is used


def test_generator_only_training_warm_started_with_a_skip_head(tmp_path):
    """`vgc train s2vc --init W --coder-steps 0 --skip-head N --fidelity`: the coder stays as
    it was, the head is added and trained, and the export loads as a codec."""
    from fractions import Fraction

    from conftest import write_clip
    from vidgen_codec.train.export import export_s2vc
    from vidgen_codec.train.refiner import FIDELITY
    from vidgen_codec.train.s2vc import train_s2vc

    data = tmp_path / "data"
    data.mkdir()
    write_clip(str(data / "a.mkv"), moving_frames(96, 80, 12), Fraction(25))
    weights = tmp_path / "weights"
    start = S2vcCodec.random(seed=1)
    start.save(weights / "s2vc")
    run = tmp_path / "run"
    train_s2vc(str(data), str(run), intra_dir=str(weights / "s2vc" / "intra"), coder_steps=0,
               generator_steps=2, batch=1, size=64, frames=3, init=str(weights / "s2vc"),
               changes={"skip_head": 4, "model_id": "s2vc-random-h4"}, weights=FIDELITY)
    ck = torch.load(run / "ckpt.pt", weights_only=False)
    assert ck["step"] == 2 and ck["config"]["skip_head"] == 4 and ck["config"]["F"] == 8
    assert ck["config"]["model_id"] == "s2vc-random-h4"
    coder = {f"coder.{k}": v for k, v in start.model.coder.named_parameters()}
    assert all(torch.equal(ck["model"][k], v) for k, v in coder.items())  # frozen (its CDF
    # tables are not carried: the export builds them again)
    assert ck["model"]["generator.head.4.weight"].abs().sum() > 0  # trained from zero
    log = (run / "log.csv").read_text().splitlines()
    assert log[0].endswith("gen_gain_db") and log[-1].split(",")[1] == "generator"
    (weights / "intra").mkdir()
    for p in (weights / "s2vc" / "intra").iterdir():
        (weights / "intra" / p.name).write_bytes(p.read_bytes())
    export_s2vc(run / "ckpt.pt", weights / "s2vc-h4")
    codec = S2vcCodec.load(weights / "s2vc-h4")
    assert codec.cfg.skip_head == 4 and codec.model_id == "s2vc-random-h4"
