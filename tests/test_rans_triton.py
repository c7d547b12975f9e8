"""VGC_RANS Triton kernels against the numpy backend: identical bytes, cross-backend decoding.

Without a GPU the kernels run in Triton's interpreter (TRITON_INTERPRET=1, set below before the
kernels are imported) on CPU tensors, on small inputs (the interpreter takes milliseconds per
step). With a GPU the same tests run on it, plus the `gpu`-marked ones at 1080p-latent size.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton")

from test_rans import GOLDEN, SCALES, SPEC_TABLE, gauss_payload, golden_payload  # noqa: E402

from vidgen_codec.entropy import VgcRansCpu  # noqa: E402
from vidgen_codec.entropy.rans_triton import VgcRansTriton  # noqa: E402
from vidgen_codec.entropy.tables import gaussian_table  # noqa: E402
from vidgen_codec.errors import FormatError  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def both(lanes=None):
    return VgcRansCpu(lanes=lanes), VgcRansTriton(device=DEVICE, lanes=lanes)


def check_cross(sym, idx, table, lanes=None):
    """Same bytes from both backends, and each decodes the other's."""
    cpu, gpu = both(lanes)
    a, b = cpu.encode(sym, idx, table), gpu.encode(sym, idx, table)
    assert a == b
    assert np.array_equal(gpu.decode(a, idx, table), sym)
    assert np.array_equal(cpu.decode(b, idx, table), sym)
    return a


def test_spec_example_and_golden():
    sym, idx = np.array([0, 1, -1, 0, 7, 0]), np.array([1, 0, 1, 1, 0, 1])
    data = check_cross(sym, idx, SPEC_TABLE, lanes=2)
    assert data.hex(" ") == "03 01 16 ff 7f 23 00 05 e0 05 00 00 00"
    sym, idx, table = golden_payload()
    data = check_cross(sym, idx, table, lanes=64)
    assert (len(data), hashlib.sha256(data).hexdigest()[:16]) == GOLDEN[64]


@pytest.mark.parametrize("n,lanes", [(1, None), (37, None), (2000, 64), (700, 23), (900, 300)])
def test_random_streams_cross_decode(n, lanes):
    sym, idx, table = gauss_payload(n, seed=n)
    sym[::29] = np.random.default_rng(n).integers(-2**31, 2**31 - 1, sym[::29].size)
    check_cross(sym, idx, table, lanes)


def test_lane_policy_agrees():
    """Escape-heavy symbols: the size estimate gives L > 1 on both backends."""
    rng = np.random.default_rng(4)
    sym = rng.integers(-2**31, 2**31 - 1, 300).astype(np.int32)
    idx = rng.integers(0, 2, 300).astype(np.int32)
    data = check_cross(sym, idx, SPEC_TABLE)
    assert data[0] >> 1 >= 1  # more than one lane


def test_all_zeros_and_empty():
    table = gaussian_table([0.11])
    z = np.zeros(40, np.int32)
    check_cross(z, z, table)
    cpu, gpu = both()
    assert gpu.encode(z[:0], z[:0], table) == b""
    assert gpu.decode(b"", z[:0], table).size == 0
    with pytest.raises(FormatError):
        gpu.decode(b"\x00", z[:0], table)


def test_fused_quantize_encode_and_decode_dequantize():
    """(y, mean, scale) -> bytes in one kernel; bytes -> y_hat = symbol + mean in one kernel."""
    rng = np.random.default_rng(0)
    n = 1500
    table = gaussian_table(SCALES)
    scale = np.abs(rng.standard_normal(n) * 6).astype(np.float32)
    mean = (rng.standard_normal(n) * 3).astype(np.float32)
    y = (mean + rng.standard_normal(n) * scale).astype(np.float32)
    y[::97] += 1e5  # escapes
    y[5] = mean[5] + 0.5  # exact ties round to even
    y[6] = mean[6] - 2.5
    cpu, gpu = both(lanes=64)
    a = cpu.encode_gaussian(y, mean, scale, table, SCALES, 0.11)
    t = lambda v: torch.from_numpy(v).to(DEVICE)  # noqa: E731
    b = gpu.encode_gaussian(t(y), t(mean), t(scale), table, SCALES, 0.11)
    assert a == b
    y_cpu = cpu.decode_gaussian(a, mean, scale, table, SCALES, 0.11)
    y_gpu = gpu.decode_gaussian(a, t(mean), t(scale), table, SCALES, 0.11).cpu().numpy()
    assert np.array_equal(y_cpu, y_gpu)
    assert np.abs(y_cpu - y).max() <= 0.5
    with pytest.raises(ValueError):
        gpu.encode_gaussian(t(y * np.inf), t(mean), t(scale), table, SCALES, 0.11)


def test_corrupt_payloads_fail_cleanly():
    sym, idx, table = gauss_payload(640, seed=9)
    sym[::50] = 12345
    cpu, gpu = both(lanes=32)
    data = cpu.encode(sym, idx, table)
    rng = np.random.default_rng(3)
    for cut in (0, 1, 3, 40, len(data) - 2, len(data) - 1):
        with pytest.raises(FormatError):
            gpu.decode(data[:cut], idx, table)
    with pytest.raises(FormatError):
        gpu.decode(data + b"\x00\x00", idx, table)
    for _ in range(4):
        bad = bytearray(data)
        bad[int(rng.integers(len(data) - 200, len(data)))] ^= 0x10  # a word
        with pytest.raises(FormatError):
            gpu.decode(bytes(bad), idx, table)


def test_intra_codec_streams_identical():
    """The intra codec with the Triton backend writes the bytes of the numpy backend."""
    from vidgen_codec.codecs.intra import IntraCodec

    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    cpu = IntraCodec.random(seed=1, backend=VgcRansCpu(lanes=16))  # 16 lanes: few steps
    gpu = IntraCodec.random(seed=1, backend=VgcRansTriton(device=DEVICE, lanes=16))
    with torch.no_grad():
        y = cpu.analyze(x)
        streams = cpu.code_latent(y, 3.0)
        assert gpu.code_latent(y, 3.0) == streams
        assert torch.equal(gpu.decode_streams(streams, 3.0, 64, 64),
                           cpu.decode_streams(streams, 3.0, 64, 64))


@pytest.mark.skipif(torch.cuda.is_available(), reason="compiled for real on the GPU run")
def test_kernels_compile_for_sm90():
    """Without a GPU, still compile every kernel variant to PTX/cubin for sm_90 (H100)."""
    code = textwrap.dedent("""
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
        from vidgen_codec.entropy import rans_kernels as K
        t = GPUTarget("cuda", 90, 32)
        tab = {"off_ptr": "*i32", "len_ptr": "*i32", "rs_ptr": "*i32", "cdf_ptr": "*i32"}
        data = {"sym_ptr": "*i32", "idx_ptr": "*i32", "y_ptr": "*fp32", "mean_ptr": "*fp32",
                "scale_ptr": "*fp32", "st_ptr": "*fp32", "K": "i32", "bound": "fp32", **tab}
        ce = {"FUSED": "constexpr", "LOG2K": "constexpr", "BLOCK": "constexpr"}
        for fused in (False, True):
            sig = {**data, "cost_ptr": "*i32", "part_ptr": "*i64", "n": "i32", **ce}
            triton.compile(ASTSource(K._cost_kernel, sig, constexprs={
                "FUSED": fused, "LOG2K": 7, "BLOCK": 1024}), target=t)
            sig = {**data, "emit_ptr": "*i8", "word_ptr": "*i32", "esc_ptr": "*i64",
                   "state_ptr": "*i64", "n": "i32", "L": "i32", "T": "i32", **ce}
            triton.compile(ASTSource(K._encode_kernel, sig, constexprs={
                "FUSED": fused, "LOG2K": 7, "BLOCK": 64}), target=t)
            sig = {"data_ptr": "*i32", "n_words": "i32", "escv_ptr": "*i64", "n_esc": "i32",
                   "idx_ptr": "*i32", "mean_ptr": "*fp32", "scale_ptr": "*fp32",
                   "st_ptr": "*fp32", "K": "i32", "bound": "fp32", **tab, "state_ptr": "*i64",
                   "out_ptr": "*fp32" if fused else "*i32", "status_ptr": "*i64", "n": "i32",
                   "L": "i32", "T": "i32", "NSEARCH": "constexpr", "HAS_ESC": "constexpr", **ce}
            triton.compile(ASTSource(K._decode_kernel, sig, constexprs={
                "FUSED": fused, "LOG2K": 7, "NSEARCH": 12, "HAS_ESC": True, "BLOCK": 1024}),
                target=t, options={"num_warps": 8})
        print("compiled")
    """)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    try:
        import triton.backends.nvidia  # noqa: F401
    except ImportError:
        pytest.skip("triton has no CUDA backend here")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "compiled" in out.stdout, out.stderr[-3000:]


# -- on a lent GPU ----------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_1080p_latent_identical_bytes_and_speed():
    sym, idx, table = gauss_payload(1_500_000, seed=11)
    for lanes in (None, 1024, 4096):
        cpu, gpu = both(lanes)
        a = cpu.encode(sym, idx, table)
        b = gpu.encode(sym, idx, table)
        assert a == b
        idx_t = torch.from_numpy(idx).cuda()
        gpu._decode(a, table, idx.size, False, idx=idx_t)  # warm-up (compile)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = gpu._decode(a, table, idx.size, False, idx=idx_t)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        assert np.array_equal(out.cpu().numpy(), sym)
        print(f"lanes {lanes}: {len(a)} bytes, GPU decode {sym.size / dt / 1e6:.0f} Msymbols/s "
              f"on {torch.cuda.get_device_name()}")


def test_intra_codec_codes_its_latents_where_they_are():
    """The intra codec hands its latents to the Triton backend as tensors on its device (no
    host copy of the symbols, issue 17): the same streams as the numpy backend's, decoded
    to the same frame by either."""
    from vidgen_codec.codecs.intra import IntraCodec

    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 64)
    on_cpu = IntraCodec.random(3)
    triton = IntraCodec.random(3, device=DEVICE, backend=VgcRansTriton(device=DEVICE))
    with torch.no_grad():
        a = on_cpu.code_latent(on_cpu.analyze(x), 2.0)
        b = triton.code_latent(triton.analyze(x.to(DEVICE)), 2.0)
        assert a == b
        xa = on_cpu.decode_streams(b, 2.0, 64, 64)
        xb = triton.decode_streams(a, 2.0, 64, 64).cpu()
    if DEVICE == "cpu":
        assert torch.equal(xa, xb)
    else:  # the float synthesis network may round differently on another device
        assert (xa - xb).abs().max() < 1e-4
