"""The refiner's held-out check during training (train/refiner_val.py): it runs the refiner
on the decoder's windows with the decoder's levels and scores them as the encoder's gate does."""

from __future__ import annotations

import csv
from fractions import Fraction

import numpy as np
import pytest
import torch

from vidgen_codec import metrics
from vidgen_codec.codecs.stem import StemCodec
from vidgen_codec.frames import to_uint8
from vidgen_codec.models.refiner import Refiner, RefinerConfig
from vidgen_codec.train import refiner_val

from conftest import synthetic_frames, write_clip


def test_held_out_check_logs_what_the_gate_would_see(tmp_path):
    from vidgen_codec.train.refiner import VAL_LOG, train_refiner

    data = tmp_path / "data"
    data.mkdir()
    write_clip(str(data / "a.mkv"), synthetic_frames(96, 64, 12, seed=2), Fraction(25))
    held_clip = str(tmp_path / "held.mkv")
    write_clip(held_clip, synthetic_frames(64, 48, 11, seed=5), Fraction(25))
    run = tmp_path / "run"
    kw = dict(batch=1, patch=64, pool=1, seq_len=9, backbones=("av1",), seed=3,
              val_clips=[held_clip], val_bpp=(0.3, 1.0), val_every=2, lr=1e-2)
    train_refiner(str(data), str(run), steps=2, **kw)
    files = sorted((run / "val").glob("*.vgc"))
    assert [f.name for f in files] == ["held_0.3.vgc", "held_1.0.vgc"]
    stamp = [f.stat().st_mtime_ns for f in files]
    train_refiner(str(data), str(run), steps=4, resume=True, **kw)
    assert [f.stat().st_mtime_ns for f in files] == stamp  # a resumed run reuses them
    with open(run / VAL_LOG) as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["point"]) for r in rows] == [
        (s, p) for s in ("0", "2", "4") for p in ("held 0.3", "held 1.0")]
    # an untrained refiner is the identity: no gain, no window the gate would switch on
    assert all(float(r["gain_db"]) == 0 and r["on"] == "0" for r in rows[:2])
    assert all(int(r["windows"]) == 2 for r in rows)  # 11 frames: windows [0, 9) and [8, 11)
    assert any(float(r["gain_db"]) != 0 for r in rows[2:])  # the step changed the refiner


def test_check_scores_each_window_as_the_gate_does(tmp_path):
    """The check's gain of a window is luma PSNR of the refined frames minus the unrefined,
    against the originals, cropped from the decoder's padded frames."""
    from vidgen_codec.refine.windows import run_window

    clip = str(tmp_path / "c.mkv")
    write_clip(clip, synthetic_frames(72, 40, 10, seed=4), Fraction(25))
    torch.manual_seed(0)
    ref = Refiner(RefinerConfig()).eval()
    with torch.no_grad():
        ref.skip.net[-1].weight.normal_(0, 0.01)
        ref.skip.film.weight.normal_(0, 0.5)
    held = refiner_val.prepare([clip], [0.5], tmp_path / "v", ref.cfg.window)
    assert [hw.frames for hw in held] == [9, 2]
    s = StemCodec.stride  # padded, as the decoder has them
    assert held[0].items[0].frame.shape[-2:] == (-(-40 // s) * s, -(-72 // s) * s)
    assert all(0 <= it.level.qindex <= 255 for hw in held for it in hw.items)
    result = refiner_val.check(ref, held, seed=1)
    gains = []
    for hw in held:
        y = run_window(ref, hw.items, 1)[:hw.frames]
        y = np.stack([to_uint8(x.clamp(0, 1))[0][:40, :72]
                      for x in y])
        gains.append(metrics.psnr_y(y, hw.original) - hw.plain_db)
    (gain, on, n), = result.values()
    assert n == 2 and on == sum(g > 0 for g in gains)
    assert abs(gain - float(np.mean(gains))) < 1e-9 and gain != 0


@pytest.mark.parametrize("args,message", [
    (["--val-bpp", "0.02,x"], "--val-bpp"),
    (["--val-bpp", "0"], "--val-bpp"),
    (["--val-clips", "no/such.mp4"], "no such file"),
    (["--val-clips", ","], "no clip"),
    (["--val-dir", "v"], "--val-dir without --val-clips"),
    (["--fidelity", "--psnr-gain"], "one objective or the other"),
])
def test_cli_refuses_bad_training_options_in_one_line(tmp_path, capsys, args, message):
    from conftest import vgc

    code, _, err = vgc("train", "refiner", "--data", tmp_path, "--out", tmp_path / "run",
                       "--steps", "1", *args, capsys=capsys)
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run" / "ckpt.pt").exists()


def test_a_clip_twice_is_refused(tmp_path, capsys):
    from conftest import vgc

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        write_clip(str(tmp_path / d / "c.mkv"), synthetic_frames(32, 32, 2), Fraction(25))
    code, _, err = vgc("train", "refiner", "--data", tmp_path, "--out", tmp_path / "run",
                       "--val-clips", f"{tmp_path / 'a' / 'c.mkv'},{tmp_path / 'b' / 'c.mkv'}",
                       capsys=capsys)
    assert code != 0 and "same name" in err
