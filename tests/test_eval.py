"""`vgc eval`: metric sanity on a synthetic clip, baseline size matching, the run end to end
(files written, resume from cache), and bad input."""

from __future__ import annotations

import json
import sys
from fractions import Fraction

import numpy as np
import pytest

from vidgen_codec.eval import baselines, metric_set, metrics_perceptual
from vidgen_codec.eval.metric_set import Reference, measure

SIZE, COUNT = 64, 6


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny frames: one torch thread is faster, and far faster on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def noisy(frames: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    """Temporally independent Gaussian noise (a new draw in every frame)."""
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).round().astype(np.uint8)


def blurred(frames: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    k = 2 * radius + 1
    return np.stack([cv2.blur(f, (k, k)) for f in frames])


@pytest.fixture(scope="module")
def ref(make_frames_module) -> Reference:
    return Reference(np.stack(make_frames_module(SIZE, SIZE, COUNT)), 25.0)


@pytest.fixture(scope="module")
def make_frames_module():
    from conftest import synthetic_frames

    return synthetic_frames


def runnable(keys):
    """The metrics that can run here (the others must say why not)."""
    reasons = metric_set.available(keys)
    for key, reason in reasons.items():
        assert reason is None or len(reason) > 10
    return [k for k in keys if reasons[k] is None]


QUALITY = ["psnr", "psnr_y", "ms_ssim", "cvvdp", "vmaf", "ewarp"]


def test_identical_input_scores_best(ref):
    keys = runnable(QUALITY)
    same, _ = measure(ref, ref.frames, keys)
    worse, _ = measure(ref, noisy(ref.frames, 4), keys)
    for k in keys:
        better = same[k] > worse[k] if metric_set.METRICS[k].higher_is_better else \
            same[k] < worse[k]
        assert better, (k, same[k], worse[k])
    if "psnr" in keys:
        assert same["psnr"] == same["psnr_y"] == 100.0  # capped, finite for JSON
    if "ms_ssim" in keys:
        assert same["ms_ssim"] == pytest.approx(1.0, abs=1e-6)
    if "cvvdp" in keys:
        assert same["cvvdp"] == pytest.approx(10.0, abs=1e-3)  # JOD 10: no visible difference
    if "ewarp" in keys:
        assert same["ewarp"] == pytest.approx(ref.ewarp())  # the reference's own floor


@pytest.mark.parametrize("distort,levels", [(noisy, [2, 8, 24]), (blurred, [1, 2, 4])])
def test_scores_move_the_right_way(ref, distort, levels):
    keys = runnable(QUALITY)
    if distort is blurred:
        keys = [k for k in keys if k != "ewarp"]  # blur is temporally smooth: not its business
    scores = [measure(ref, distort(ref.frames, s), keys)[0] for s in levels]
    for k in keys:
        seq = [s[k] for s in scores]
        sign = 1 if metric_set.METRICS[k].higher_is_better else -1
        assert all(sign * (a - b) > 0 for a, b in zip(seq, seq[1:])), (k, seq)


def test_warping_error_sees_flicker_not_a_steady_offset(ref):
    steady = np.clip(ref.frames.astype(int) + 12, 0, 255).astype(np.uint8)
    sign = np.where(np.arange(COUNT) % 2, 1, -1)[:, None, None, None]
    flicker = np.clip(ref.frames.astype(int) + 12 * sign, 0, 255).astype(np.uint8)
    if metric_set.METRICS["ewarp"].check():
        pytest.skip("OpenCV missing")
    from vidgen_codec.eval.warp_error import warping_error

    e_ref, e_steady = ref.ewarp(), warping_error(steady, ref.flow)
    e_flicker = warping_error(flicker, ref.flow)
    assert e_flicker > 5 * max(e_steady, e_ref)
    assert e_steady == pytest.approx(e_ref, rel=0.2)
    with pytest.raises(ValueError, match="at least 2 frames"):
        warping_error(ref.frames[:1], Reference(ref.frames[:1], 25.0).flow)


def test_backbone_metrics_skip_with_reason_without_weights(ref, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    for key, check in (("lpips", metrics_perceptual.check_lpips),
                       ("dists", metrics_perceptual.check_dists)):
        reason = check()
        assert reason and ("torch cache" in reason or "not installed" in reason)
        values, skipped = measure(ref, ref.frames, [key], skip={key: reason})
        assert values[key] is None and skipped[key] == reason  # never a silent zero


def test_metric_failure_is_reported_not_zero(ref, monkeypatch):
    broken = metric_set.Metric("psnr", "x", True, "fidelity",
                               lambda r, d, dev: (_ for _ in ()).throw(RuntimeError("boom")))
    monkeypatch.setitem(metric_set.METRICS, "psnr", broken)
    values, skipped = measure(ref, ref.frames, ["psnr"])
    assert values["psnr"] is None and "boom" in skipped["psnr"]


# --- baselines ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["x264", "x265", "svtav1"])
def test_baseline_size_matching_within_5_percent(ref, name, monkeypatch):
    if baselines.baseline_available(name):
        pytest.skip(baselines.baseline_available(name))
    gops = []
    real_encode = baselines._encode
    monkeypatch.setattr(baselines, "_encode",
                        lambda *a, gop, **k: gops.append(gop) or real_encode(*a, gop=gop, **k))
    frames = list(ref.frames)
    for target in (900, 2500):
        b = baselines.baseline_at_bytes(frames, Fraction(25), name, target)
        assert abs(b.bytes_used - target) <= 0.05 * target, (name, target, b.bytes_used)
        assert b.within_tolerance and abs(b.size_error) <= 0.05
        assert len(b.frames) == COUNT and b.frames[0].shape == frames[0].shape
        assert b.encode_seconds > 0 and b.decode_seconds > 0 and b.encode_peak_mib > 0
    assert set(gops) == {COUNT}  # one GOP over the clip: inter coding, not all-intra


def test_resize_baseline_decodes_at_the_clip_size():
    """AV1's resize mode decodes frames smaller than the clip (scaled back up to it), and
    reaches fewer bytes than full resolution at the top CRF."""
    name = "svtav1-p4-resize"
    if baselines.baseline_available(name):
        pytest.skip(baselines.baseline_available(name))
    from conftest import synthetic_frames

    frames = synthetic_frames(70, 96, 8)  # odd-free but not a multiple of 8 or 16
    full = baselines.baseline_at_bytes(frames, Fraction(25), "svtav1-p4", 10)
    low = baselines.baseline_at_bytes(frames, Fraction(25), name, 10)
    assert low.bytes_used < full.bytes_used  # both at CRF 70, their smallest files
    assert len(low.frames) == 8 and all(f.shape == frames[0].shape for f in low.frames)
    assert np.abs(low.frames[-1].astype(int) - frames[-1]).mean() < 40  # the picture, scaled


def test_to_size_scales_smaller_frames_and_crops_larger_ones():
    small = np.full((30, 40, 3), 90, np.uint8)
    assert baselines._to_size(small, 59, 79).shape == (59, 79, 3)
    assert (baselines._to_size(small, 59, 79) == 90).all()  # Lanczos keeps a flat field
    big = np.arange(8 * 10 * 3, dtype=np.uint8).reshape(8, 10, 3)
    assert (baselines._to_size(big, 7, 9) == big[:7, :9]).all()


def test_baseline_out_of_reach_is_flagged(ref):
    b = baselines.baseline_at_bytes(list(ref.frames), Fraction(25), "x264", 50)
    assert not b.within_tolerance and b.bytes_used > 50  # nearest end of the CRF range


def test_benchmarks_reexport_still_works():
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "benchmarks"))
    try:
        import baselines as bench  # noqa: F401  (benchmarks/intra.py imports it this way)

        assert bench.x264_intra_at_bytes is baselines.x264_intra_at_bytes
    finally:
        sys.path.pop(0)


# --- the command --------------------------------------------------------------------------

from conftest import vgc  # noqa: E402,F401  (used by the command tests below)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from conftest import synthetic_frames, write_clip

    path = tmp_path_factory.mktemp("clip") / "tiny.mkv"
    return write_clip(str(path), synthetic_frames(SIZE, SIZE, 4), Fraction(25))


def test_eval_end_to_end_and_resume(tiny_clip, tmp_path, capsys, monkeypatch):
    out = tmp_path / "res"
    args = [tiny_clip, "--codecs", "intra", "--bpp", "0.3,0.6", "--baselines", "x264,svtav1",
            "--metrics", "psnr,ms_ssim,ewarp,lpips", "--out", out, "-q"]
    monkeypatch.setattr(torch_hub(), "get_dir", lambda: str(tmp_path / "empty_hub"))
    code, text, err = vgc("eval", *args, capsys=capsys)
    assert code == 0, err
    for name in ("results.json", "results.csv", "bdrate.csv", "bdrate.md", "table.txt"):
        assert (out / name).is_file()
    r = json.loads((out / "results.json").read_text())
    assert sorted(p["curve"] for p in r["points"]) == ["intra"] * 2 + ["svtav1"] * 2 + ["x264"] * 2
    # the reason check_lpips gives here: "not installed" without the eval extra, else the
    # missing AlexNet checkpoint in the (emptied) torch cache
    lp = r["metrics"]["lpips"]
    assert (lp["status"], lp["reason"]) == ("skipped", metrics_perceptual.check_lpips())
    for p in r["points"]:
        assert p["metrics"]["lpips"] is None and p["skipped"]["lpips"]
        assert p["metrics"]["psnr"] > 10 and p["enc_fps"] > 0 and p["dec_peak_mib"] > 0
        if p["kind"] == "baseline":
            assert p["matched_to"] and abs(p["size_error"]) <= 0.05
    assert r["bdrate"]["anchor"] == "x264"
    cell = r["bdrate"]["mean"]["psnr"]["svtav1"]
    assert (cell["value"] is not None) != (cell["reason"] is not None)
    assert r["bdrate"]["mean"]["lpips"]["intra"]["reason"].startswith("metric skipped")
    assert (out / "plots" / "psnr_tiny.png").is_file()
    assert (out / "plots" / "psnr_mean.png").is_file()
    assert not (out / "plots" / "lpips_tiny.png").exists()
    assert "BD-rate vs x264" in text and "skip LPIPS" in text
    assert "n/a" in text  # LPIPS column

    # a rerun computes nothing: every point comes from the cache
    from vidgen_codec import api

    monkeypatch.setattr(api, "encode", lambda *a, **k: pytest.fail("re-encoded a cached point"))
    monkeypatch.setattr(baselines, "_encode", lambda *a, **k: pytest.fail("re-encoded baseline"))
    code, _, err = vgc("eval", *args, capsys=capsys)
    assert code == 0, err
    assert json.loads((out / "results.json").read_text())["points"] == r["points"]


def torch_hub():
    import torch

    return torch.hub


def test_eval_raw_yuv_input(make_raw_clip, tmp_path, capsys):
    clip = make_raw_clip("yuv420p", width=64, height=48, count=3)
    code, text, err = vgc("eval", clip.path, "--size", "64x48", "--fps", "25", "--codecs",
                          "intra", "--bpp", "0.5", "--baselines", "none", "--metrics", "psnr",
                          "--out", tmp_path / "raw", "-q", capsys=capsys)
    assert code == 0, err
    r = json.loads((tmp_path / "raw" / "results.json").read_text())
    assert r["clips"][0]["raw"]["pix_fmt"] == "yuv420p" and r["clips"][0]["frames"] == 3
    assert r["bdrate"]["mean"]["psnr"] == {}  # one curve: nothing to compare


@pytest.mark.parametrize("args,message", [
    (["missing.mp4"], "not found"),
    (["{clip}", "--metrics", "psnr,bogus"], "unknown metric"),
    (["{clip}", "--baselines", "x266"], "unknown baseline"),
    (["{clip}", "--bpp", "0.1,abc"], "--bpp"),
    (["{clip}", "--bpp", "0"], "outside"),
    (["{clip}", "--codecs", "nosuch"], "unknown codec"),
    (["{clip}", "--codecs", "intra", "--anchor", "x262", "--metrics", "psnr"], "--anchor"),
    (["{clip}", "--jobs", "0"], "--jobs"),
])
def test_bad_input_is_one_line(tiny_clip, tmp_path, capsys, args, message):
    args = [a.replace("{clip}", tiny_clip) for a in args]
    code, _, err = vgc("eval", *args, "--out", tmp_path / "bad", "-q", capsys=capsys)
    assert code == 1
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("vgc: error")]
    assert len(lines) == 1 and message in lines[0], err


def test_codec_without_weights_is_skipped(tiny_clip, tmp_path, monkeypatch):
    from vidgen_codec.errors import InputError
    from vidgen_codec.eval.run import EvalConfig, _resolve_codecs

    monkeypatch.setenv("VGC_WEIGHTS", str(tmp_path / "no_weights"))
    said = []
    cfg = EvalConfig(clips=[tiny_clip], bpp=[0.1], out=str(tmp_path), codecs=["intra"])
    with pytest.raises(InputError, match="no vgc codec has its weights"):
        _resolve_codecs(cfg, said.append)
    assert said and "codec intra skipped" in said[0]


def test_help_has_examples(capsys):
    code, out, _ = vgc("eval", "--help", capsys=capsys)
    assert code == 0 and "Examples:" in out and "vgc eval" in out


def test_codec_variants_combine():
    from vidgen_codec.errors import InputError
    from vidgen_codec.eval.run import Variant, codec_variant

    assert codec_variant("stem") == Variant("stem")
    assert codec_variant("stem/no-refine") == Variant("stem", refine=False)
    assert codec_variant("stem/learned/no-refine") == Variant("stem", refine=False,
                                                              backbone="learned")
    assert codec_variant("stem/p4/no-refine") == Variant("stem", refine=False, preset=4)
    assert codec_variant("s2vc/av1/no-generate") == Variant("s2vc", generate=False,
                                                            backbone="av1")
    assert codec_variant("stem/slow/no-prior") == Variant("stem", speed="slow", prior=False)
    assert codec_variant("stem/slow/half/no-prior") == Variant("stem", speed="slow",
                                                               prior=False, backbone_scale=2)
    with pytest.raises(InputError, match="unknown codec variant"):
        codec_variant("stem/quick")
    with pytest.raises(InputError, match="av1 backbone"):
        codec_variant("stem/learned/half")
