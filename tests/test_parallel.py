"""Chunked and parallel encoding and decoding, batch jobs (issue 16), on a real local Ray."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from conftest import synthetic_frames, write_clip

ray = pytest.importorskip("ray")

from vidgen_codec import api
from vidgen_codec.weights import repo_weights_dir  # noqa: E402
from vidgen_codec.codecs.base import Span  # noqa: E402
from vidgen_codec.errors import InputError  # noqa: E402
from vidgen_codec.parallel import plan as chunk_plan  # noqa: E402
from vidgen_codec.parallel import pool  # noqa: E402
from vidgen_codec.batch import MANIFEST  # noqa: E402
from vidgen_codec.parallel.decode import ranges  # noqa: E402
from vidgen_codec.video_io import read_frames  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with two worker CPUs, as `vgc --workers 2` starts it."""
    r = pool.start(2)
    yield r
    r.shutdown()


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """64x48 H.264, 42 frames: a scene of 20, then a cut to an inverted scene of 22."""
    a = synthetic_frames(64, 48, 20, seed=0)
    b = [255 - f for f in synthetic_frames(64, 48, 22, seed=5)]
    path = str(tmp_path_factory.mktemp("clips") / "cut.mp4")
    return write_clip(path, a + b, Fraction(25), codec="libx264", pix_fmt="yuv420p",
                      options={"crf": "10", "bf": "2"})


def test_local_ray_binds_loopback_only(local_ray):
    nodes = local_ray.nodes()
    assert len(nodes) >= 1
    assert {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    assert local_ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    pids = local_ray.get([local_ray.remote(lambda: os.getpid()).remote() for _ in range(4)])
    assert os.getpid() not in pids  # tasks ran in worker processes


def test_first_pass_spans_follow_cuts_and_split_the_budget(cut_clip):
    plan = chunk_plan.first_pass(read_frames(cut_clip), 7, cuts=True, measure=True)
    assert plan.frames == 42
    starts = [s.first for s in plan.spans]
    assert 20 in starts  # the cut starts a span
    assert [s.first + s.frames for s in plan.spans[:-1]] == starts[1:]
    assert all(s.frames >= 4 for s in plan.spans)  # stubs under half a span were joined
    assert [s.lead for s in plan.spans] == [True] + [False] * (len(plan.spans) - 1)
    assert all(c > 0 for c in plan.complexity)
    spans = chunk_plan.with_budgets(plan, 10_000.0)
    assert sum(s.budget for s in spans) == pytest.approx(10_000.0)
    assert chunk_plan._pieces(20, 7) == [7, 7, 6] and chunk_plan._pieces(10, 7) == [10]
    assert chunk_plan._pieces(17, 7) == [7, 10]


def test_first_pass_keeps_a_short_clip_and_hashes_a_long_one(cut_clip):
    frames = list(read_frames(cut_clip))
    size = frames[0].nbytes
    whole = chunk_plan.first_pass(iter(frames), 7, cuts=True, measure=False,
                                  keep_bytes=len(frames) * size)
    assert whole.kept is not None and len(whole.kept) == len(frames)
    assert all(np.array_equal(a, b) for a, b in zip(whole.kept, frames))
    assert whole.hashes == [None] * len(frames)  # the frames are not read again
    over = chunk_plan.first_pass(iter(frames), 7, cuts=True, measure=False,
                                 keep_bytes=len(frames) * size - 1)
    plain = chunk_plan.first_pass(iter(frames), 7, cuts=True, measure=False)
    assert over.kept is None and over.hashes == plain.hashes and None not in plain.hashes
    assert over.spans == plain.spans == whole.spans


def test_decode_ranges_are_whole_gops():
    assert ranges([0, 7, 14, 20, 27, 34], 0, 42) == [(0, 20), (20, 22)]
    assert ranges([0, 33], 5, 40) == [(5, 40)]  # a short tail joins the range before
    assert ranges([0, 20, 40], 0, 60) == [(0, 20), (20, 20), (40, 20)]


@pytest.mark.slow  # over 10 s on 2 cores: .ci/run runs it, make test does not
@pytest.mark.parametrize("backbone", ["av1", "learned"])
def test_encode_identical_for_any_worker_count(local_ray, cut_clip, tmp_path, backbone):
    bpp = 0.1 if backbone == "av1" else 0.3
    outs = []
    for workers in (1, 2, 3):
        dst = str(tmp_path / f"w{workers}.vgc")
        rep = api.encode(cut_clip, dst, bpp=bpp, gop=8, backbone=backbone, workers=workers,
                         progress=False)
        assert abs(rep.bpp / bpp - 1) < 0.05
        outs.append(open(dst, "rb").read())
    assert outs[0] == outs[1] == outs[2]
    from vidgen_codec.bitstream import ContainerReader

    with ContainerReader(str(tmp_path / "w1.vgc")) as rd:
        gops = [e.frame_index for e in rd.read_index()]
    assert 20 in gops and len(gops) >= 3


def test_parallel_decode_identical_to_serial(local_ray, cut_clip, tmp_path):
    src = str(tmp_path / "l.vgc")
    api.encode(cut_clip, src, bpp=0.3, gop=8, backbone="learned", progress=False)
    api.decode(src, str(tmp_path / "serial.y4m"), progress=False)  # refined (REFINE chunk)
    api.decode(src, str(tmp_path / "par.y4m"), workers=3, progress=False)
    assert (tmp_path / "serial.y4m").read_bytes() == (tmp_path / "par.y4m").read_bytes()
    api.decode(src, str(tmp_path / "s2.y4m"), start=9, frames=25, progress=False)
    api.decode(src, str(tmp_path / "p2.y4m"), start=9, frames=25, workers=2, progress=False)
    assert (tmp_path / "s2.y4m").read_bytes() == (tmp_path / "p2.y4m").read_bytes()


@pytest.mark.skipif(not (repo_weights_dir() / "s2vc" / "config.json").exists(),
                    reason="no shipped s2vc weights")
def test_s2vc_spans_and_ranges_on_workers(local_ray, cut_clip, tmp_path):
    """s2vc: the same file with 1 and 2 workers (spans from the cut), the same frames decoded
    serially and as GOP ranges with and without the generator."""
    files = []
    for workers in (1, 2):
        files.append(str(tmp_path / f"s{workers}.vgc"))
        api.encode(cut_clip, files[-1], codec="s2vc", bpp=0.3, gop=8, workers=workers,
                   progress=False)
    assert open(files[0], "rb").read() == open(files[1], "rb").read()
    for gen in (True, False):
        api.decode(files[0], str(tmp_path / "a.y4m"), generate=gen, progress=False)
        api.decode(files[0], str(tmp_path / "b.y4m"), generate=gen, workers=2, progress=False)
        assert (tmp_path / "a.y4m").read_bytes() == (tmp_path / "b.y4m").read_bytes()


@pytest.mark.slow  # over 10 s on 2 cores: .ci/run runs it, make test does not
def test_killed_worker_is_replaced_and_the_bytes_do_not_change(local_ray, cut_clip, tmp_path):
    api.encode(cut_clip, str(tmp_path / "ref.vgc"), bpp=0.1, gop=8, progress=False)
    killed = []

    def killer():  # SIGKILL the first worker seen coding a span
        deadline = time.time() + 120
        while not killed and time.time() < deadline:
            for pid in os.listdir("/proc"):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if pid.isdigit() and b"ray::encode_span" in cmd:
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(int(pid))
                    return
            time.sleep(0.02)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    api.encode(cut_clip, str(tmp_path / "par.vgc"), bpp=0.1, gop=8, workers=2, progress=False)
    t.join(timeout=5)
    assert killed, "no worker was seen coding a span"
    assert (tmp_path / "par.vgc").read_bytes() == (tmp_path / "ref.vgc").read_bytes()


def test_span_frames_are_checked_against_the_first_pass(cut_clip):
    from vidgen_codec.codecs.base import RateTarget
    from vidgen_codec.parallel.encode import encode_span
    from vidgen_codec.pipeline.encode import EncodeJob

    job = EncodeJob(cut_clip, None, 0, "stem", None, "cpu", 64, 48, RateTarget(bpp=0.1), None,
                    False, None, None, 0)
    with pytest.raises(InputError, match="from the first pass"):
        encode_span(job, Span(7, 7, 1000.0, False), [b"\0" * 8] * 7)


def test_seeking_reads_the_frames_a_decode_from_the_top_gives(cut_clip):
    every = list(read_frames(cut_clip))
    for start in (1, 13, 20, 33):
        got = list(read_frames(cut_clip, start=start, count=5, seek=True))
        assert len(got) == 5 and all(np.array_equal(a, b) for a, b in zip(got, every[start:]))


def test_batch_resumes_and_a_corrupt_input_fails_alone(local_ray, cut_clip, tmp_path):
    from click.testing import CliRunner

    from vidgen_codec.cli import main

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b"):
        (src / f"{name}.mp4").write_bytes(open(cut_clip, "rb").read())
    (src / "bad.mp4").write_bytes(open(cut_clip, "rb").read()[:3000])
    out = tmp_path / "out"
    args = ["batch", "encode", str(src), "-o", str(out), "--bpp", "0.1", "--fast", "--json",
            "-q", "--workers", "2"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(summary["done"]) == 2 and summary["skipped"] == []
    assert [f["input"] for f in summary["failed"]] == [str(src / "bad.mp4")]
    assert "\n" not in summary["failed"][0]["error"]
    manifest = json.loads((out / MANIFEST).read_text())["files"]
    assert manifest[str(src / "a.mp4")]["status"] == "done"
    a_bytes = (out / "a.vgc").read_bytes()
    (out / "b.vgc").write_bytes(b"changed")  # no longer what the manifest recorded
    r = CliRunner().invoke(main, args)
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["skipped"] == [str(src / "a.mp4")]
    assert summary["done"] == [str(src / "b.mp4")]
    assert (out / "b.vgc").read_bytes() == a_bytes  # same input, same options, same bytes
    assert not list(out.glob("*.tmp")) and not (out / "bad.vgc").exists()


def test_cli_workers_flag(local_ray, cut_clip, tmp_path):
    from click.testing import CliRunner

    from vidgen_codec.cli import main

    api.encode(cut_clip, str(tmp_path / "s.vgc"), bpp=0.1, gop=8, fast=True, progress=False)
    r = CliRunner().invoke(main, ["encode", cut_clip, str(tmp_path / "p.vgc"), "--bpp", "0.1",
                                  "--gop", "8", "--fast", "-q", "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "p.vgc").read_bytes() == (tmp_path / "s.vgc").read_bytes()
    r = CliRunner().invoke(main, ["decode", str(tmp_path / "p.vgc"), str(tmp_path / "p.y4m"),
                                  "-q", "--workers", "2"])
    assert r.exit_code == 0, r.output
    assert "--workers" in CliRunner().invoke(main, ["encode", "--help"]).output


def test_batch_decode(cut_clip, tmp_path):
    from click.testing import CliRunner

    from vidgen_codec.cli import main

    api.encode(cut_clip, str(tmp_path / "a.vgc"), bpp=0.1, fast=True, progress=False)
    (tmp_path / "bad.vgc").write_bytes((tmp_path / "a.vgc").read_bytes()[:-9])  # truncated
    r = CliRunner().invoke(main, ["batch", "decode", str(tmp_path / "a.vgc"),
                                  str(tmp_path / "bad.vgc"), "-o", str(tmp_path / "dec"),
                                  "--format", "y4m", "--json", "-q"])
    assert r.exit_code == 1
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["done"] == [str(tmp_path / "a.vgc")]
    assert [f["input"] for f in summary["failed"]] == [str(tmp_path / "bad.vgc")]
    api.decode(str(tmp_path / "a.vgc"), str(tmp_path / "ref.y4m"), progress=False)
    assert (tmp_path / "dec" / "a.y4m").read_bytes() == (tmp_path / "ref.y4m").read_bytes()
    assert not (tmp_path / "dec" / "bad.y4m").exists()


def test_an_unreachable_cluster_is_refused_at_once(cut_clip, tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.monotonic()
    with pytest.raises(InputError, match="cannot reach the Ray cluster"):
        api.encode(cut_clip, str(tmp_path / "x.vgc"), bpp=0.1, ray_address=f"127.0.0.1:{port}",
                   progress=False)
    assert time.monotonic() - t < 10 and not (tmp_path / "x.vgc").exists()
    with pytest.raises(InputError, match="HOST:PORT"):
        api.encode(cut_clip, str(tmp_path / "x.vgc"), bpp=0.1, ray_address="nowhere",
                   progress=False)


def test_batch_never_overwrites_a_file_it_did_not_write(cut_clip, tmp_path):
    from click.testing import CliRunner

    from vidgen_codec.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "cut.vgc").write_bytes(b"someone else's file")
    r = CliRunner().invoke(main, ["batch", "encode", cut_clip, "-o", str(out), "--bpp", "0.1",
                                  "--fast", "--json", "-q"])
    assert r.exit_code == 1
    failed = json.loads(r.stdout.strip().splitlines()[-1])["failed"]
    assert "exists and is not this batch's output" in failed[0]["error"]
    assert (out / "cut.vgc").read_bytes() == b"someone else's file"
    r = CliRunner().invoke(main, ["encode", "-", str(tmp_path / "x.vgc"), "--ray-address",
                                  "127.0.0.1:1"])
    assert r.exit_code != 0 and "shared storage" in str(r.exception)
