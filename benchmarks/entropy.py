"""Benchmark of the entropy coders: VGC_RANS (numpy; Triton on a GPU) next to compressai's
RansEncoder/RansDecoder, on the same symbols in the same run. Prints a table (not a test).

    python benchmarks/entropy.py [--clip ../shared/data/videos/cup.mp4] [--repeat 3]

Payloads of about 1.5M symbols (1080p-latent size): the intra model's y latents of two
1920x1088 frames (2 x 96 x 68 x 120 symbols, tables from the shipped weights) at a low and a
high rate, and symbols drawn from Gaussian tables of mixed scales. Times are the best of
--repeat runs and include everything a caller pays: compressai's list conversions, our table
lookups, lane policy and packing (the decode LUT is built once per table set beforehand, as a
codec does; its build time is printed). "ideal" is the sum of -log2 p under the quantized table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vidgen_codec.codecs.intra import IntraCodec
from vidgen_codec.entropy import CdfTable, VgcRansCpu
from vidgen_codec.entropy import rans_format as fmt
from vidgen_codec.entropy.tables import gaussian_table

DEFAULT_CLIP = Path(__file__).resolve().parents[1].parent / "shared/data/videos/cup.mp4"


def intra_payloads(clip: str, qs=(0.0, 5.0)) -> dict:
    """{name: (symbols, indexes, table)} from two 1080p frames through the shipped intra model."""
    from vidgen_codec.video_io import read_frames

    codec = IntraCodec.load()
    if Path(clip).is_file():
        frames = list(read_frames(clip, count=2))
    else:  # no clip: a synthetic scene
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(2)]
    out = {}
    with torch.no_grad():
        ys = []
        for f in frames:
            x = torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255
            x = torch.nn.functional.interpolate(x, size=(1088, 1920), mode="bilinear")
            ys.append(codec.analyze(x))
        for q in qs:
            syms, idxs = [], []
            for y in ys:
                gain, _ = codec.model.gains(torch.tensor([q]))
                yg = y * gain
                z = codec.model.h_a(yg).double()
                med = codec._medians.view(1, -1, 1, 1)
                scales, means = codec._hyper(torch.round(z - med) + med)
                syms.append(torch.round(yg.double() - means).int().numpy().ravel())
                idxs.append(codec._indexes(scales).numpy().ravel())
            out[f"intra y q={q:g}"] = (np.concatenate(syms), np.concatenate(idxs), codec.y_table)
    return out


def gaussian_payload(n: int = 1_500_000) -> tuple:
    rng = np.random.default_rng(0)
    scales = np.exp(np.linspace(np.log(0.11), np.log(256.0), 64))
    idx = rng.integers(0, 40, n)
    sym = np.rint(rng.standard_normal(n) * scales[idx]).astype(np.int32)
    return sym, idx.astype(np.int32), gaussian_table(scales)


def best(fn, repeat: int) -> tuple[float, object]:
    t_best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t_best = min(t_best, time.perf_counter() - t0)
    return t_best, out


def run_compressai(sym, idx, table: CdfTable, repeat: int):
    from compressai.ans import RansDecoder, RansEncoder

    def enc():
        return RansEncoder().encode_with_indexes(sym.tolist(), idx.tolist(), table.cdfs,
                                                 table.cdf_lengths, table.offsets)

    te, data = best(enc, repeat)

    def dec():
        return RansDecoder().decode_with_indexes(data, idx.tolist(), table.cdfs,
                                                 table.cdf_lengths, table.offsets)

    td, out = best(dec, repeat)
    assert np.array_equal(np.asarray(out), sym)
    return len(data), te, td


def run_vgc(backend, sym, idx, table: CdfTable, repeat: int, sync=lambda: None):
    def enc():
        d = backend.encode(sym, idx, table)
        sync()
        return d

    te, data = best(enc, repeat)

    def dec():
        o = backend.decode(data, idx, table)
        sync()
        return o

    td, out = best(dec, repeat)
    assert np.array_equal(out, sym)
    return len(data), fmt.parse(data, sym.size).lanes, te, td


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clip", default=str(DEFAULT_CLIP))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lanes", default="256,1024", help="extra forced lane counts to time")
    args = ap.parse_args()
    torch.set_num_threads(2)
    payloads = intra_payloads(args.clip)
    payloads["gaussian mix"] = gaussian_payload()
    gpu = torch.cuda.is_available()
    print(f"CPU: {torch.get_num_threads()} torch threads; GPU: "
          f"{torch.cuda.get_device_name() if gpu else 'no GPU lent (Triton rows skipped)'}\n")
    head = (f"{'payload':<15}{'coder':<24}{'symbols':>10}{'bytes':>9}{'vs ideal':>9}"
            f"{'enc Msym/s':>11}{'dec Msym/s':>11}{'enc x':>7}{'dec x':>7}")
    print(head)
    print("-" * len(head))
    forced = [int(v) for v in args.lanes.split(",") if v]
    for name, (sym, idx, table) in payloads.items():
        n = sym.size
        t0 = time.perf_counter()
        table.arrays.decode_lut()
        lut_s = time.perf_counter() - t0
        ideal = -np.log2(table.arrays.map_symbols(sym, idx).freq / 65536.0).sum() / 8
        cb, cte, ctd = run_compressai(sym, idx, table, args.repeat)

        def row(coder, nbytes, te, td):
            print(f"{name:<15}{coder:<24}{n:>10}{nbytes:>9}{(nbytes / ideal - 1) * 100:>8.2f}%"
                  f"{n / te / 1e6:>11.2f}{n / td / 1e6:>11.2f}{cte / te:>7.2f}{ctd / td:>7.2f}")

        row("compressai", cb, cte, ctd)
        for lanes in [None, *forced]:
            nb, used, te, td = run_vgc(VgcRansCpu(lanes=lanes), sym, idx, table, args.repeat)
            row(f"vgc cpu L={used}{'' if lanes else ' (policy)'}", nb, te, td)
        if gpu:
            from vidgen_codec.entropy.rans_triton import VgcRansTriton

            for lanes in [None, *forced, 4096]:
                be = VgcRansTriton(device="cuda", lanes=lanes)
                be.decode(be.encode(sym[:4096], idx[:4096], table), idx[:4096], table)  # compile
                nb, used, te, td = run_vgc(be, sym, idx, table, args.repeat, torch.cuda.synchronize)
                row(f"vgc triton L={used}", nb, te, td)
        print(f"{'':<15}(decode LUT built once in {lut_s * 1e3:.0f} ms; ideal {ideal:.0f} bytes)")
    one = VgcRansCpu().encode(np.array([0]), np.array([0]), payloads["gaussian mix"][2])
    print(f"\nfixed overhead per payload: {len(one)} bytes for 1 symbol (head 1 + one 4-byte "
          f"lane state); each further lane +4 bytes (~3 bytes net); escapes +1 byte + codes.")
    print("x = compressai time / vgc time (>1: vgc faster). GPU times include the host copies.")


if __name__ == "__main__":
    main()
