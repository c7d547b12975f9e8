"""Tests of the .vgc container (vidgen_codec.bitstream) against bitstream_spec.md: the format 1.1
layout, which vgc still reads (and writes on request); format 2.0: test_container_v2.py."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from pathlib import Path

import pytest

from vidgen_codec.bitstream import (
    MAGIC,
    ChunkType,
    CodecId,
    ContainerReader,
    ContainerWriter,
    EntropyCoderId,
    FramePayload,
    FrameType,
    PixelFormat,
    SequenceHeader,
    decode_uvarint,
    encode_uvarint,
    unpack_index,
)
from vidgen_codec.bitstream.framing import pack_chunk, pack_file_header
from vidgen_codec.bitstream.index import pack_end
from vidgen_codec.errors import FormatError, InputError

V1 = (1, 1)  # the layout these tests are about
SPEC = Path(__file__).resolve().parents[1] / "bitstream_spec.md"


def make_header(**over) -> SequenceHeader:
    fields = dict(
        codec_id=CodecId.INTRA, entropy_coder_id=EntropyCoderId.COMPRESSAI_RANS,
        pixel_format=PixelFormat.RGB24, width=16, height=16, fps_num=25, fps_den=1,
        frame_count=0, gop_size=1, backbone_interval=1, target_bpp=0.0, rate=0.5,
        weights_sha256=hashlib.sha256(b"vgc example weights").digest(),
        model_id="intra-tiny", encoder_version="vgc 0.1.0",
    )  # fmt: skip
    fields.update(over)
    return SequenceHeader(**fields)


def write_example(path: Path) -> bytes:
    """The worked example of bitstream_spec.md: a 16x16 one-frame clip, one BACKBONE_FRAME."""
    with ContainerWriter(path, version=V1) as w:
        w.write_sequence_header(make_header())
        w.write_frame(
            ChunkType.BACKBONE_FRAME,
            FramePayload(0, FrameType.I, 500, [b"\x01\x02\x03", b"\xaa\xbb"]),
            gop_start=True,
        )
        w.finish(1)
    return path.read_bytes()


FRAMES = [  # (chunk type, payload, gop_start)
    (ChunkType.BACKBONE_FRAME, FramePayload(0, FrameType.I, 1500, [b"yyyy", b"zz"]), True),
    (ChunkType.MV_PAYLOAD, FramePayload(1, FrameType.M, -3, [b"", b"mv"]), False),
    (ChunkType.MV_PAYLOAD, FramePayload(2, FrameType.R, 0, [b"m"]), False),
    (ChunkType.LATENT_RESIDUAL, FramePayload(2, FrameType.R, 7, [b"", b"", bytes(300)]), False),
    (ChunkType.BACKBONE_FRAME, FramePayload(3, FrameType.I, 1500, []), True),
    (ChunkType.BACKBONE_FRAME, FramePayload(4, FrameType.P, 32767, [b"p" * 200]), False),
    (ChunkType.BACKBONE_FRAME, FramePayload(5, FrameType.I, -32768, [b"i"]), True),
]


def write_sample(path: Path, *, extra_chunk: tuple[int, bytes] | None = None) -> Path:
    hdr = make_header(
        width=640, height=360, target_bpp=0.012345, rate=-1.25, gop_size=3, model_id="modèle"
    )
    with ContainerWriter(path, version=V1) as w:
        w.write_sequence_header(hdr)
        for i, (ct, fp, gop) in enumerate(FRAMES):
            w.write_frame(ct, fp, gop_start=gop)
            if i == 2 and extra_chunk:
                w.write_chunk(*extra_chunk)
        w.finish(6)
    return path


def expect_error(data: bytes, pattern: str) -> FormatError:
    with pytest.raises(FormatError, match=pattern) as ei:
        r = ContainerReader(data)
        list(r.iter_frames())
        r.chunks()
        r.read_index()
    return ei.value


def rechunk(data: bytes, offset: int, payload: bytes, chunk_type: int | None = None) -> bytes:
    """Replace the chunk at offset by one with a new payload (valid CRC)."""
    t, n = struct.unpack_from("<HI", data, offset)
    return (
        data[:offset]
        + pack_chunk(t if chunk_type is None else chunk_type, payload)
        + data[offset + 10 + n :]
    )


# --- round trip ------------------------------------------------------------------------------


def test_round_trip(tmp_path):
    path = write_sample(tmp_path / "a.vgc")
    data = path.read_bytes()
    with ContainerReader(path) as r:
        assert r.version == (1, 1) and r.file_size == len(data)
        h = r.header
        assert (h.codec_id, h.entropy_coder_id, h.pixel_format) == (1, 1, 0)
        assert (h.width, h.height, h.fps_num, h.fps_den, h.frame_count) == (640, 360, 25, 1, 6)
        assert (h.gop_size, h.backbone_interval, h.model_id, h.encoder_version) == (
            3,
            1,
            "modèle",
            "vgc 0.1.0",
        )
        assert h.target_bpp == pytest.approx(0.012345, abs=1e-9) and h.rate == -1.25
        assert h.weights_sha256 == hashlib.sha256(b"vgc example weights").digest()
        frames = list(r.iter_frames())
        assert [(f.chunk_type, f.payload) for f in frames] == [(ct, fp) for ct, fp, _ in FRAMES]
        assert [f.chunk_index for f in frames] == list(range(1, 8))
        chunks = r.chunks()
        assert [c.type for c in chunks] == [1, 2, 3, 3, 4, 2, 2, 2, ChunkType.INDEX, ChunkType.END]
        assert sum(c.size for c in chunks) + 12 == len(data)
        assert [(f.offset, f.size) for f in frames] == [(c.offset, c.size) for c in chunks[1:8]]
        index = r.read_index()
        assert [e.frame_index for e in index] == [0, 3, 5]
        assert [e.offset for e in index] == [frames[0].offset, frames[4].offset, frames[6].offset]
        for e, start in zip(
            index, (0, 4, 6), strict=True
        ):  # seeking gives the same frames as reading through
            tail = list(r.iter_frames_from(e.offset))
            assert [f.payload for f in tail] == [f.payload for f in frames[start:]]
        assert [f.chunk_index for f in r.iter_frames_from(index[0].offset)] == list(range(1, 8))
    assert [f.payload for f in ContainerReader(data).iter_frames()] == [f.payload for f in frames]


def test_writer_records_chunks(tmp_path):
    path = tmp_path / "a.vgc"
    with ContainerWriter(path, version=V1) as w:
        w.write_sequence_header(make_header())
        w.write_frame(
            ChunkType.BACKBONE_FRAME, FramePayload(0, FrameType.I, 0, [b"ab"]), gop_start=False
        )
        w.finish(1)
    assert w.bytes_written == path.stat().st_size
    assert w.chunks == ContainerReader(path).chunks()
    assert ContainerReader(path).read_index() == []  # no GOP start recorded: no INDEX, END says 0
    assert [c.type for c in w.chunks] == [
        ChunkType.SEQUENCE_HEADER,
        ChunkType.BACKBONE_FRAME,
        ChunkType.END,
    ]


def test_frame_count_patched(tmp_path):
    data = write_sample(tmp_path / "a.vgc").read_bytes()
    assert ContainerReader(data).header.frame_count == 6  # written as 0, patched by finish(6)
    assert struct.unpack_from("<I", data, 12 + 6 + 20) == (6,)


def test_unknown_ancillary_chunk_skipped(tmp_path):
    data = write_sample(tmp_path / "a.vgc", extra_chunk=(0x9001, b"future metadata")).read_bytes()
    r = ContainerReader(data)
    assert [f.payload for f in r.iter_frames()] == [fp for _, fp, _ in FRAMES]
    assert r.chunks()[4].type == 0x9001 and r.chunks()[4].type_name == "unknown ancillary 0x9001"
    assert len(r.read_index()) == 3


def test_unknown_critical_chunk_refused(tmp_path):
    data = write_sample(tmp_path / "a.vgc", extra_chunk=(0x0042, b"must understand")).read_bytes()
    clean = write_sample(tmp_path / "b.vgc").read_bytes()
    err = expect_error(data, "unknown critical 0x0042")
    assert err.chunk == 4 and err.offset == ContainerReader(clean).chunks()[4].offset
    with pytest.raises(FormatError):
        ContainerReader(data).chunks()


def test_newer_major_refused(tmp_path):
    data = bytearray(write_example(tmp_path / "a.vgc"))
    data[8], data[9] = 2, 3  # a major 2 file has the short magic: this is no vgc file
    with pytest.raises(FormatError, match=r"format version 2\.3 with a format 1 magic"):
        ContainerReader(bytes(data))


def test_newer_minor_with_longer_headers_is_read():
    hdr = make_header(frame_count=2)
    head = pack_file_header(1, 7, extra=b"\x01\x02\x03\x04")
    seq = pack_chunk(ChunkType.SEQUENCE_HEADER, hdr.pack(1) + b"fields of 1.7")
    f0 = pack_chunk(ChunkType.BACKBONE_FRAME, FramePayload(0, FrameType.I, 1, [b"a"]).pack(1))
    f1 = pack_chunk(ChunkType.BACKBONE_FRAME, FramePayload(1, FrameType.I, 1, [b"b"]).pack(1))
    new = pack_chunk(0x8123, b"1.7 ancillary")
    data = head + seq + f0 + f1 + new + pack_chunk(ChunkType.END, pack_end(0))
    r = ContainerReader(data)
    assert r.version == (1, 7) and r.header == hdr
    assert [f.payload.streams for f in r.iter_frames()] == [[b"a"], [b"b"]]
    assert r.read_index() == [] and len(r.chunks()) == 5


# --- atomic writing --------------------------------------------------------------------------


def test_exception_leaves_no_file(tmp_path):
    path = tmp_path / "out.vgc"
    with pytest.raises(KeyError):
        with ContainerWriter(path, version=V1) as w:
            w.write_sequence_header(make_header())
            raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_untouched(tmp_path):
    path = tmp_path / "out.vgc"
    path.write_bytes(b"old contents")
    with pytest.raises(RuntimeError):
        with ContainerWriter(path, version=V1) as w:
            w.write_sequence_header(make_header())
            w.write_frame(
                ChunkType.BACKBONE_FRAME, FramePayload(0, FrameType.I, 0, []), gop_start=True
            )
            raise RuntimeError
    with pytest.raises(RuntimeError, match="before finish"):
        with ContainerWriter(path, version=V1) as w:
            w.write_sequence_header(make_header())  # no finish(): discarded
    assert list(tmp_path.iterdir()) == [path] and path.read_bytes() == b"old contents"
    write_example(path)  # a finished write replaces it
    assert ContainerReader(path).header.frame_count == 1 and list(tmp_path.iterdir()) == [path]


def test_temp_file_beside_target(tmp_path):
    w = ContainerWriter(tmp_path / "out.vgc", version=V1)
    [tmp] = list(tmp_path.iterdir())
    assert re.fullmatch(r"\.out\.vgc\.[0-9a-f]+\.tmp", tmp.name)
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_misuse(tmp_path):
    with ContainerWriter(tmp_path / "a.vgc", version=V1) as w:
        with pytest.raises(ValueError):
            w.write_frame(
                ChunkType.BACKBONE_FRAME, FramePayload(0, FrameType.I, 0, []), gop_start=True
            )
        w.write_sequence_header(make_header())
        with pytest.raises(ValueError):
            w.write_sequence_header(make_header())
        with pytest.raises(ValueError):
            w.write_frame(ChunkType.INDEX, FramePayload(0, FrameType.I, 0, []), gop_start=True)
        w.write_frame(ChunkType.BACKBONE_FRAME, FramePayload(4, FrameType.I, 0, []), gop_start=True)
        with pytest.raises(ValueError):
            w.write_frame(
                ChunkType.BACKBONE_FRAME, FramePayload(4, FrameType.I, 0, []), gop_start=True
            )
        with pytest.raises(ValueError):
            w.finish(4)  # frame 4 was written
        w.finish(5)
        with pytest.raises(ValueError):
            w.write_chunk(0x8002, b"")


@pytest.mark.parametrize(
    "over",
    [
        dict(width=0), dict(height=65536), dict(fps_den=0), dict(frame_count=2**31),
        dict(weights_sha256=b"x"), dict(model_id="x" * 256), dict(target_bpp=-1.0),
        dict(rate=float("nan")), dict(gop_size=70000),
    ],
)  # fmt: skip
def test_sequence_header_pack_rejects(over):
    with pytest.raises(ValueError):
        make_header(**over).pack(1)


@pytest.mark.parametrize(
    "fp", [FramePayload(0, 9, 0, []), FramePayload(0, 0, 40000, []), FramePayload(-1, 0, 0, [])]
)
def test_frame_payload_pack_rejects(fp):
    with pytest.raises(ValueError):
        fp.pack()


# --- malformed files -------------------------------------------------------------------------


@pytest.fixture
def example(tmp_path) -> bytes:
    return write_example(tmp_path / "ex.vgc")


def test_not_a_vgc_file(example):
    expect_error(b"RIFF" + example[4:], "not a vgc file")
    expect_error(b"", "not a vgc file")
    expect_error(example[:5], "truncated file header")
    expect_error(example[:11], "truncated file header")


def test_bad_header_length(example):
    expect_error(example[:10] + b"\x0b\x00" + example[12:], "header_length 11 is less than 12")
    expect_error(example[:10] + b"\xff\xff" + example[12:], "truncated")


def test_no_end_chunk(example):
    err = expect_error(example[:-18], r"^truncated: no END chunk")
    assert err.chunk == 3 and err.offset == len(example) - 18


def test_chunk_runs_past_end(example):
    err = expect_error(example[:-1], "truncated: END chunk of length 8 runs past end of file")
    assert err.chunk == 3


def test_chunk_length_cap():
    data = pack_file_header(1, 1) + struct.pack("<HI", 1, 2**30 + 1) + bytes(20)
    expect_error(data, "exceeds the 1 GiB limit")


def test_crc_mismatch_names_chunk_and_offset(example):
    data = bytearray(example)
    data[111 + 10] ^= 0x40  # inside the BACKBONE_FRAME payload (chunk 1 at offset 111)
    err = expect_error(bytes(data), "CRC mismatch in BACKBONE_FRAME")
    assert (err.chunk, err.offset) == (1, 111) and "chunk 1, byte offset 111" in str(err)


def test_data_after_end(example):
    expect_error(example + b"\x00", r"1 bytes after the END chunk")
    expect_error(example + example[-18:], r"18 bytes after the END chunk")


def test_order_rules(example):
    seq = example[12:111]
    frame = example[111:136]
    index = example[136:149]
    end = example[149:]
    head = example[:12]
    expect_error(head + frame + seq + end, "first chunk is BACKBONE_FRAME, not SEQUENCE_HEADER")
    expect_error(head + seq + seq + end, "second SEQUENCE_HEADER")
    expect_error(head + seq + end + frame, "bytes after the END chunk")
    bad_end = pack_chunk(ChunkType.END, pack_end(0))
    expect_error(head + seq + index + frame + bad_end, "BACKBONE_FRAME chunk after the INDEX")
    expect_error(head + seq + frame + index + index + bad_end, "second INDEX")
    expect_error(head + seq + frame + index + bad_end, "END index_offset is 0 but an INDEX chunk")
    expect_error(
        head + seq + frame + pack_chunk(ChunkType.END, pack_end(111)), "not the offset of the INDEX"
    )
    expect_error(
        head + seq + frame + pack_chunk(ChunkType.END, b"\x00" * 9), "END payload is 9 bytes"
    )


def test_frame_index_beyond_frame_count(example):
    data = rechunk(example, 111, FramePayload(1, FrameType.I, 0, []).pack(1))
    expect_error(data, "frame index 1 not below frame_count 1")


def test_bad_index(example):
    expect_error(rechunk(example, 136, b"\x01\x00\x05"), "points outside the frames")
    expect_error(rechunk(example, 136, b"\x02\x00\x6f\x00\x01"), "does not increase strictly")
    expect_error(rechunk(example, 136, b"\x01\x00\x6f\x00"), "unexpected bytes after the INDEX")
    expect_error(rechunk(example, 136, b"\x05\x00\x6f"), "claims 5 entries")
    expect_error(example[:-18] + pack_chunk(ChunkType.END, pack_end(12)), "outside the chunk area")
    expect_error(example[:-18] + pack_chunk(ChunkType.END, pack_end(149)), "outside the chunk area")
    with pytest.raises(FormatError, match="END points at a BACKBONE_FRAME"):
        ContainerReader(example[:-18] + pack_chunk(ChunkType.END, pack_end(111))).read_index()
    assert unpack_index(b"\x02\x00\x0c\x01\x01") == [(0, 12), (1, 13)]


def test_iter_frames_from_bad_offset(example):
    r = ContainerReader(example)
    for off in (0, 12, 110, len(example)):
        with pytest.raises(FormatError):
            list(r.iter_frames_from(off))
    with pytest.raises(FormatError):
        list(r.iter_frames_from(112))  # inside a chunk: framing or CRC fails


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda p: p[:4] + b"\x00\x00" + p[6:], r"frame size 0x16"),
        (lambda p: p[:12] + b"\x00\x00\x00\x00" + p[16:], r"frame rate 0/1"),
        (lambda p: p[:20] + b"\x00\x00\x00\x80" + p[24:], r"frame_count 2147483648"),
        (lambda p: p[:68] + b"\x03\xff\xfe\xfd" + p[79:], r"model_id is not valid UTF-8"),
        (lambda p: p[:60], r"SEQUENCE_HEADER too short"),
        (lambda p: p[:-1], r"encoder_version runs past"),
        (lambda p: p[:79], r"no encoder_version length"),
    ],
)
def test_bad_sequence_header(example, mutate, pattern):
    expect_error(rechunk(example, 12, mutate(example[18:107])), pattern)


@pytest.mark.parametrize(
    "payload, pattern",
    [
        (b"\x00\x00\x00\x00\x07\x00\x00\x00", "unknown frame type 7"),
        (b"\x00\x00\x00\x00\x00\x00\x00", "frame payload too short"),
        (b"\x00\x00\x00\x00\x00\x00\x00\x01\x05ab", "stream 0 of 5 bytes runs past"),
        (b"\x00\x00\x00\x00\x00\x00\x00\x01\x01ab", "1 unexpected bytes after the last stream"),
        (b"\x00\x00\x00\x00\x00\x00\x00\x02\x00", "truncated varint"),
        (b"\x00\x00\x00\x00\x00\x00\x00\x01\x80\x00", "overlong varint"),
    ],
)
def test_bad_frame_payload(example, payload, pattern):
    expect_error(rechunk(example, 111, payload), pattern)


def test_varints():
    for v in (0, 1, 127, 128, 300, 2**21, 2**32 - 1):
        enc = encode_uvarint(v)
        assert decode_uvarint(enc + b"\xff", 0) == (v, len(enc)) and len(enc) <= 5
    assert encode_uvarint(300) == b"\xac\x02"
    assert decode_uvarint(encode_uvarint(2**64 - 1, bits=64), 0, bits=64)[0] == 2**64 - 1
    bad_varints = [
        (b"\x80\x00", "overlong"),
        (b"\xff\xff\xff\xff\x10", "exceeds 32 bits"),
        (b"\x80\x80\x80\x80\x80\x01", "longer than 5 bytes"),
        (b"\x80", "truncated"),
    ]
    for bad, pattern in bad_varints:
        with pytest.raises(FormatError, match=pattern):
            decode_uvarint(bad, 0)
    with pytest.raises(ValueError):
        encode_uvarint(2**32)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError):
        ContainerReader(tmp_path / "nope.vgc")


# --- golden bytes and the spec's worked example ----------------------------------------------

# The exact bytes of write_example(). Regenerate ONLY on purpose (a deliberate format change, with
# a version bump and a bitstream_spec.md update): print(write_example(path).hex()).
GOLDEN_HEX = (
    "895647430d0a1a0a01010c000100590000000100010010000000100000001900000001000000010000000100"
    "010000000000f4010000d335679ad8e4423c65a3e6de5424d48099a1cd39bb87f895940cd7893e0ea1b90a69"
    "6e7472612d74696e790976676320302e312e30d6dfe8d702000f0000000000000000f401020301020302aabb"
    "5ab2b83301800300000001006f54896e4f05000800000088000000000000003bffcad3"
)


def test_golden_bytes(example):
    assert example.hex() == GOLDEN_HEX
    r = ContainerReader(bytes.fromhex(GOLDEN_HEX))
    assert r.header == make_header(frame_count=1)
    [f] = r.iter_frames()
    assert f.payload == FramePayload(0, FrameType.I, 500, [b"\x01\x02\x03", b"\xaa\xbb"])
    assert r.read_index() == [(0, 111)]
    assert zlib.crc32(example) == zlib.crc32(bytes.fromhex(GOLDEN_HEX))


def spec_dump(marker: str) -> bytes:
    """The bytes of the annotated hex dump between `<!-- {marker}:begin/end -->` in the spec
    (each line's offset checked against the bytes before it)."""
    text = SPEC.read_text(encoding="utf-8")
    block = text.split(f"<!-- {marker}:begin -->", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
    dumped = bytearray()
    for line in block.splitlines():
        m = re.match(r"^([0-9a-f]{4})  ((?:[0-9a-f]{2} )*[0-9a-f]{2})\s*\|", line)
        if m:
            assert int(m.group(1), 16) == len(dumped), line
            dumped += bytes.fromhex(m.group(2))
    return bytes(dumped)


def test_spec_hex_dump_matches_writer(example):
    """The annotated hex dump in bitstream_spec.md is exactly what the writer produces."""
    assert spec_dump("hexdump") == example
    assert MAGIC == example[:8]


def test_dropped_writer_removes_temp_file(tmp_path):
    w = ContainerWriter(tmp_path / "out.vgc", version=V1)
    w.write_sequence_header(make_header())
    del w
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("version", [V1, (2, 0)])
def test_drop_refine_moves_the_later_chunks_and_the_index(tmp_path, version):
    from vidgen_codec.bitstream.headers import RefineRecord

    out = tmp_path / "d.vgc"
    with ContainerWriter(out, version=version) as w:
        w.write_sequence_header(make_header(frame_count=0))
        w.write_refine(RefineRecord(7, b"\x01" * 32, "r"))
        for i in range(3):
            w.write_frame(ChunkType.BACKBONE_FRAME, FramePayload(i, FrameType.I, 0, [b"x" * 40]),
                          gop_start=True)
        w.drop_refine()
        w.finish(3)
    with ContainerReader(out) as r:
        assert r.refine is None
        assert [c.payload.frame_index for c in r.iter_frames()] == [0, 1, 2]
        index = r.read_index()
        assert [e.frame_index for e in index] == [0, 1, 2]
        assert [c.offset for c in r.iter_frames()] == [e.offset for e in index]
