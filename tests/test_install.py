"""A package that installs like one (issue 32): a wheel built from this tree, installed
without the checkout, run from another folder, finds its shipped weights and codes a clip."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import synthetic_frames, write_clip

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # builds a 20 MB wheel
def test_a_wheel_installed_elsewhere_encodes_and_decodes(tmp_path):
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    run = dict(capture_output=True, text=True)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                        "--no-build-isolation", "-q", str(ROOT), "-w", str(wheels)], **run)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(wheels.glob("vidgen_codec-*.whl"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--target", str(target), str(wheel)], **run)
    assert r.returncode == 0, r.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k != "VGC_WEIGHTS"}
    env["PYTHONPATH"] = str(target)  # ahead of the editable checkout on sys.path
    py = [sys.executable, "-m", "vidgen_codec"]
    where = subprocess.run([sys.executable, "-c", "import vidgen_codec.weights as w; "
                            "print(w.repo_weights_dir())"], cwd=work, env=env, **run)
    assert Path(where.stdout.strip()) == target / "vidgen_codec" / "_weights"
    clip = write_clip(str(work / "c.mkv"), synthetic_frames(64, 48, 6), Fraction(25))
    r = subprocess.run(py + ["encode", clip, "c.vgc", "--bpp", "0.1", "-q"], cwd=work,
                       env=env, **run)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(py + ["decode", "c.vgc", "d.mkv", "-q"], cwd=work, env=env, **run)
    assert r.returncode == 0 and (work / "d.mkv").stat().st_size > 0, r.stderr[-2000:]
