"""The diffusion refiner: model, FTE, windows, REFINE chunk, API and CLI, Wan-format loading."""

from __future__ import annotations

import dataclasses
import math
import hashlib
import json

import pytest
import torch

from vidgen_codec import api
from vidgen_codec.bitstream import ChunkType, ContainerReader, ContainerWriter, SequenceHeader
from vidgen_codec.bitstream.headers import RefineRecord
from vidgen_codec.bitstream.ids import FrameType
from vidgen_codec.codecs.stem import StemCodec
from vidgen_codec.errors import FormatError, InputError, WeightsError
from vidgen_codec.models.refiner import (Refiner, RefinerConfig, SkipHead, level_code,
                                         level_features, seeded_noise,
                                         tiny_transformer_config, tiny_vae_config,
                                         wan21_1_3b_transformer_config)
from vidgen_codec.refine import windows
from vidgen_codec.refine.loading import load_refiner, refiner_identity, save_refiner

from conftest import vgc

I, P, M = FrameType.I, FrameType.P, FrameType.M


def _random_refiner(seed=0, **kw) -> Refiner:
    torch.manual_seed(seed)
    ref = Refiner(RefinerConfig(model_id=f"refiner-random-{seed}", **kw))
    for p in ref.parameters():  # make every part non-trivial (no zero-init identity)
        p.data.add_(torch.randn_like(p) * 0.02)
    return ref.eval()


@pytest.fixture(scope="module")
def refiner_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("r") / "refiner"
    save_refiner(_random_refiner(1), d)
    return str(d)


# -- model -------------------------------------------------------------------------------------
def test_untrained_refiner_is_the_identity():
    torch.manual_seed(0)
    ref = Refiner(RefinerConfig()).eval()
    x = torch.rand(1, 3, 9, 32, 64)
    with torch.no_grad():
        y = ref(x, torch.zeros(1, 9, dtype=torch.long), seeded_noise(ref.latent_shape(9, 32, 64), 0, 0),
                torch.rand(1, 9, 2) * 255)
    assert torch.equal(y, x)


def test_skip_head_corrects_each_frame_from_its_own_pixels():
    ref = _random_refiner(3)
    z = torch.randn(ref.latent_shape(9, 32, 64))
    x = torch.rand(1, 3, 9, 32, 64) * 2 - 1
    x2 = x.clone()
    x2[:, :, 4, 10, 20] += 0.5
    with torch.no_grad():
        no_skip = ref.vae.decode(z).sample
        y, y2 = ref.decode(z, x), ref.decode(z, x2)
    assert y.shape == no_skip.shape == x.shape
    assert not torch.allclose(y, no_skip)
    changed = (y2 - y).abs().amax(dim=(0, 1, 3, 4)) > 0
    assert changed.tolist() == [t == 4 for t in range(9)]


def test_warm_start_from_a_refiner_without_skip_keeps_its_output(tmp_path):
    from vidgen_codec.train.refiner import warm_start

    old = _random_refiner(4, skip=0)
    save_refiner(old, tmp_path / "old")
    new = Refiner(RefinerConfig()).eval()
    assert warm_start(new, tmp_path / "old") == len(old.state_dict())
    x, types = torch.rand(1, 3, 9, 32, 32), torch.tensor([[0, 2, 2, 2, 2, 2, 2, 2, 1]])
    with torch.no_grad():
        assert torch.equal(new(x, types, None), old(x, types, None))


@pytest.mark.parametrize("kind,octaves", [("bpp", 1.0), ("qindex", 1.0)])
def test_warm_start_leaves_out_what_reads_another_level(tmp_path, kind, octaves):
    """A level embedder or skip FiLM trained on another level kind or feature spacing would
    read its inputs wrongly: a warm start keeps them at their zero initialisation."""
    from vidgen_codec.train.refiner import warm_start

    old = _random_refiner(6, level_kind=kind, level_octaves=octaves)
    save_refiner(old, tmp_path / "old")
    new = Refiner(RefinerConfig()).eval()
    n = warm_start(new, tmp_path / "old")
    left = [k for k in old.state_dict() if k.startswith(("level_embedder.", "skip.film."))]
    assert left and n == len(old.state_dict()) - len(left)
    assert float(new.skip.film.weight.detach().abs().sum()) == 0
    assert float(new.level_embedder.net[-1].weight.detach().abs().sum()) == 0
    assert torch.equal(new.skip.net[0].weight, old.skip.net[0].weight)


def test_warm_start_adds_skip_blocks_without_changing_the_output(tmp_path):
    from vidgen_codec.train.refiner import warm_start

    old = _random_refiner(5, skip_blocks=0)
    save_refiner(old, tmp_path / "old")
    new = Refiner(RefinerConfig(skip_blocks=2)).eval()
    assert len(new.skip.blocks) == 2
    assert warm_start(new, tmp_path / "old") == len(old.state_dict())
    x, types = torch.rand(1, 3, 9, 32, 32), torch.tensor([[0, 2, 2, 2, 2, 2, 2, 2, 1]])
    with torch.no_grad():
        assert torch.equal(new(x, types, None), old(x, types, None))
        new.skip.blocks[1][-1].weight.normal_()  # a trained block changes the correction
        assert not torch.equal(new(x, types, None), old(x, types, None))
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["config"]["skip_blocks"]  # as v4 and earlier wrote it
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    loaded, _ = load_refiner(tmp_path / "old")
    assert len(loaded.skip.blocks) == 0


def test_velocity_is_the_wan_forward_plus_frame_types():
    ref = _random_refiner(2)
    zt = torch.randn(1, 16, 5, 4, 6)
    types = torch.tensor([[I, M, M, M, M, P, M, M, P]])
    with torch.no_grad():
        ref.fte.table.weight.zero_()
        ref.level_embedder.net[-1].weight.zero_()
        ref.level_embedder.net[-1].bias.zero_()
        ours = ref.velocity(zt, types, torch.rand(1, 9, 16))
        stock = ref.transformer(zt, torch.tensor([ref.cfg.timestep]), ref.context,
                                return_dict=False)[0]
        assert torch.allclose(ours, stock, atol=1e-5)
        ref.fte.table.weight.normal_()
        typed = ref.velocity(zt, types)
        retyped = ref.velocity(zt, torch.tensor([[I, P, P, P, P, P, P, P, P]]))
    assert not torch.allclose(typed, retyped)  # the frame types steer the step


def test_backbone_levels_steer_the_step_and_old_configs_have_none():
    ref = _random_refiner(2)
    assert ref.cfg.level_kind == "qindex"
    zt = torch.randn(1, 16, 5, 4, 6)
    types = torch.tensor([[I, M, M, M, M, P, M, M, P]])

    def feats(bpp, q):
        return ref.level_features(torch.tensor([bpp, q]).expand(1, 9, 2), (1, 9), "cpu")

    with torch.no_grad():
        # the quantiser steers the step; a qindex refiner does not look at the bits per pixel
        assert not torch.allclose(ref.velocity(zt, types, feats(0.1, 40.0)),
                                  ref.velocity(zt, types, feats(0.1, 200.0)))
        assert torch.equal(ref.velocity(zt, types, feats(0.01, 90.0)),
                           ref.velocity(zt, types, feats(0.5, 90.0)))
        assert torch.equal(ref.level_features(None, (1, 9), "cpu"), feats(0.0, -1.0))
        # neighbouring quantisers get neighbouring features (half-octave frequencies)
        step = (feats(0.0, 101.0) - feats(0.0, 100.0)).abs().max()
        assert 0 < step < 0.15
    u = level_code(torch.tensor([[[0.0, -1.0], [0.3, 0.0], [0.3, 255.0]]]), "qindex")
    assert torch.allclose(u, torch.tensor([[-1.25, -1.0, 1.0]]))
    bpp = torch.tensor([[[0.0, 5.0], [0.25, 5.0], [8.0, 5.0]]])  # v6's code: log2, clamped
    assert torch.allclose(level_code(bpp, "bpp"), torch.tensor([[-1.0, 3 / 7, 1.0]]))
    # v6's features, as its LevelEmbedder computed them inline, to the bit
    lv = torch.rand(1, 9) * 0.6
    u = (torch.log2(lv.clamp_min(2.0 ** -12)).clamp(-12, 2) + 5) / 7
    a = u[..., None] * (math.pi / 2) * 2.0 ** torch.arange(8, dtype=torch.float32)
    v6 = Refiner(RefinerConfig.from_dict({"model_id": "v6", "levels": True}))
    assert v6.cfg.level_octaves == 1.0
    assert torch.equal(v6.level_features(torch.stack([lv, -torch.ones_like(lv)], -1), (1, 9),
                                         "cpu"), torch.cat([a.sin(), a.cos()], -1))
    with pytest.raises(ValueError, match="level_kind"):
        level_code(bpp, "crf")
    f = level_features(torch.tensor([[0.1, 0.2, 0.4, 0.8, 0.8]]))
    e = ref.level_embedder(f)
    assert e.shape == (1, 3, ref.fte.table.weight.shape[1])
    assert torch.allclose(e[0, 2], ref.level_embedder(f[:, 4:])[0, 0])
    assert RefinerConfig.from_dict({"model_id": "old"}).levels is False  # v5 and earlier
    v6 = RefinerConfig.from_dict({"model_id": "v6", "levels": True})
    assert (v6.level_kind, v6.skip_levels) == ("bpp", False)
    assert Refiner(v6).skip.film is None
    assert Refiner(RefinerConfig(levels=False)).level_embedder is None
    assert Refiner(RefinerConfig(levels=False)).skip.film is None


def test_skip_head_levels_start_as_nothing_and_can_leave_a_frame_alone():
    """The level's FiLM and gain in the SkipHead are zero-initialised (a warm start from a
    head without them decodes the same frames), and the gain can switch one frame's
    correction off while another's stays."""
    torch.manual_seed(0)
    plain = SkipHead(12, 8, 6, 1)
    leveled = SkipHead(12, 8, 6, 1, levels=True)
    leveled.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        for m in (plain.net[-1], plain.blocks[0][-1]):
            m.weight.normal_(0, 0.1)
        leveled.load_state_dict(plain.state_dict(), strict=False)
        patches, features = torch.randn(1, 12, 3, 5, 7), torch.randn(1, 8, 3, 5, 7)
        level = level_features(torch.tensor([[-1.0, 0.0, 1.0]]))
        assert torch.equal(leveled(patches, features, level), plain(patches, features))
        with pytest.raises(ValueError, match="level"):
            leveled(patches, features)
        leveled.film.bias[-1] = -1.0  # gain 0: every frame's correction off
        assert torch.equal(leveled(patches, features, level), torch.zeros(1, 12, 3, 5, 7))
        leveled.film.weight[-1] = level[0, 1] / (level[0, 1] @ level[0, 1])  # middle one on
        out = leveled(patches, features, level)
        ref_out = plain(patches, features)
    gain = level[0] @ level[0, 1] / (level[0, 1] @ level[0, 1])
    for t in range(3):
        assert torch.allclose(out[:, :, t], ref_out[:, :, t] * gain[t], atol=1e-6)
    assert torch.allclose(out[:, :, 1], ref_out[:, :, 1], atol=1e-6)


def test_frame_type_embedder_averages_per_latent_frame():
    ref = _random_refiner(3)
    e = ref.fte(torch.tensor([[I, M, P, M, M]]))  # temporal ratio 2: latent frames {0},{1,2},{3,4}
    table = ref.fte.table.weight
    assert e.shape == (1, 3, table.shape[1])
    assert torch.allclose(e[0, 1], (table[M] + table[P]) / 2)
    assert torch.allclose(e[0, 2], table[M])


def test_wan21_dimensions_give_a_1_3b_transformer():
    from diffusers import WanTransformer3DModel

    with torch.device("meta"):
        tr = WanTransformer3DModel(**wan21_1_3b_transformer_config())
    n = sum(p.numel() for p in tr.parameters())
    assert 1.3e9 < n < 1.5e9


def test_noise_depends_on_seed_and_window_only():
    a = seeded_noise((1, 16, 2, 3, 4), 7, 0)
    assert torch.equal(a, seeded_noise((1, 16, 2, 3, 4), 7, 0))
    assert not torch.equal(a, seeded_noise((1, 16, 2, 3, 4), 8, 0))
    assert not torch.equal(a, seeded_noise((1, 16, 2, 3, 4), 7, 9))


# -- windows -----------------------------------------------------------------------------------
def _stream(ref, types, seed=3, h=32, w=48):
    frames = [(i, torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(i)), t)
              for i, t in enumerate(types)]
    st, out = windows.RefineState(seed), []
    for k in range(0, len(frames), 3):  # arrive in uneven groups, as a decoder hands them out
        done, st = windows.push(ref, st, frames[k:k + 3])
        out += done
    done, st = windows.flush(ref, st)
    return out + done


@pytest.mark.parametrize("types", ["I", "IMMMP", "IMMMPMMMP", "IMMMPMMMPMMMPMMMPMP",
                                   "IMMPIMMPIMMMMMMMMMMP"])
def test_windows_output_every_frame_once_in_order(types):
    ref = _random_refiner(4)
    ft = [{"I": I, "P": P, "M": M}[c] for c in types]
    out = _stream(ref, ft)
    assert [i for i, _ in out] == list(range(len(types)))
    assert all(x.shape == (1, 3, 32, 48) and 0 <= x.min() and x.max() <= 1 for _, x in out)


def test_windows_restart_at_each_gop():
    """Frames from the second I-frame on do not depend on what came before it."""
    ref = _random_refiner(5)
    full = _stream(ref, [I, M, M, P, M, P, I, M, M, M, P, M, P])
    # the same frames, fed from the second GOP on, keeping their indexes
    frames = [(i, torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(i)), t)
              for i, t in enumerate([I, M, M, P, M, P, I, M, M, M, P, M, P])][6:]
    done, st = windows.push(ref, windows.RefineState(3), frames)
    rest, _ = windows.flush(ref, st)
    for (i, a), (j, b) in zip(full[6:], done + rest):
        assert i == j and torch.equal(a, b)


# -- REFINE chunk ------------------------------------------------------------------------------
def _header():
    return SequenceHeader(2, 2, 0, 64, 48, 25, 1, 0, 9, 4, 0.02, 0.0, b"\1" * 32, "m", "t")


def test_window_spans_are_the_windows_push_runs():
    ref = _random_refiner(1)
    w = ref.cfg.window
    for n in (1, 2, w - 1, w, w + 1, 2 * w - 1, 2 * w, 40):
        runs = []
        orig = windows.run_window
        windows.run_window = lambda r, win, seed: (runs.append(win[0][0]), orig(r, win, seed))[1]
        try:
            items = [(i, torch.rand(1, 3, 16, 16), FrameType.I if i == 0 else FrameType.M)
                     for i in range(n)]
            out, st = windows.push(ref, windows.RefineState(0), items)
            windows.flush(ref, st)
        finally:
            windows.run_window = orig
        assert runs == [s for s, _ in windows.window_spans(n, w)], n


def test_gate_off_windows_pass_frames_through_and_on_windows_refine():
    ref = _random_refiner(1)
    w = ref.cfg.window
    n = 2 * w  # windows [0, w), [w-1, 2w-1), then the tail [2w-2, 2w)
    frames = [(i, torch.rand(1, 3, 16, 16), FrameType.I if i == 0 else FrameType.M)
              for i in range(n)]

    def decode(mask):  # every item of the GOP carries its mask
        st = windows.RefineState(3)
        out, st = windows.push(ref, st, [windows.WindowItem(*f, gate=mask) for f in frames])
        more, _ = windows.flush(ref, st)
        return dict(out + more)

    off, on, first = decode(0), decode(None), decode(0b001)
    assert all(torch.equal(off[i], frames[i][1]) for i in range(n))
    assert not torch.equal(on[1], frames[1][1])
    assert torch.equal(first[1], on[1]) and torch.equal(first[w + 1], frames[w + 1][1])


def test_av1_encoder_gates_each_window_by_measure(make_clip, tmp_path, stem_weights,
                                                 refiner_dir, monkeypatch):
    """(At a speed that runs the gate.) The random refiner makes frames worse: the encoder
    turns every window off and the file drops its REFINE chunk. A refiner that always wins
    keeps its windows and the chunk."""
    from vidgen_codec.stem_gop import unpack_gop

    clip = make_clip("c.mkv", width=64, height=48, count=11)
    f = str(tmp_path / "a.vgc")
    api.encode(clip.path, f, bpp=0.5, weights=stem_weights, refiner=refiner_dir, progress=False,
               speed="veryslow")
    with ContainerReader(f) as rd:
        assert rd.refine is None
        masks = [unpack_gop(c.payload)[0].refine_mask for c in rd.iter_frames()]
    assert masks and all(m == 0 for m in masks)
    # a measure by which every refined window wins (choose_mask scores refined, then plain)
    from vidgen_codec.refine import gate

    choose = gate.choose_mask

    seen = {}  # GOP start -> the levels the encoder's gate gave the refiner

    def refined_wins(ref, frames, types, t0, seed, score, levels):
        order = iter([1.0, 0.0] * len(frames))
        seen[t0] = levels
        return choose(ref, frames, types, t0, seed, lambda f, o: next(order), levels)

    monkeypatch.setattr(gate, "choose_mask", refined_wins)
    g = str(tmp_path / "b.vgc")
    api.encode(clip.path, g, bpp=0.5, weights=stem_weights, refiner=refiner_dir, seed=4,
               fast=False, progress=False, speed="veryslow")  # the speed that always gates
    with ContainerReader(g) as rd:
        assert rd.refine is not None and rd.refine.seed == 4
        masks = [unpack_gop(c.payload)[0].refine_mask for c in rd.iter_frames()]
        # the decoder's levels (frame_info) are the ones the encoder gated with
        codec = StemCodec.load(stem_weights)
        dst = codec.new_decoder(rd.codec_config, 64, 48)
        for c in rd.iter_frames():
            levels = codec.frame_info(dst, c.payload)[2]
            assert [levels[c.payload.frame_index + k] for k in range(len(levels))] \
                == seen[c.payload.frame_index]
            assert all(v.bpp > 0 and 0 <= v.qindex <= 255 for v in levels.values())
    assert any(masks)
    api.decode(g, str(tmp_path / "r") + "/", weights=stem_weights, refiner=refiner_dir,
               progress=False)
    api.decode(g, str(tmp_path / "n") + "/", weights=stem_weights, refine=False, progress=False)
    assert _digests(tmp_path / "r") != _digests(tmp_path / "n")
    fast = str(tmp_path / "fast.vgc")
    api.encode(clip.path, fast, bpp=0.5, weights=stem_weights, refiner=refiner_dir, fast=True,
               progress=False)
    with ContainerReader(fast) as rd:
        assert rd.refine is None  # the fast preset has no gate, so no refinement


def test_refine_record_round_trip_and_position(tmp_path):
    rec = RefineRecord(2**40 + 5, bytes(range(32)), "refiner-x")
    assert RefineRecord.unpack(rec.pack()) == rec
    with pytest.raises(FormatError):
        RefineRecord.unpack(rec.pack()[:40])
    path = tmp_path / "a.vgc"
    with ContainerWriter(path) as w:
        w.write_sequence_header(_header())
        w.write_refine(rec)
        w.finish(frame_count=0)
    with ContainerReader(path) as rd:
        assert rd.refine == rec
        assert [c.type for c in rd.chunks()][:2] == [ChunkType.SEQUENCE_HEADER, ChunkType.REFINE]
    bad = tmp_path / "b.vgc"
    with ContainerWriter(bad) as w:  # a REFINE chunk anywhere else is refused
        w.write_sequence_header(_header())
        w.write_chunk(0x8077, b"")  # an unknown ancillary chunk first
        w.write_chunk(ChunkType.REFINE, rec.pack())
        w.finish(frame_count=0)
    with ContainerReader(bad) as rd, pytest.raises(FormatError, match="REFINE"):
        rd.chunks()


# -- API and CLI -------------------------------------------------------------------------------
def _digests(folder):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())]


def test_refined_decode_is_deterministic_and_differs_from_no_refine(
        make_clip, tmp_path, stem_weights, refiner_dir):
    clip = make_clip("c.mkv", width=64, height=48, count=11)
    f = str(tmp_path / "a.vgc")
    api.encode(clip.path, f, bpp=0.5, weights=stem_weights, refiner=refiner_dir, seed=9,
               gop=6, backbone_interval=3, backbone="learned", progress=False)
    with ContainerReader(f) as rd:
        assert rd.refine.seed == 9 and rd.refine.model_id == "refiner-random-1"
    for name in ("r1", "r2"):
        api.decode(f, str(tmp_path / name) + "/", weights=stem_weights, refiner=refiner_dir,
                   progress=False)
    api.decode(f, str(tmp_path / "n") + "/", weights=stem_weights, refine=False,
               progress=False)
    assert _digests(tmp_path / "r1") == _digests(tmp_path / "r2")
    assert _digests(tmp_path / "r1") != _digests(tmp_path / "n")
    assert len(_digests(tmp_path / "n")) == 11
    # seeking starts at a GOP, where the refiner's windows restart: same frames
    api.decode(f, str(tmp_path / "s") + "/", start=7, frames=3, weights=stem_weights,
               refiner=refiner_dir, progress=False)
    assert _digests(tmp_path / "s") == _digests(tmp_path / "r1")[7:10]


def test_wrong_or_absent_refiner_is_refused(make_clip, tmp_path, stem_weights, refiner_dir):
    clip = make_clip("c.mkv", width=64, height=48, count=4)
    f, g = str(tmp_path / "a.vgc"), str(tmp_path / "b.vgc")
    api.encode(clip.path, f, bpp=0.5, weights=stem_weights, refiner=refiner_dir,
               backbone="learned", progress=False)
    other = tmp_path / "other"
    save_refiner(_random_refiner(2), other)
    with pytest.raises(WeightsError, match="refiner"):
        api.decode(f, str(tmp_path / "x.mkv"), weights=stem_weights, refiner=str(other),
                   progress=False)
    assert not (tmp_path / "x.mkv").exists()
    api.encode(clip.path, g, bpp=0.5, weights=stem_weights, refine=False, progress=False)
    with ContainerReader(g) as rd:
        assert rd.refine is None
    with pytest.raises(InputError, match="no REFINE"):
        api.decode(g, str(tmp_path / "y.mkv"), weights=stem_weights, refiner=refiner_dir,
                   progress=False)
    with pytest.raises(InputError, match="not refined"):
        api.encode(clip.path, g, codec="intra", bpp=0.5, refiner=refiner_dir, progress=False)


def test_an_edited_config_is_other_weights(make_clip, tmp_path, stem_weights, refiner_dir):
    """The identity a file records covers config.json too: a refiner whose timestep was edited
    (same tensors, other frames) is refused, and so are stem weights with an edited config."""
    import json
    import shutil

    clip = make_clip("c.mkv", width=64, height=48, count=4)
    f = str(tmp_path / "a.vgc")
    api.encode(clip.path, f, bpp=0.5, weights=stem_weights, refiner=refiner_dir,
               backbone="learned", progress=False)
    for k, (src, edit) in enumerate(((refiner_dir,
                                      lambda c: c.update(timestep=c["timestep"] + 1)),
                                     (stem_weights,
                                      lambda c: c.update(model_id=c["model_id"] + "-x")))):
        folder = tmp_path / f"edited{k}"
        shutil.copytree(src, folder)
        meta = json.loads((folder / "config.json").read_text())
        edit(meta["config"])
        (folder / "config.json").write_text(json.dumps(meta))
        kw = ({"refiner": str(folder), "weights": stem_weights} if src == refiner_dir
              else {"refiner": refiner_dir, "weights": str(folder)})
        with pytest.raises(WeightsError, match="refiner|encoded with weights"):
            api.decode(f, str(tmp_path / "x.mkv"), progress=False, **kw)
        assert not (tmp_path / "x.mkv").exists()


def test_cli_no_refine_and_info(make_clip, tmp_path, stem_weights, refiner_dir, capsys):
    clip = make_clip("c.mkv", width=64, height=48, count=3)
    f = tmp_path / "a.vgc"
    code, _, _ = vgc("encode", clip.path, f, "--bpp", "0.5", "--weights", stem_weights,
                     "--refiner", refiner_dir, "--seed", "4", "--backbone", "learned", "-q",
                     capsys=capsys)
    assert code == 0
    code, out, _ = vgc("info", f, "--json", "--weights", stem_weights, capsys=capsys)
    d = json.loads(out)
    assert d["refine"]["seed"] == 4 and d["refine"]["model_id"] == "refiner-random-1"
    assert d["refine"]["refiner_sha256"] == refiner_identity(refiner_dir)[0].hex()
    code, out, err = vgc("decode", f, tmp_path / "o.mkv", "--weights", stem_weights,
                         "--no-refine", "-q", capsys=capsys)
    assert code == 0 and "3 frames" in out


# -- a Wan model in diffusers format (full-size code path, tiny random weights) -----------------
@pytest.fixture(scope="module")
def wan_dir(tmp_path_factory):
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("wan") / "Wan-tiny-Diffusers"
    AutoencoderKLWan(**tiny_vae_config()).save_pretrained(d / "vae")
    WanTransformer3DModel(**tiny_transformer_config()).save_pretrained(d / "transformer")
    (d / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    return d


def test_wan_identity_names_the_base_weights_not_only_their_configs(wan_dir, tmp_path):
    """A base with the same configs but other weights (a fine-tune, say) is another refiner."""
    import shutil

    from safetensors.torch import load_file, save_file

    other = tmp_path / "other"
    shutil.copytree(wan_dir, other)
    f = next((other / "transformer").glob("*.safetensors"))
    state = load_file(f)
    name = sorted(state)[0]
    state[name] = state[name] + 1
    save_file(state, f, metadata={"format": "pt"})
    assert refiner_identity(None, other)[0] != refiner_identity(None, wan_dir)[0]
    shutil.copytree(wan_dir, tmp_path / "same")
    assert refiner_identity(None, tmp_path / "same")[0] == refiner_identity(None, wan_dir)[0]


def test_wan_folder_loads_with_lora_and_refines(wan_dir):
    ref, sha = load_refiner(None, wan_dir)
    assert ref.cfg.output == "image" and ref.cfg.lora_rank > 0
    assert any("lora_A" in k for k in ref.state_dict())
    assert sha == refiner_identity(None, wan_dir)[0]
    out = _stream(ref, [I, M, M, P, M], h=32, w=48)
    assert [i for i, _ in out] == list(range(5))
    with pytest.raises(WeightsError, match="diffusers"):
        load_refiner(None, wan_dir / "vae")


def test_train_adapter_on_wan_folder_then_code_with_it(tmp_path, wan_dir, make_clip,
                                                       stem_weights):
    from vidgen_codec.train.export import export_refiner
    from vidgen_codec.train.refiner import train_refiner

    data = tmp_path / "data"
    data.mkdir()
    make_clip(str(data / "a.mkv"), width=128, height=64, count=18)
    run = tmp_path / "run"
    kw = dict(batch=1, patch=64, lr=1e-3, stem_weights=stem_weights, model_dir=str(wan_dir),
              lora_rank=4, adv_start=1, seq_len=17, pool=1)
    train_refiner(str(data), str(run), steps=1, **kw)
    first = torch.load(run / "ckpt.pt", weights_only=False)
    train_refiner(str(data), str(run), steps=2, resume=True, **kw)
    ck = torch.load(run / "ckpt.pt", weights_only=False)
    assert ck["step"] == 2 and set(ck["model"]) == set(first["model"])
    assert all("lora_" in k or k.startswith(("fte.", "level_embedder.", "context"))
               for k in ck["model"])
    assert any(k.startswith("level_embedder.") for k in ck["model"])
    adapter = tmp_path / "adapter"
    export_refiner(run / "ckpt.pt", adapter)
    clip = make_clip("c.mkv", width=64, height=48, count=5)
    f = str(tmp_path / "a.vgc")
    api.encode(clip.path, f, bpp=0.5, weights=stem_weights, refiner=str(adapter),
               model_dir=str(wan_dir), backbone="learned", progress=False)
    n = api.decode(f, str(tmp_path / "o") + "/", weights=stem_weights, refiner=str(adapter),
                   model_dir=str(wan_dir), progress=False)
    assert n == 5
    with pytest.raises(WeightsError):  # the shipped tiny refiner is not the one named
        api.decode(f, str(tmp_path / "p.mkv"), weights=stem_weights, progress=False)


# -- training data -----------------------------------------------------------------------------
def test_photo_pans_move_a_window_across_each_photo(tmp_path):
    import math
    import random

    import numpy as np
    from PIL import Image

    from vidgen_codec.train.photo_pans import pan, photo_pans

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "cup.mp4").write_bytes(b"")  # held out and not a photo: ignored
    clips = photo_pans(tmp_path, frames=6, size=64, seed=1)
    assert len(clips) == 1 and clips[0].shape == (6, 64, 64, 3) and clips[0].dtype == np.uint8
    assert np.array_equal(clips[0], photo_pans(tmp_path, frames=6, size=64, seed=1)[0])
    # a smooth photo panned by a known velocity: frame t is frame 0 shifted by t * v
    yy, xx = np.mgrid[0:200, 0:200]
    photo = np.stack([xx, yy, (xx + yy) // 2], -1).astype(np.uint8)  # red = x
    r = random.Random(3)
    state = r.getstate()
    clip = pan(photo, 5, 32, 2.0, r).astype(np.float64)
    r.setstate(state)
    angle, speed = r.uniform(0, 2 * math.pi), r.uniform(0.3, 2.0)
    vx = speed * math.cos(angle)
    dx = (clip[4, 16, 16, 0] - clip[0, 16, 16, 0]) / 4
    assert abs(dx - vx) < 0.3


def test_each_backbone_has_its_shipped_refiner_and_files_find_theirs(make_clip, tmp_path):
    """weights/refiner (learned backbone) and weights/refiner-av1 (av1 backbone) are both
    shipped: a file decodes with no --refiner through the shipped folder whose identity it
    records, whichever backbone made it."""
    from vidgen_codec.refine.loading import default_refiner_dir, shipped_refiner_for
    from vidgen_codec.registry import get_codec
    from vidgen_codec.weights import repo_weights_dir

    stem = get_codec("stem")
    learned, av1 = stem.default_refiner("learned"), stem.default_refiner("av1")
    assert learned == repo_weights_dir() / "refiner"
    assert av1 == stem.default_refiner(None) == default_refiner_dir() == repo_weights_dir() / "refiner-av1"
    with pytest.raises(ValueError, match="not refined"):
        get_codec("intra").default_refiner(None)
    for d in (learned, av1):
        assert shipped_refiner_for(refiner_identity(d)[0]) == d
    assert shipped_refiner_for(b"\0" * 32) is None
    clip = make_clip("c.mkv", width=64, height=48, count=5)
    f, g = str(tmp_path / "a.vgc"), str(tmp_path / "b.vgc")
    api.encode(clip.path, f, bpp=0.5, backbone="learned", progress=False)
    api.encode(clip.path, g, bpp=0.5, refiner=str(av1), backbone="learned", progress=False)
    with ContainerReader(f) as rd, ContainerReader(g) as rg:
        assert rd.refine.model_id == "refiner-tiny-v5"
        assert rg.refine.model_id == "refiner-tiny-v6"
    api.decode(g, str(tmp_path / "a") + "/", progress=False)
    api.decode(g, str(tmp_path / "b") + "/", refiner=str(av1), progress=False)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert len(_digests(tmp_path / "a")) == 5
    api.decode(f, str(tmp_path / "c") + "/", progress=False)
    assert _digests(tmp_path / "c") != _digests(tmp_path / "a")


def test_av1_levels_are_each_backbones_quantiser_and_motion_frames_the_mean(
        make_clip, tmp_path, stem_weights):
    """bitstream_spec.md, stem, "Levels": a backbone's qindex is its AV1 frame header's
    base_q_idx (what `vgc info` shows), a motion frame's the rounded mean of its two
    backbones'; bpp is the GOP's, the same for every frame. A header the reader refuses
    gives unknown (-1), not an error."""
    from vidgen_codec.codecs.stem import backbone as bb
    from vidgen_codec.pictures.av1_headers import shown_qindex

    clip = make_clip("q.mkv", width=64, height=48, count=9)
    f = str(tmp_path / "q.vgc")
    api.encode(clip.path, f, bpp=0.3, weights=stem_weights, backbone="av1",
               backbone_interval=4, gop=9, refine=False, fast=True, progress=False)
    codec = StemCodec.load(stem_weights)
    with ContainerReader(f) as rd:
        dst = codec.new_decoder(rd.codec_config, 64, 48)
        (chunk,) = list(rd.iter_frames())
    types, _, levels = codec.frame_info(dst, chunk.payload)
    head, parts = bb.unpack_gop(chunk.payload)
    backbones = [p for p in parts if p.frame_type != FrameType.M]
    q = dict(zip((p.frame_index for p in backbones),
                 shown_qindex([p.streams[-1] for p in backbones])))
    assert sorted(q) == [0, 4, 8] and all(0 < v < 256 for v in q.values())
    assert len({lv.bpp for lv in levels.values()}) == 1 and levels[0].bpp > 0
    for i in range(9):
        a, b = (i // 4) * 4, min((i // 4) * 4 + 4, 8)
        want = q[i] if i in q else (q[a] + q[b] + 1) // 2
        assert levels[i].qindex == want, i
    assert [types[i] for i in range(9)] == [I, M, M, M, P, M, M, M, P]
    broken = [dataclasses.replace(p, streams=p.streams[:-1] + [b"\x12\x00\x0a\x01\xff"])
              if p.frame_type != FrameType.M else p for p in parts]
    assert {lv.qindex for lv in bb.gop_levels(chunk.payload, head, broken, 48, 64).values()} \
        == {-1}
