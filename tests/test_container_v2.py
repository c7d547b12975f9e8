"""Format 2.0, the compact layout vgc writes (bitstream_spec.md, section 17): the worked example,
its rules, and what a reader refuses. The 1.1 layout: test_container.py."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from vidgen_codec.bitstream import (
    ChunkType,
    ContainerReader,
    ContainerWriter,
    FramePayload,
    FrameType,
    IndexEntry,
)
from vidgen_codec.bitstream.framing import MAGIC_PREFIX, framing_for, pack_file_header
from vidgen_codec.bitstream.headers import RefineRecord
from vidgen_codec.bitstream.index import pack_end_2
from vidgen_codec.errors import FormatError

from test_container import make_header, spec_dump

F2 = framing_for(2)


def write_example_2(path: Path) -> bytes:
    """Section 17's worked example: the same clip as section 14's, written as 2.0."""
    with ContainerWriter(path) as w:
        w.write_sequence_header(make_header(entropy_coder_id=2))  # 2.0 files use VGC_RANS
        w.write_frame(ChunkType.BACKBONE_FRAME,
                      FramePayload(0, FrameType.I, 500, [b"\x01\x02\x03", b"\xaa\xbb"]),
                      gop_start=True)
        w.finish(1)
    return path.read_bytes()


@pytest.fixture
def example(tmp_path) -> bytes:
    return write_example_2(tmp_path / "ex.vgc")


GOLDEN_HEX_2 = (
    "895647430200012e0102000100000010101901010100e807d335679ad8e4423c0a696e7472612d74696e7909"
    "76676320302e312e3000d9c8e83b020c0000e807020301020302aabb1ffc0031050701003a0d000000b62bd719"
)


def build(chunks: list[tuple[int, bytes]], *, minor: int = 0) -> bytes:
    """A 2.x file from raw (type, payload) chunks after the file header."""
    return pack_file_header(2, minor) + b"".join(F2.pack_chunk(t, p) for t, p in chunks)


def seq(**over) -> bytes:
    return make_header(**{"frame_count": 2, **over}).pack(2)


def frame(i: int) -> bytes:
    return FramePayload(i, FrameType.I, 1, [b"s%d" % i]).pack(2)


def end(entries=()) -> bytes:
    return pack_end_2(list(entries), F2.chunk_size)


def test_writer_writes_2_0(example):
    r = ContainerReader(example)
    assert r.version == (2, 0) and example[:6] == MAGIC_PREFIX + b"\x02\x00"
    assert [c.type for c in r.chunks()] == [ChunkType.SEQUENCE_HEADER, ChunkType.BACKBONE_FRAME,
                                            ChunkType.END]
    assert r.header.weights_sha256 == hashlib.sha256(b"vgc example weights").digest()[:8]
    assert r.header.weights_match(hashlib.sha256(b"vgc example weights").digest())
    assert not r.header.weights_match(hashlib.sha256(b"other weights").digest())
    assert r.read_index() == [(0, r.chunks()[1].offset)]
    assert len(example) == 89  # the same file takes 167 bytes in format 1.1


def test_golden_bytes_2(example):
    """The bytes of section 17's example. Regenerate ONLY on purpose (a format change)."""
    assert example.hex() == GOLDEN_HEX_2
    assert zlib.crc32(example) == zlib.crc32(bytes.fromhex(GOLDEN_HEX_2))


def test_spec_hex_dump_2_matches_writer(example):
    assert spec_dump("hexdump2") == example


def test_codec_config_travels_in_the_sequence_header(tmp_path):
    hdr = make_header(codec_config=b"\x01\x08\x02\x00", frame_count=0)
    for version in ((2, 0), (1, 1)):
        out = tmp_path / f"c{version[0]}.vgc"
        with ContainerWriter(out, version=version) as w:
            w.write_sequence_header(hdr)
            w.write_frame(ChunkType.BACKBONE_FRAME, FramePayload(0, FrameType.I, 0, [b"x"]),
                          gop_start=True)
            w.finish(1)
        r = ContainerReader(out)
        assert r.codec_config == b"\x01\x08\x02\x00"
        types = [c.type for c in r.chunks()]
        assert (ChunkType.CODEC_CONFIG in types) == (version == (1, 1))


def test_round_trip_and_seek(tmp_path):
    out = tmp_path / "s.vgc"
    with ContainerWriter(out) as w:
        w.write_sequence_header(make_header(width=640, height=360, rate=-1.25, gop_size=300,
                                            target_bpp=0.012345, model_id="modèle"))
        w.write_refine(RefineRecord(7, b"\x01" * 32, "r"))
        for i in range(300):
            w.write_frame(ChunkType.BACKBONE_FRAME if i % 100 == 0 else ChunkType.MV_PAYLOAD,
                          FramePayload(i, FrameType.I if i % 100 == 0 else FrameType.M,
                                       -32768 + 219 * i, [bytes(i)]), gop_start=i % 100 == 0)
        w.finish(300)
    r = ContainerReader(out)
    h = r.header
    assert (h.width, h.height, h.rate, h.gop_size, h.target_bpp, h.model_id, h.frame_count) == (
        640, 360, -1.25, 300, 0.012345, "modèle", 300)
    assert r.refine == RefineRecord(7, b"\x01" * 32, "r")
    frames = list(r.iter_frames())
    assert [f.payload.rate_code for f in frames] == [-32768 + 219 * i for i in range(300)]
    index = r.read_index()
    assert [e.frame_index for e in index] == [0, 100, 200]
    assert [f.payload.frame_index for f in r.iter_frames_from(index[2].offset)] == list(
        range(200, 300))


def test_a_newer_minor_is_read():
    data = build([(ChunkType.SEQUENCE_HEADER, seq() + b"fields of 2.9"),
                  (ChunkType.BACKBONE_FRAME, frame(0)), (0x8077, b"2.9 ancillary"),
                  (ChunkType.BACKBONE_FRAME, frame(1)), (ChunkType.END, end())], minor=9)
    r = ContainerReader(data)
    assert r.version == (2, 9) and len(list(r.iter_frames())) == 2 and r.read_index() == []


@pytest.mark.parametrize("data, pattern", [
    (MAGIC_PREFIX + b"\x03\x01", r"format version 3\.1.*up to 2\.x.*upgrade vgc"),
    (MAGIC_PREFIX + b"\x00\x00" + bytes(20), r"unsupported format version 0\.0"),
    (MAGIC_PREFIX + b"\x02", r"truncated file header"),
    (pack_file_header(2, 0) + b"\x01\x80\x80\x80\x80\x10", r"bad chunk length"),
    (pack_file_header(2, 0) + b"\x01\x80\x80", r"truncated: chunk header"),
    (pack_file_header(2, 0) + b"\x01\x81\x80\x80\x80\x04" + bytes(9), r"exceeds the 1 GiB"),
])
def test_bad_headers_refused(data, pattern):
    with pytest.raises(FormatError, match=pattern):
        ContainerReader(data).chunks()


@pytest.mark.parametrize("chunks, pattern", [
    ([(ChunkType.SEQUENCE_HEADER, seq()), (ChunkType.CODEC_CONFIG, b"\x00"),
      (ChunkType.END, end())], r"CODEC_CONFIG chunk in a format 2 file"),
    ([(ChunkType.SEQUENCE_HEADER, seq()), (ChunkType.BACKBONE_FRAME, frame(0)),
      (ChunkType.INDEX, b"\x00"), (ChunkType.END, end())], r"INDEX chunk in a format 2 file"),
    ([(ChunkType.SEQUENCE_HEADER, seq()), (ChunkType.BACKBONE_FRAME, frame(0)),
      (ChunkType.END, end()[:-4] + b"\x63\x00\x00\x00")], r"END end_size 99"),
    ([(ChunkType.SEQUENCE_HEADER, seq()), (ChunkType.BACKBONE_FRAME, frame(0)),
      (ChunkType.END, end([IndexEntry(0, 50)]))], r"does not point at a frame chunk"),
    ([(ChunkType.SEQUENCE_HEADER, seq()), (ChunkType.BACKBONE_FRAME, frame(0)),
      (ChunkType.END, end([IndexEntry(5, 0)]))], r"does not point at a frame chunk"),
    ([(ChunkType.SEQUENCE_HEADER, seq()), (ChunkType.BACKBONE_FRAME, frame(2))],
     r"truncated: no END"),
    ([(ChunkType.SEQUENCE_HEADER, seq()), (ChunkType.BACKBONE_FRAME, frame(2)),
      (ChunkType.END, end())], r"frame index 2 not below frame_count 2"),
    ([(ChunkType.SEQUENCE_HEADER, seq()[:7] + b"\x00" + seq()[8:]), (ChunkType.END, end())],
     r"frame size 0x16 outside"),
    ([(ChunkType.SEQUENCE_HEADER, seq()[:11] + b"\x80\x80\x04" + seq()[12:]),
      (ChunkType.END, end())], r"gop_size 65536 or backbone_interval 1 outside"),
    ([(ChunkType.SEQUENCE_HEADER, seq()[:40]), (ChunkType.END, end())],
     r"SEQUENCE_HEADER too short|runs past the payload"),
    ([(ChunkType.SEQUENCE_HEADER, seq()), (0x05 | 0x40, b""), (ChunkType.END, end())],
     r"unknown critical 0x0045"),
])
def test_rules_refused(chunks, pattern):
    with pytest.raises(FormatError, match=pattern):
        r = ContainerReader(build(chunks))
        r.chunks()
        list(r.iter_frames())


def test_seeking_reader_checks_the_tail(example):
    r = ContainerReader(example[:-8] + (999).to_bytes(4, "little") + example[-4:])
    with pytest.raises(FormatError, match="no END chunk"):
        r.read_index()


def test_timestamps_round_trip_and_rules(tmp_path):
    from fractions import Fraction

    from vidgen_codec.bitstream.headers import Timestamps

    out = tmp_path / "t.vgc"
    with ContainerWriter(out) as w:
        w.write_sequence_header(make_header())
        for i in range(3):
            w.write_frame(ChunkType.BACKBONE_FRAME, FramePayload(i, FrameType.I, 0, [b"x"]),
                          gop_start=True)
        w.write_timestamps(Timestamps(Fraction(1, 1000), [100, 300, 340]))
        w.finish(3)
    r = ContainerReader(out)
    assert r.read_timestamps() == Timestamps(Fraction(1, 1000), [100, 300, 340])
    assert len(list(r.iter_frames())) == 3
    for bad, pattern in ((Timestamps(Fraction(1, 1000), [1, 2]).pack(), "2 times for 3"),
                         (bytes([1, 0, 0]), "time base"),
                         (bytes([1, 25, 3, 0, 2, 1]), "do not increase")):
        data = build([(ChunkType.SEQUENCE_HEADER, seq(frame_count=3)),
                      (ChunkType.BACKBONE_FRAME, frame(0)), (ChunkType.TIMESTAMPS, bad),
                      (ChunkType.END, end())])
        with pytest.raises(FormatError, match=pattern):
            ContainerReader(data).read_timestamps()
    assert ContainerReader(build([(ChunkType.SEQUENCE_HEADER, seq()),
                                  (ChunkType.END, end())])).read_timestamps() is None


def test_review_cases_are_refused():
    """TIMESTAMPS twice or before a frame; an index entry naming another frame's chunk;
    times past 64 bits; a 1.x magic broken after its fifth byte."""
    from fractions import Fraction

    from vidgen_codec.bitstream.headers import Timestamps

    ts = Timestamps(Fraction(1, 25), [0, 1]).pack()
    sq = (ChunkType.SEQUENCE_HEADER, seq())
    f0, f1 = (ChunkType.BACKBONE_FRAME, frame(0)), (ChunkType.BACKBONE_FRAME, frame(1))
    first = len(pack_file_header(2, 0)) + len(F2.pack_chunk(*sq))
    second = first + len(F2.pack_chunk(*f0))
    for chunks, pattern in (
            ([sq, f0, (ChunkType.TIMESTAMPS, ts), f1, (ChunkType.END, end())],
             "after the TIMESTAMPS"),
            ([sq, f0, f1, (ChunkType.TIMESTAMPS, ts), (ChunkType.TIMESTAMPS, ts),
              (ChunkType.END, end())], "second TIMESTAMPS"),
            ([sq, f0, f1, (ChunkType.END, end([IndexEntry(0, second)]))],
             "does not point at a frame chunk")):
        with pytest.raises(FormatError, match=pattern):
            ContainerReader(build(chunks)).chunks()
    big = b"\x01\x19\x02" + b"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01" + b"\x02"
    with pytest.raises(FormatError, match="64-bit"):
        Timestamps.unpack(big, 2)
    with pytest.raises(FormatError, match="bad magic"):
        ContainerReader(b"\x89VGC\r\x00\x00\x00" + bytes(20))
