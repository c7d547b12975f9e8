"""The GPU session's script (issue 17) runs end to end on the CPU at tiny sizes, so that it
cannot break unnoticed between GPU sessions."""

from __future__ import annotations

import pytest

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import synthetic_frames, write_clip

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # over 10 s on 2 cores: .ci/run runs it, make test does not
def test_gpu_run_tiny_on_the_cpu(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_clip(str(data / "a.mkv"), synthetic_frames(128, 96, 40, seed=1), Fraction(25))
    write_clip(str(data / "b.mkv"), synthetic_frames(128, 96, 40, seed=2), Fraction(25))
    for i in range(2):
        Image.fromarray(synthetic_frames(160, 128, 1, seed=10 + i)[0]).save(data / f"p{i}.png")
    pack = tmp_path / "pack"
    r = subprocess.run([sys.executable, "-m", "vidgen_codec", "train", "pack", "--data",
                        str(data), "--out", str(pack), "--refiner-sequences", "2",
                        "--refiner-patch", "64", "--refiner-seq-len", "17"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(json.loads((pack / "PACK.json").read_text())["files"]) == 4
    held = tmp_path / "held.mkv"  # the refiner's held-out check, coded into --val-dir
    write_clip(str(held), synthetic_frames(64, 48, 9, seed=3), Fraction(25))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_run.py"), "--device",
                        "cpu", "--tiny", "--data", str(pack), "--out", str(out),
                        "--budget-s", "1200", "--val-clips", str(held),
                        "--val-dir", str(tmp_path / "val")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "gpu_run.json").read_text())
    stages = report["stages"]
    assert stages["tests"]["status"] == "ok" and stages["tests"]["returncode"] == 0
    assert stages["speed"]["status"] == "ok"
    coders = {e["coder"] for e in stages["speed"]["entropy"]}
    assert coders == {"compressai", "vgc cpu"}
    assert all(c["enc_fps"] > 0 and c["dec_fps"] > 0 for c in stages["speed"]["codecs"])
    for model in ("intra", "residual", "refiner"):
        entry = stages["train"][model]
        assert entry["returncode"] == 0 and entry["exported"] and entry["steps"] >= 1, entry
    assert stages["train"]["refiner"]["packed_pool"]  # the pack's round trips, not live ones
    val = stages["train"]["refiner"]["val"]  # the held-out check, from step 0 on
    assert set(val["0"]) == {"held 0.005", "held 0.02", "held 0.05"}
    assert len(list((tmp_path / "val").glob("held_*.vgc"))) == 3
    from vidgen_codec.codecs.intra import IntraCodec

    IntraCodec.load(out / "weights" / "intra")  # the exported weights load
    assert "| intra |" in r.stdout
    # --tiny trains a few steps: the run ends by its work, well inside a budget generous
    # enough that no stage is stopped on a loaded 2-core machine
    np.testing.assert_(report["wall_s"] <= 1200 + 30)
