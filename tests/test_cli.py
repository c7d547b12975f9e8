"""The `vgc` command line: help texts, happy path, and bad input (one line, non-zero, no output)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vidgen_codec.codecs.stem import StemCodec


from conftest import vgc  # noqa: E402


@pytest.fixture(scope="module")
def wdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("w") / "stem"
    StemCodec.random(seed=3).save(d)  # the default codec; its intra model goes in d/intra
    return str(d)


def test_json_carries_the_rate_warning_and_the_smallest_size(mkv_clip, tmp_path, wdir, capsys):
    """A target below what the codec can make: the warning names the file's bpp as the
    smallest size, on stderr and in --json alike."""
    out = tmp_path / "tiny.vgc"
    code, text, err = vgc("encode", mkv_clip.path, out, "--bpp", "0.001", "--weights", wdir,
                          "-q", "--json", "--backbone", "learned", capsys=capsys)
    assert code == 0, err
    d = json.loads(text)
    assert d["bpp"] > 1.05 * 0.001
    assert len(d["warnings"]) == 1
    assert f"{d['bpp']:.5f} bpp is at or near the smallest file" in d["warnings"][0]
    assert "vgc: warning: " + d["warnings"][0] in err
    from vidgen_codec.api import rate_warning

    assert rate_warning(0.0104, 0.01) == () and rate_warning(0.02, None) == ()
    assert "found no coding nearer the target" in rate_warning(0.009, 0.01)[0]


@pytest.mark.parametrize("cmd", [[], ["encode"], ["decode"], ["info"], ["codecs"],
                                 ["train", "intra"]])
def test_help_has_examples(cmd, capsys):
    code, out, _ = vgc(*cmd, "--help", capsys=capsys)
    assert code == 0 and "Example" in out


def test_codecs_lists_stable_ids(capsys):
    code, out, _ = vgc("codecs", capsys=capsys)
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert rows["intra"] == "1" and rows["stem"] == "2" and rows["s2vc"] == "3"


def test_encode_info_decode(mkv_clip, tmp_path, wdir, capsys):
    out = tmp_path / "a.vgc"
    code, text, err = vgc("encode", mkv_clip.path, out, "--bpp", "0.5", "--weights", wdir, "-q",
                          "--gop", "4", "--backbone-interval", "3", "--backbone", "learned",
                          capsys=capsys)
    assert code == 0, err
    assert "10 frames 64x48" in text
    code, text, _ = vgc("info", out, "--json", "--frames", "--weights", wdir, capsys=capsys)
    d = json.loads(text)
    assert d["codec"] == "stem" and d["frames"] == 10
    assert d["frame_types"] == "IMMPIMMPIP"  # display order; the last frame is a backbone
    assert (d["gop_size"], d["backbone_interval"]) == (4, 3)
    assert [f["frame"] for f in d["per_frame"]] == [0, 3, 1, 2, 4, 7, 5, 6, 8, 9]  # file order
    assert d["bytes"] == out.stat().st_size and len(d["per_frame"]) == 10
    code, text, _ = vgc("info", out, "--frames", "--weights", wdir, capsys=capsys)
    assert code == 0 and "BACKBONE_FRAME" in text and "frame types I M M P I M M P I P" in text
    assert "MV_PAYLOAD" in text
    code, text, err = vgc("decode", out, tmp_path / "d.y4m", "--weights", wdir, "-q",
                          capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "d.y4m").exists()


def _assert_clean_failure(code, err, *leftovers):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vgc: error:"), err
    assert "Traceback" not in err
    for p in leftovers:
        assert not p.exists()
        assert not any(p.parent.glob(f".{p.name}*")), "temp file left behind"


def test_bad_inputs(tmp_path, wdir, mkv_clip, make_clip, capsys):
    out = tmp_path / "o.vgc"
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a video\n")
    tiny = make_clip("tiny.mkv", width=8, height=8, count=2)
    cases = [  # each with the cause its one line must name
        (("encode", tmp_path / "missing.mp4", out), "no such file"),
        (("encode", text, out), "not a video file"),
        (("encode", tiny.path, out), "frame size 8x8 not supported"),
        (("encode", mkv_clip.path, out, "--codec", "nope"), "nope"),
        (("encode", mkv_clip.path, out, "--codec", "intra", "--gop", "8"), "--gop"),
        (("encode", mkv_clip.path, out, "--backbone-interval", "0"), "backbone interval"),
        (("encode", mkv_clip.path, out, "--start", "50"), "beyond the end"),
        (("encode", mkv_clip.path, out, "--weights", tmp_path), "weights"),
    ]
    for args, cause in cases:
        code, _, err = vgc(*args, "-q", capsys=capsys)
        _assert_clean_failure(code, err, out)
        assert cause in err, (args, err)


def test_bad_vgc_files(tmp_path, wdir, mkv_clip, capsys):
    good = tmp_path / "a.vgc"
    assert vgc("encode", mkv_clip.path, good, "--weights", wdir, "-q", capsys=capsys)[0] == 0
    data = good.read_bytes()
    dec = tmp_path / "d.mkv"
    bad = tmp_path / "bad.vgc"
    variants = [data[:-5], data[: len(data) // 2], data[:11], b"", b"\x00" * 100,
                data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],
                data[:8] + b"\x09" + data[9:]]  # major version 9
    for v in variants:
        bad.write_bytes(v)
        code, _, err = vgc("decode", bad, dec, "--weights", wdir, "-q", capsys=capsys)
        _assert_clean_failure(code, err, dec)
        code, _, err = vgc("info", bad, capsys=capsys)
        _assert_clean_failure(code, err)
    code, _, err = vgc("decode", good, dec, capsys=capsys)  # shipped weights, other hash
    _assert_clean_failure(code, err, dec)
    code, _, err = vgc("decode", good, tmp_path / "d.xyz", "--weights", wdir, capsys=capsys)
    _assert_clean_failure(code, err, tmp_path / "d.xyz")


def test_console_script_exit_code(tmp_path):
    """The installed entry point, as a user runs it: one line, exit 1."""
    p = subprocess.run([sys.executable, "-m", "vidgen_codec", "info", str(tmp_path / "x.vgc")],
                       capture_output=True, text=True)
    assert p.returncode == 1
    assert p.stderr.strip().startswith("vgc: error:") and len(p.stderr.strip().splitlines()) == 1
