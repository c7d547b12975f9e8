"""Synthesised stem GOPs: backbones only, the frames between them rebuilt at the decoder by
bilateral motion estimation and motion-compensated interpolation (motion/bilateral.py), with
Lanczos-upsampled reduced-scale backbones (pictures/lanczos.py). Normative integer arithmetic:
the compiled kernels must give what their plain-Python definitions give."""

from __future__ import annotations

from fractions import Fraction

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
from vidgen_codec.errors import FormatError
from vidgen_codec.info import describe
from vidgen_codec.motion import bilateral
from vidgen_codec.pictures import lanczos
from vidgen_codec.stem_gop import BLEND, MOTION, GopHeader, pack_gop, unpack_gop
from vidgen_codec.video_io import read_frames
from vidgen_codec.codecs.stem import candidate, chosen_gop, synth_gop


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (sums of sinusoids), HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for _ in range(6):
        fy, fx = rng.uniform(0.05, 0.3, 2)
        ph = rng.uniform(0, 6.3, 3)
        img += 20 * np.sin((fy * yy + fx * xx)[..., None] + ph)
    return np.clip(img + 128, 0, 255).astype(np.uint8)


def test_bilateral_search_finds_a_translation_and_interpolates_it():
    big = textured(120, 160)
    h, w = 80, 112
    f0 = big[10:10 + h, 10:10 + w]
    f1 = big[16:16 + h, 18:18 + w]  # f1(p) = f0(p + (8, 6)) (x, y): content moves by -(8, 6)
    mid = big[13:13 + h, 14:14 + w]
    d = bilateral.estimate(f0, f1)
    inner = d[:, 2:-2, 2:-2]  # blocks whose window stays inside both pictures
    # b0(p - D) = b1(p + D): D = -(4, 3), half of the displacement
    assert (inner[0] == -4).all() and (inner[1] == -3).all()
    s = bilateral.smooth_sum(d, h, w)
    out = bilateral.interpolate(f0, f1, s, 1, 2)
    c = (slice(16, -16), slice(16, -16))
    assert metrics.psnr(out[c], mid[c]) > 45
    assert metrics.psnr(out[c], mid[c]) > metrics.psnr(bilateral.blend(f0, f1, 1, 2)[c],
                                                        mid[c]) + 10


def test_blend_and_offsets_follow_the_spec_formulas():
    a = np.full((2, 2, 3), 10, np.uint8)
    b = np.full((2, 2, 3), 15, np.uint8)
    # ((n - m) a + m b + n // 2) // n
    assert bilateral.blend(a, b, 1, 3)[0, 0, 0] == (2 * 10 + 15 + 1) // 3
    s = np.array([[-7, 0, 7, 64]])
    o0, o1 = bilateral.offsets(s, 1, 4)
    assert o0.tolist() == [[(7 + 4) // 8, (0 + 4) // 8, (-7 + 4) // 8, (-64 + 4) // 8]]
    assert o1.tolist() == [[(-21 + 4) // 8, 0, (21 + 4) // 8, (192 + 4) // 8]]


def test_compiled_kernels_give_their_python_definitions():
    """The kernels are normative: Numba's machine code must equal the plain Python (the
    reference another decoder would follow), bit for bit."""
    f0, f1 = textured(40, 48, 1), textured(40, 48, 2)
    a, b = bilateral.luma(f0), bilateral.luma(f1)
    pred = np.zeros((2, 5, 6), np.int32)
    cen = bilateral._centres(pred)
    out_c, out_p = np.empty_like(pred), np.empty_like(pred)
    bilateral._search(a, b, cen, pred, 2, bilateral.LAMBDA, out_c)
    getattr(bilateral._search, "py_func", bilateral._search)(a, b, cen, pred, 2,
                                                             bilateral.LAMBDA, out_p)
    np.testing.assert_array_equal(out_c, out_p)
    s = bilateral.smooth_sum(bilateral.estimate(f0, f1), 40, 48)
    o0, o1 = bilateral.offsets(s, 2, 5)
    ref = np.empty_like(f0)
    # (the Python definition calls the compiled sampler, which the next test checks against
    # the formula)
    getattr(bilateral._interp, "py_func", bilateral._interp)(f0, f1, o0, o1, 2, 5, ref)
    np.testing.assert_array_equal(bilateral.interpolate(f0, f1, s, 2, 5), ref)
    src = np.ascontiguousarray(f0[..., 1], np.int64)
    sums_c, sums_p = np.empty((80, 48), np.int64), np.empty((80, 48), np.int64)
    lanczos._up_rows(src, sums_c)
    getattr(lanczos._up_rows, "py_func", lanczos._up_rows)(src, sums_p)
    np.testing.assert_array_equal(sums_c, sums_p)
    # and the spec's formula for one sample: output (2i+1, 2j) of plane 1
    i, j = 7, 9
    rows = [min(max(r, 0), 39) for r in range(i - 2, i + 4)]
    cols = [min(max(c, 0), 47) for c in range(j - 3, j + 3)]
    col_sums = [sum(int(t) * int(f0[r, c, 1]) for t, r in zip(lanczos.TAPS_ODD, rows))
                for c in cols]
    want = min(max((sum(int(t) * v for t, v in zip(lanczos.TAPS_EVEN, col_sums)) + 8192) >> 14,
                   0), 255)
    assert lanczos.upsample2x_rgb(f0)[2 * i + 1, 2 * j, 1] == want


def _spec_search(a, b, centres, pred, radius, lam):
    """The block search as bitstream_spec.md states it: every candidate costed in order, every
    coordinate clamped, the first minimum kept (no skipped repeats, no early stop)."""
    h, w = a.shape
    out = np.empty_like(pred)
    for i in range(pred.shape[1]):
        for j in range(pred.shape[2]):
            best = None
            for cx, cy in centres[:, :, i, j]:
                offs = [(0, 0)] + [(ox, oy) for oy in range(-radius, radius + 1)
                                   for ox in range(-radius, radius + 1) if (ox, oy) != (0, 0)]
                for ox, oy in offs:
                    dx, dy = int(cx) + ox, int(cy) + oy
                    ys = np.arange(i * 8 - 4, i * 8 + 12)[:, None]
                    xs = np.arange(j * 8 - 4, j * 8 + 12)[None, :]
                    sad = np.abs(a[np.clip(ys - dy, 0, h - 1), np.clip(xs - dx, 0, w - 1)]
                                 - b[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)]).sum()
                    cost = lam * (abs(dx - pred[0, i, j]) + abs(dy - pred[1, i, j])) + sad
                    if best is None or cost < best[0]:
                        best = (cost, dx, dy)
            out[0, i, j], out[1, i, j] = best[1], best[2]
    return out


def test_block_search_kernel_equals_the_spec_search():
    """The kernel skips a vector it has already costed for the block: only faster, so it must
    agree with the literal search, with centres that repeat and vectors that reach past the
    picture's edges."""
    f0, f1 = textured(40, 56, 3), textured(40, 56, 4)
    a, b = bilateral.luma(f0), bilateral.luma(f1)
    rng = np.random.default_rng(5)
    for pred in (np.zeros((2, 5, 7), np.int32),
                 rng.integers(-3, 4, (2, 5, 7)).astype(np.int32),  # neighbours often repeat
                 rng.integers(-30, 31, (2, 5, 7)).astype(np.int32)):  # windows off the edges
        cen = bilateral._centres(pred)
        for radius in (1, 2, 4):  # 4: the coarsest level's
            got = np.empty_like(pred)
            bilateral._search(a, b, cen, pred, radius, bilateral.LAMBDA, got)
            np.testing.assert_array_equal(got, _spec_search(a, b, cen, pred, radius,
                                                            bilateral.LAMBDA))
    # and the plain Python definition, where a read past the far edge would raise
    py = np.empty_like(pred)
    getattr(bilateral._search, "py_func", bilateral._search)(a, b, cen, pred, 2,
                                                             bilateral.LAMBDA, py)
    np.testing.assert_array_equal(py, _spec_search(a, b, cen, pred, 2, bilateral.LAMBDA))


def test_smooth_sum_equals_the_box_sum_of_the_spread_field():
    """Fields larger than the picture, its own size (the decoder's: the clamp at the grid's
    last row and column acts), smaller, and pictures under 8 pixels."""
    rng = np.random.default_rng(6)
    for h, w, more in ((40, 56, (1, 2)), (37, 50, (1, 2)), (9, 17, (1, 2)), (40, 56, (0, 0)),
                       (37, 50, (0, 0)), (64, 32, (0, 0)), (40, 56, (-2, -3)), (3, 5, (0, 0)),
                       (8, 8, (0, 0)), (1, 1, (0, 0))):
        shape = (2, -(-h // 8) + more[0], -(-w // 8) + more[1])
        field = rng.integers(-40, 41, shape).astype(np.int32)
        ys = np.clip(np.arange(-4, h + 4), 0, field.shape[1] * 8 - 1) >> 3
        xs = np.clip(np.arange(-4, w + 4), 0, field.shape[2] * 8 - 1) >> 3
        dense = field[:, ys][:, :, xs].astype(np.int64)  # (2, h + 8, w + 8)
        want = np.stack([[[dense[c, y:y + 8, x:x + 8].sum() for x in range(w)]
                          for y in range(h)] for c in range(2)])
        np.testing.assert_array_equal(bilateral.smooth_sum(field, h, w), want)


def test_a_frame_outside_its_interval_is_refused():
    s = np.zeros((2, 4, 4), np.int64)
    for m, n in ((0, 4), (4, 4), (5, 4), (-1, 4)):
        with pytest.raises(ValueError, match="0 < m < n"):
            bilateral.offsets(s, m, n)


def test_division_by_the_interval_as_a_multiplication_is_exact():
    """(v * exact_recip(n)) >> 32 == v // n for 0 <= v <= 256 n, n < 4096 (every n up to 600
    and the top 2,000 numerators of every n up to 4095); 0 (plain division) from 4096."""
    recip = getattr(bilateral.exact_recip, "py_func", bilateral.exact_recip)
    for n in range(1, 4096):
        inv = int(recip(n))
        assert inv == int(bilateral.exact_recip(n))
        v = np.arange(0 if n <= 600 else 256 * n - 2000, 256 * n + 1, dtype=np.int64)
        np.testing.assert_array_equal((v * inv) >> 32, v // n)
    assert recip(4096) == 0 and bilateral.exact_recip(5000) == 0
    # and the interpolation over a long interval, which divides plainly, still blends
    f0, f1 = textured(16, 24, 1), textured(16, 24, 2)
    s = np.zeros((2, 16, 24), np.int64)
    for m, n in ((1, 3), (1700, 5000)):
        np.testing.assert_array_equal(bilateral.interpolate(f0, f1, s, m, n),
                                      bilateral.blend(f0, f1, m, n))


def test_bilinear_sample_is_the_spec_formula():
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
    taps, at = (getattr(f, "py_func", f) for f in (bilateral._taps, bilateral._at))
    y16, x16 = 16 + 5, 32 + 9  # (1 + 5/16, 2 + 9/16)
    a, b, c, d = (int(img[1, 2, 0]), int(img[1, 3, 0]), int(img[2, 2, 0]), int(img[2, 3, 0]))
    want = ((16 - 5) * ((16 - 9) * a + 9 * b) + 5 * ((16 - 9) * c + 9 * d) + 128) >> 8
    assert at(img, taps(y16, x16, 4, 4), 0) == want
    assert bilateral._at(img, bilateral._taps(y16, x16, 4, 4), 0) == want  # compiled
    assert at(img, taps(-100, -100, 4, 4), 0) == img[0, 0, 0]  # clamped
    assert at(img, taps(1000, 1000, 4, 4), 0) == img[3, 3, 0] != 0


def test_lanczos_upsampler_keeps_flat_pictures_and_centre_siting():
    flat = np.full((6, 5, 3), 77, np.uint8)
    assert (lanczos.upsample2x_rgb(flat) == 77).all()
    assert lanczos.TAPS_ODD.sum() == 128
    ramp = np.tile(np.arange(0, 80, 10, dtype=np.uint8)[None, :, None], (4, 1, 3))
    up = lanczos.upsample2x_rgb(ramp)[0, :, 0].astype(int)
    # inside, a linear ramp comes back linear: samples at i -/+ 1/4 are 10 i -/+ 2.5
    assert np.abs(up[6:-6] - (np.arange(6, 10) * 5 - 2.5)).max() <= 1


def test_synthesised_gop_layout_round_trips_and_refuses_malformed_modes():
    head = GopHeader(4, 9, 4, refine_mask=1, synth=True, lanczos=True, modes=(MOTION, BLEND))
    units = [b"\x12\x00" + bytes([0x32, 1, k]) for k in range(3)]
    parts = [FramePayload(0, FrameType.I, 0, [units[0]])]
    for k, (a, b) in enumerate([(0, 4), (4, 8)]):
        parts += [FramePayload(i, FrameType.M, 0, []) for i in range(a + 1, b)]
        parts.append(FramePayload(b, FrameType.P, 0, [units[k + 1]]))
    gop = pack_gop(0, head, parts)
    assert gop.streams[0][0] == 2 | 4 | 8 and gop.streams[2] == b"\x01"
    back_head, back = unpack_gop(gop)
    assert back_head == head
    assert [p.frame_type for p in back] == [0, 1, 2, 2, 2, 1, 2, 2, 2]  # decode order
    for bad_modes, why in ((b"", "mode bits"), (b"\x05", "mode bits"),  # short, a bit past
                           (b"\x01\x00", "truncated")):  # a byte more: a block maps
        # section, cut short
        with pytest.raises(FormatError, match=why):
            unpack_gop(FramePayload(0, FrameType.I, 0, [gop.streams[0], gop.streams[1],
                                                         bad_modes]))
    for byte0 in (0x02, 0x03, 0x10):  # quarter scale without SYNTH, scale 8, PRIOR without
        # a tag (EXTRA: tests/test_extra_backbones.py)
        bad = bytes([byte0]) + gop.streams[0][1:]
        with pytest.raises(FormatError, match="GOP header"):
            unpack_gop(FramePayload(0, FrameType.I, 0, [bad] + gop.streams[1:]))


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    StemCodec.random(seed=5).save(d / "w")
    clip = write_clip(str(d / "c.mkv"), synthetic_frames(96, 64, 13), Fraction(25))
    out = d / "s.vgc"
    api.encode(clip, str(out), bpp=0.05, weights=str(d / "w"), refine=False, progress=False,
               backbone_interval=4, backbone_scale=4)
    return d, clip, out


def test_quarter_scale_encodes_a_synthesised_gop_that_decodes_bit_exactly(synth_file):
    d, clip, out = synth_file
    info = describe(str(out))
    # block mode maps are the encoder's call, either way a valid file; no extra backbones:
    # the interval is the user's (`chosen_gop.split` keeps it exactly)
    got = info["av1_gops"][0]
    assert info["av1_gops"] == [{"interval": 4, "scale": 4, "synthesised": True,
                                 "upsampler": "lanczos", "block_maps": got["block_maps"],
                                 "block_map_bytes": got["block_map_bytes"],
                                 "extra_backbones": 0, "gops": 1}]
    assert info["frame_types"] == "IMMMPMMMPMMMP"
    with ContainerReader(str(out)) as rd:
        chunk = next(c for c in rd.iter_frames())
    head, _ = unpack_gop(chunk.payload)
    assert head.synth and head.lanczos and len(head.modes) == 3 and head.extra == ()
    assert len(chunk.payload.streams[2]) == 1 + len(head.maps)  # three modes: one byte
    digests = decoded_digests(out, d, weights=str(d / "w"))
    assert all(x == digests[0] for x in digests) and len(digests[0]) == 13
    api.decode(str(out), str(d / "d.mkv"), weights=str(d / "w"), progress=False)
    dec = np.stack(list(read_frames(str(d / "d.mkv"))))
    assert metrics.psnr(dec, np.stack(list(read_frames(clip)))) > 15


def test_encoding_a_synthesised_gop_twice_gives_the_same_bytes(synth_file, tmp_path):
    d, clip, out = synth_file
    again = tmp_path / "again.vgc"
    api.encode(clip, str(again), bpp=0.05, weights=str(d / "w"), refine=False, progress=False,
               backbone_interval=4, backbone_scale=4)
    assert again.read_bytes() == out.read_bytes()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2), st.integers(0, 40), st.integers(0, 255), st.booleans())
def test_fuzzed_synthesised_gop_chunks_parse_or_raise_format_errors(stream, at, value, cut):
    """A mutated synthesised GOP chunk parses (then to the frame count its header claims) or
    raises FormatError, never anything else."""
    head = GopHeader(2, 11, 4, synth=True, lanczos=True, modes=(MOTION, BLEND, MOTION))
    check_mutated_gop(stand_in_gop(head), stream, at, value, cut)


def test_gate_keeps_the_whole_budget_coding_when_the_smaller_one_is_not_refined(monkeypatch):
    """The first refined GOP is coded again without the REFINE chunk's bytes; when the gate
    then refines nothing, the file drops that chunk, so the coding at the whole budget stays
    (not the smaller one, which left a file under its target)."""
    from types import SimpleNamespace

    from vidgen_codec.codecs.stem import av1, rate_fit

    chosen = candidate.Candidate(8, 2, 40.0, None, 400, 10.0, False, synth=True)
    smaller = candidate.Candidate(8, 2, 45.0, None, 330, 9.0, False, synth=True)
    masks = iter([1, 0])
    monkeypatch.setattr(av1, "_gate", lambda codec, st, c, t0, o: av1.replace(
        c, refine_mask=next(masks)))
    monkeypatch.setattr(synth_gop, "candidate", lambda *a, **k: smaller)
    monkeypatch.setattr(chosen_gop, "upsampled", lambda st, c, o: c)
    monkeypatch.setattr(chosen_gop, "mapped", lambda codec, st, c, *a: c)
    st = SimpleNamespace(refine_bytes=70, refined=False)
    got = av1._gated(None, st, chosen, [(0, None)], [], 400.0, {}, rate_fit.Ledger())
    assert got is chosen and got.refine_mask == 0 and got.bytes == 400
    masks = iter([1, 1])  # refined after all: the smaller coding, refined, is kept
    got = av1._gated(None, st, chosen, [(0, None)], [], 400.0, {}, rate_fit.Ledger())
    assert got.bytes == 330 and got.refine_mask == 1


def test_a_near_tie_of_the_search_goes_to_every_frame_av1_at_full_scale():
    """The search's score cannot see what synthesised frames and a reduced scale do over time
    (cup720 at 0.0025 bpp: +0.03 dB of score, -0.08 JOD), so a structure must beat every
    frame AV1 at full scale by FULL_MARGIN to replace it; one over the budget cannot win."""
    from vidgen_codec.codecs.stem import av1 as stem_av1

    def cand(interval, scale, synth, nbytes, score):
        return candidate.Candidate(interval, scale, 50.0, None, nbytes, score, False,
                                   synth=synth)

    full = cand(1, 1, False, 1000, 18.05)
    tie = cand(2, 2, True, 1000, 18.05 + 0.5 * stem_av1.FULL_MARGIN)
    win = cand(4, 1, True, 1000, 18.05 + 2 * stem_av1.FULL_MARGIN)
    assert stem_av1._choose([full, tie], 1000) is full
    assert stem_av1._choose([full, tie, win], 1000) is win
    over = cand(1, 1, False, 1200, 18.2)  # every frame AV1 could not reach the budget
    assert stem_av1._choose([over, tie], 1000) is tie
