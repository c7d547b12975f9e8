"""The numbers that choose CDF tables are identical however they are computed.

The intra codec's hyper-synthesis runs as an integer network (models/integer_hyper.py, after
Ballé et al. 2019). Its (scale, mean) -- and so the table indexes and y_hat = symbol + mean --
must not depend on the dtype of the input, the thread count, the evaluation route (float64
convolutions holding integers vs numpy int64) or the device; a stream encoded under one setting
decodes under every other.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from vidgen_codec.codecs.intra import IntraCodec


@pytest.fixture(scope="module")
def codec():
    return IntraCodec.random(seed=3)


def z_hat(codec, seed=0, h=3, w=5):
    g = torch.Generator().manual_seed(seed)
    z = torch.round(torch.randn(1, codec.cfg.N, h, w, generator=g, dtype=torch.float64) * 3)
    return z + codec._medians.view(1, -1, 1, 1)


def test_integer_hyper_is_exact_across_routes_dtypes_and_threads(codec):
    ih = codec._h_s_int
    z = z_hat(codec)
    ref = ih.forward_int64(z)  # numpy int64: exact by construction
    threads = torch.get_num_threads()
    try:
        runs = []
        for n_threads in (1, 2):
            torch.set_num_threads(n_threads)
            runs.append(ih(z))
            runs.append(ih(z.float()))  # z_hat given as float32: the same values
    finally:
        torch.set_num_threads(threads)
    for scale, mean in runs:
        assert torch.equal(scale, ref[0]) and torch.equal(mean, ref[1])
        assert torch.equal(codec._indexes(scale), codec._indexes(ref[0]))
    # the float network differs in its last bits between float32 and float64: the problem
    s64 = copy.deepcopy(codec.model.h_s).double()(z)
    s32 = copy.deepcopy(codec.model.h_s).float()(z.float()).double()
    assert not torch.equal(s64, s32)
    # and the integer network stays close to it (fixed point with 16 fractional bits)
    scale, mean = ref
    assert (torch.cat([scale, mean], 1) - s64).abs().max() < 1e-3


def test_stream_encoded_one_way_decodes_another(codec):
    """Encode with the float64 route at 2 threads; decode with the int64 route at 1 thread."""
    x = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(1))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with torch.no_grad():
            streams = codec.code_latent(codec.analyze(x), 2.0)
            ref = codec.decode_streams(streams, 2.0, 64, 128)
        other = IntraCodec(codec.model, codec.weights_sha256)
        other._h_s_int = codec._h_s_int.forward_int64  # the numpy int64 route
        torch.set_num_threads(1)
        with torch.no_grad():
            out = other.decode_streams(streams, 2.0, 64, 128)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(out, ref)


def test_shipped_weights_integer_hyper_is_exact():
    codec = IntraCodec.load()
    z = z_hat(codec, seed=5, h=2, w=3)
    scale, mean = codec._h_s_int(z)
    ref = codec._h_s_int.forward_int64(z)
    assert torch.equal(scale, ref[0]) and torch.equal(mean, ref[1])
    # every value is a multiple of 2^-16 far below 2^53: exact in float64 and in float32 here
    assert torch.equal(torch.round(mean * 65536) / 65536, mean)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_integer_hyper_gpu_equals_cpu(codec):
    z = z_hat(codec, seed=2, h=8, w=8)
    cpu = codec._h_s_int(z)
    gpu = codec._h_s_int(z.cuda())
    assert torch.equal(gpu[0].cpu(), cpu[0]) and torch.equal(gpu[1].cpu(), cpu[1])
    shipped = IntraCodec.load()
    z = z_hat(shipped, seed=2, h=17, w=30)
    a, b = shipped._h_s_int(z), shipped._h_s_int(z.cuda())
    assert torch.equal(a[0], b[0].cpu()) and torch.equal(a[1], b[1].cpu())


def test_indexes_from_integer_scales_match_numpy_reference(codec):
    """Table index = #(scale table < max(scale, bound)), compared exactly."""
    scale, _ = codec._h_s_int(z_hat(codec, seed=4))
    ours = codec._indexes(scale).numpy().ravel()
    table = codec._scale_table64.numpy()
    s = np.maximum(scale.numpy().ravel(), codec._scale_bound)
    ref = np.minimum((table[None, :] < s[:, None]).sum(1), table.size - 1)
    assert np.array_equal(ours, ref)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("codec_args", [{"codec": "intra", "bpp": 0.3},
                                        {"codec": "stem", "bpp": 0.1},
                                        {"codec": "stem", "bpp": 0.3, "backbone": "learned"}])
def test_cross_device_encode_and_decode(mkv_clip, tmp_path, codec_args):
    """A file encoded with --device cuda (Triton entropy kernels) is the CPU's file, and a
    file decodes to the same frames on either device (issue 17)."""
    from vidgen_codec import api

    files = {}
    for dev in ("cpu", "cuda"):
        files[dev] = str(tmp_path / f"{dev}.vgc")
        api.encode(mkv_clip.path, files[dev], device=dev, progress=False, **codec_args)
    assert open(files["cpu"], "rb").read() == open(files["cuda"], "rb").read()
    frames = {}
    for dev in ("cpu", "cuda"):
        out = str(tmp_path / f"{dev}.y4m")
        api.decode(files["cpu"], out, device=dev, progress=False)
        frames[dev] = open(out, "rb").read()
    assert frames["cpu"] == frames["cuda"]
