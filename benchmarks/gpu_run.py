"""One prepared run for a GPU session (issue 17): checks, a speed table, timed training.

    python benchmarks/gpu_run.py --device cuda --data pack --out results/gpu [--budget-s 480]
    python benchmarks/gpu_run.py --device cpu --tiny --data DIR --out OUT   # CI: all stages, tiny

Stages, in this order, each a child process hard-stopped at its share of the wall-time budget
(what a stage finished before the stop is kept; the run always writes OUT/gpu_run.json and
prints a table):
  tests  GPU-marked tests (`pytest -m gpu`: Triton kernels = CPU bytes, streams made on one
         device decoded on the other); on the CPU the Triton tests under TRITON_INTERPRET=1
  speed  entropy symbols/s (VGC_RANS on the CPU, Triton on a GPU, compressai), then encode and
         decode fps of every codec variant at each size (benchmarks/stem.py's variants and
         `intra`), peak GPU memory
  train  intra, residual, refiner (the av1 backbone's, weights/refiner-av1) in turn, each
         continuing from the shipped weights for its
         share of the rest of the budget (`vgc train ... --max-minutes`), then exported to
         OUT/weights/<model>: validate on the CPU (`vgc eval --weights`) before committing;
         with --val-clips the refiner logs its held-out gain as it trains (val_log.csv)
`--data` is a training folder: `vgc train pack --data ../shared/data --out pack
--refiner-sequences 400` makes one that fits the device tool's 64 MiB carry, with the refiner's
av1 round trips precomputed (train/refiner_pack.py: the GPU then waits on decoding only, in a
background thread, not on SVT-AV1 and motion search; a pack without them still trains, coding
them live).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARES = {"tests": 0.15, "speed": 0.30}  # the rest of the budget trains
MODELS = ("intra", "residual", "refiner")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--data", default="pack", help="training folder (vgc train pack)")
    ap.add_argument("--out", default="results/gpu")
    ap.add_argument("--budget-s", type=float, default=480.0, help="wall time of the whole run")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes and steps (CI on a CPU)")
    ap.add_argument("--val-clips", default=None,
                    help="held-out clips, comma-separated: the refiner's held-out check "
                         "(OUT/train/refiner/val_log.csv); their coded files are kept in "
                         "--val-dir (make heldout codes them before the session)")
    ap.add_argument("--val-dir", default="heldout")
    ap.add_argument("--stage", help=argparse.SUPPRESS)  # run one stage (the child process)
    a = ap.parse_args()
    missing = [c for c in (a.val_clips or "").split(",") if c and not Path(c).is_file()]
    if missing:
        ap.error(f"--val-clips: no such file: {missing[0]}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.stage:
        return STAGES[a.stage](a, out)
    t0 = time.monotonic()
    report = {"device": a.device, "tiny": a.tiny, "budget_s": a.budget_s, "stages": {}}
    for name in ("tests", "speed", "train"):
        left = a.budget_s - (time.monotonic() - t0)
        share = left if name == "train" else a.budget_s * SHARES[name]
        report["stages"][name] = _child(a, name, min(share, left))
        (out / "gpu_run.json").write_text(json.dumps(report, indent=1))
    report["wall_s"] = round(time.monotonic() - t0, 1)
    (out / "gpu_run.json").write_text(json.dumps(report, indent=1))
    print_table(report)


def _child(a, stage: str, seconds: float) -> dict:
    """Run one stage in a child process, stopped after `seconds`; its JSON, or what it left."""
    cmd = [sys.executable, __file__, "--stage", stage, "--device", a.device, "--data", a.data,
           "--out", a.out, "--budget-s", str(max(seconds - 5, 1)), "--val-dir", a.val_dir] + \
        (["--tiny"] if a.tiny else []) + (["--val-clips", a.val_clips] if a.val_clips else [])
    t = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=max(seconds, 1))
        status = "ok" if p.returncode == 0 else f"exit {p.returncode}: {_tail(p.stderr)}"
    except subprocess.TimeoutExpired:
        status = "stopped at its time share"
    path = Path(a.out) / f"{stage}.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    return {"status": status, "seconds": round(time.monotonic() - t, 1), **result}


def _tail(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _save(out: Path, stage: str, result: dict) -> None:
    """Write a stage's results so far (the parent reads them even after a hard stop)."""
    tmp = out / f"{stage}.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(out / f"{stage}.json")


# -- stages ----------------------------------------------------------------------------------
def stage_tests(a, out: Path) -> None:
    env = dict(os.environ)
    if a.device == "cuda":
        args = ["-m", "gpu"]
    else:  # the Triton kernels through the interpreter, on CPU tensors
        env["TRITON_INTERPRET"] = "1"
        args = ["tests/test_rans_triton.py"] + (["-k", "round_trip or spec"] if a.tiny else [])
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                       cwd=ROOT, capture_output=True, text=True, env=env)
    last = _tail(p.stdout)
    _save(out, "tests", {"returncode": p.returncode, "summary": last})
    if p.returncode not in (0, 5):  # 5: nothing collected (no GPU-marked test selected)
        raise SystemExit(f"tests failed: {last}")


def stage_speed(a, out: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch

    import entropy as eb
    import stem as sb

    result = {"entropy": [], "codecs": []}
    n = 20_000 if a.tiny else 1_500_000
    sym, idx, table = eb.gaussian_payload(n)
    nbytes, te, td = eb.run_compressai(sym, idx, table, 1 if a.tiny else 3)
    result["entropy"].append({"coder": "compressai", "bytes": nbytes,
                              "enc_msym_s": n / te / 1e6, "dec_msym_s": n / td / 1e6})
    from vidgen_codec.entropy import VgcRansCpu

    backends = [("vgc cpu", VgcRansCpu(), lambda: None)]
    if a.device == "cuda":
        from vidgen_codec.entropy.rans_triton import VgcRansTriton

        backends.append(("vgc triton", VgcRansTriton("cuda"), torch.cuda.synchronize))
    for name, backend, sync in backends:
        nbytes, lanes, te, td = eb.run_vgc(backend, sym, idx, table, 1 if a.tiny else 3, sync)
        result["entropy"].append({"coder": name, "bytes": nbytes, "lanes": lanes,
                                  "enc_msym_s": n / te / 1e6, "dec_msym_s": n / td / 1e6})
    _save(out, "speed", result)
    sizes = [(64, 48, 9)] if a.tiny else [(640, 360, 49), (1920, 1080, 33)]
    variants = ["av1-fast", "learned-norefine"] if a.tiny else list(sb.VARIANTS)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for w, h, frames in sizes:
            clip = tmp / f"clip{w}.mkv"
            sb.make_clip(clip, frames, w, h)
            for v in variants:
                if a.device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                r = sb.run_point(clip, tmp, 0.02, a.device, v)
                result["codecs"].append({"variant": v, "size": f"{w}x{h}", "frames": frames,
                                         **{k: r[k] for k in ("bpp", "enc_fps", "dec_fps",
                                                              "rss_mib")},
                                         **({"gpu_peak_mib": r["gpu_peak_mib"]}
                                            if "gpu_peak_mib" in r else {})})
                _save(out, "speed", result)


def stage_train(a, out: Path) -> None:
    """Each model for an equal share of what is left of this stage's budget (a model that
    overran leaves the next ones less, never none), continuing from the shipped weights;
    exported to OUT/weights/<model> when a checkpoint was written."""
    result = {}
    start = time.monotonic()
    weights = ROOT / "weights"
    # --tiny (the CPU test): a few steps, so that the run ends by its work, not its budget
    tiny = ["--batch", "1", "--patch", "64"] if a.tiny else []
    # the refiner that trains is the av1 backbone's (weights/refiner-av1, the default path's);
    # the learned backbone's weights/refiner stays as it is
    extra = {"refiner": ["--backbones", "av1", "--fidelity"] + (["--pool", "2"] if a.tiny else [])
             + (["--val-clips", a.val_clips, "--val-dir", a.val_dir, "--val-every", "1000"]
                if a.val_clips else [])}
    init = {"intra": ["--init", str(weights / "intra")],
            "residual": ["--init", str(weights / "stem")],
            "refiner": ["--init", str(weights / "refiner-av1")]}
    for k, model in enumerate(MODELS):
        run_dir = out / "train" / model
        t = time.monotonic()
        share = (a.budget_s - (t - start)) / (len(MODELS) - k)
        minutes = max((share - 20) / 60, 0.1)  # leave time to start and export
        cmd = [sys.executable, "-m", "vidgen_codec", "train", model, "--data", a.data,
               "--out", str(run_dir), "--steps", "3" if a.tiny else "1000000", "--resume",
               "--max-minutes", f"{minutes:.2f}", "--device", a.device] + init[model] + tiny + \
            extra.get(model, [])
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        entry = {"seconds": round(time.monotonic() - t, 1), "returncode": p.returncode}
        if model == "refiner":
            seq = run_dir / "sequences.json"  # written by train_refiner at each start
            entry["packed_pool"] = seq.exists() and json.loads(seq.read_text())["packed"]
            entry["val"] = _held_out(run_dir / "val_log.csv")
        if p.returncode == 0 and (run_dir / "ckpt.pt").exists():
            exp = subprocess.run([sys.executable, "-m", "vidgen_codec", "train", model,
                                  "--out", str(run_dir), "--export",
                                  str(out / "weights" / model)],
                                 cwd=ROOT, capture_output=True, text=True)
            entry["exported"] = exp.returncode == 0
            entry["steps"] = _last_step(run_dir)
        else:
            entry["error"] = _tail(p.stderr)
        result[model] = entry
        _save(out, "train", result)


def _held_out(path: Path) -> dict:
    """{step: {point: luma PSNR gain}} of the refiner's held-out check ({}: none ran)."""
    import csv

    if not path.exists():
        return {}
    out: dict = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            out.setdefault(row["step"], {})[row["point"]] = float(row["gain_db"])
    return out


def _last_step(run_dir: Path) -> int:
    import torch

    return int(torch.load(run_dir / "ckpt.pt", map_location="cpu", weights_only=False)["step"])


STAGES = {"tests": stage_tests, "speed": stage_speed, "train": stage_train}


def print_table(report: dict) -> None:
    st = report["stages"]
    print(f"GPU run on {report['device']}{' (tiny)' if report['tiny'] else ''}, "
          f"{report.get('wall_s', '?')} s of a {report['budget_s']:g} s budget\n")
    for name, r in st.items():
        print(f"{name:<6} {r['status']} ({r['seconds']} s)")
    t = st.get("tests", {})
    print(f"\ntests: {t.get('summary', '-')}")
    print("\n| coder | enc Msym/s | dec Msym/s | bytes |\n|---|---|---|---|")
    for e in st.get("speed", {}).get("entropy", []):
        print(f"| {e['coder']} | {e['enc_msym_s']:.1f} | {e['dec_msym_s']:.1f} | {e['bytes']:,} |")
    print("\n| variant | size | bpp | enc fps | dec fps | peak RSS MiB | peak GPU MiB |")
    print("|---|---|---|---|---|---|---|")
    for c in st.get("speed", {}).get("codecs", []):
        print(f"| {c['variant']} | {c['size']} | {c['bpp']:.4f} | {c['enc_fps']:.2f} | "
              f"{c['dec_fps']:.2f} | {c['rss_mib']:.0f} | {c.get('gpu_peak_mib', '-')} |")
    print("\n| model | seconds | steps | exported |\n|---|---|---|---|")
    for m, r in st.get("train", {}).items():
        if isinstance(r, dict):
            print(f"| {m} | {r.get('seconds')} | {r.get('steps', '-')} | "
                  f"{r.get('exported', r.get('error', '-'))} |")


if __name__ == "__main__":
    main()
