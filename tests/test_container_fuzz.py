"""Fuzzing the .vgc reader: corrupt input must raise FormatError, never anything else, never hang.

Starts from a small valid file (several frame types, an unknown ancillary chunk, the index, END)
in the layout vgc writes (2.0) and, for the exhaustive truncation and bit-flip tests, in the 1.1
layout too; truncates, flips, inserts and deletes bytes; a "re-CRC" mutator also rewrites chunk
payloads with a valid CRC so that the payload parsers, not just the CRC check, meet garbage.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidgen_codec.bitstream import (
    MAGIC,
    ChunkType,
    ContainerReader,
    ContainerWriter,
    FramePayload,
    FrameType,
    IndexEntry,
    SequenceHeader,
    decode_uvarint,
    encode_uvarint,
    pack_index,
    unpack_index,
)
from vidgen_codec.bitstream.framing import MAGIC_PREFIX, framing_for
from vidgen_codec.errors import FormatError

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _build_valid(version: tuple[int, int]) -> bytes:
    hdr = SequenceHeader(
        1, 1, 0, 32, 24, 30000, 1001, 0, 4, 2, 0.05, 1.5, bytes(range(32)), "m", "v"
    )
    frames = [
        (ChunkType.BACKBONE_FRAME, FramePayload(0, FrameType.I, 100, [b"abc", b""]), True),
        (ChunkType.MV_PAYLOAD, FramePayload(1, FrameType.M, -1, [b"\x00\x01"]), False),
        (ChunkType.MV_PAYLOAD, FramePayload(2, FrameType.R, 2, [b"m"]), False),
        (ChunkType.LATENT_RESIDUAL, FramePayload(2, FrameType.R, 2, [b"r" * 130, b"x"]), False),
        (ChunkType.BACKBONE_FRAME, FramePayload(3, FrameType.I, 100, []), True),
    ]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "valid.vgc"
        with ContainerWriter(path, version=version) as w:
            w.write_sequence_header(hdr)
            for i, (ct, fp, gop) in enumerate(frames):
                w.write_frame(ct, fp, gop_start=gop)
                if i == 1:
                    w.write_chunk(0x8077, b"ancillary")
            w.finish(4)
        return path.read_bytes()


VALID = _build_valid((2, 0))
VALIDS = {"2.0": (VALID, 5), "1.1": (_build_valid((1, 1)), 9)}
# (file, the one byte whose change leaves a valid file: the minor version, as an X.y reader
# reads any minor)

CHUNKS = ContainerReader(VALID).chunks()


def read_all(data: bytes) -> None:
    """Everything a user of the reader might do; raises FormatError or returns."""
    r = ContainerReader(data)
    assert r.header.width >= 1 and r.version[0] in (1, 2)
    frames = list(r.iter_frames())
    chunks = r.chunks()
    assert chunks[0].type == ChunkType.SEQUENCE_HEADER and chunks[-1].type == ChunkType.END
    assert len(frames) <= len(chunks)
    r.read_timestamps()
    for entry in r.read_index():
        for fc in r.iter_frames_from(entry.offset):
            assert fc.payload.frame_index < r.header.frame_count


def ok_or_format_error(data: bytes) -> bool:
    """True if the file reads cleanly, False on FormatError; any other exception fails the test."""
    try:
        read_all(data)
    except FormatError as e:
        assert str(e)
        return False
    return True


@pytest.mark.parametrize("version", VALIDS)
def test_valid_file_reads(version):
    valid, _ = VALIDS[version]
    assert ok_or_format_error(valid)
    assert len(ContainerReader(valid).read_index()) == 2
    assert len(ContainerReader(valid).chunks()) == (8 if version == "2.0" else 9)


@pytest.mark.parametrize("version", VALIDS)
def test_every_truncation_is_refused(version):
    valid, _ = VALIDS[version]
    for n in range(len(valid)):
        with pytest.raises(FormatError):
            read_all(valid[:n])


@pytest.mark.parametrize("version", VALIDS)
def test_every_single_bit_flip_is_caught(version):
    valid, minor_byte = VALIDS[version]
    for pos in range(len(valid)):
        for bit in range(8):
            data = bytearray(valid)
            data[pos] ^= 1 << bit
            if pos == minor_byte:
                assert ok_or_format_error(bytes(data))
            else:
                with pytest.raises(FormatError):
                    read_all(bytes(data))


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)), min_size=1, max_size=8)
)
def test_random_byte_changes(changes):
    data = bytearray(VALID)
    for pos, xor in changes:
        data[pos] ^= xor
    ok_or_format_error(bytes(data))


@FUZZ
@given(st.integers(0, len(VALID)), st.binary(min_size=1, max_size=40))
def test_random_insertions(pos, blob):
    ok_or_format_error(VALID[:pos] + blob + VALID[pos:])


@FUZZ
@given(st.integers(0, len(VALID) - 1), st.integers(1, 30))
def test_random_deletions(pos, n):
    ok_or_format_error(VALID[:pos] + VALID[pos + n :])


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(blob):
    ok_or_format_error(blob)
    ok_or_format_error(MAGIC + b"\x01\x00\x0c\x00" + blob)  # past the magic, into the chunks
    ok_or_format_error(MAGIC_PREFIX + b"\x02\x00" + blob)


@FUZZ
@given(st.integers(0, len(CHUNKS) - 1), st.data())
def test_payload_garbage_with_valid_crc(which, data):
    """Rewrite one chunk's payload (mutated or random) and give it a correct CRC."""
    c = CHUNKS[which]
    ctype = c.type
    payload = bytearray(VALID[c.payload_offset : c.payload_offset + c.length])
    how = data.draw(st.sampled_from(["flip", "cut", "grow", "random", "type"]))
    if how == "flip" and payload:
        for _ in range(data.draw(st.integers(1, 4))):
            payload[data.draw(st.integers(0, len(payload) - 1))] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        del payload[data.draw(st.integers(0, len(payload))) :]
    elif how == "grow":
        payload += data.draw(st.binary(min_size=1, max_size=20))
    elif how == "random":
        payload = bytearray(data.draw(st.binary(max_size=120)))
    elif how == "type":
        b = data.draw(st.integers(0, 255))
        ctype = (b & 0x7F) | (0x8000 if b & 0x80 else 0)
    chunk = framing_for(2).pack_chunk(ctype, bytes(payload))
    ok_or_format_error(VALID[: c.offset] + chunk + VALID[c.offset + c.size :])


# --- the payload parsers on their own --------------------------------------------------------


@FUZZ
@given(st.binary(max_size=200))
def test_parsers_on_random_bytes(blob):
    for parse in (SequenceHeader.unpack, FramePayload.unpack):
        for major in (1, 2):
            try:
                parse(blob, major=major, chunk=1, offset=100)
            except FormatError:
                pass
    try:
        unpack_index(blob, chunk=1, offset=100)
    except FormatError:
        pass
    for bits in (32, 64):
        try:
            value, end = decode_uvarint(blob, 0, bits=bits)
        except FormatError:
            continue
        assert encode_uvarint(value, bits=bits) == blob[:end]  # one encoding per value


@FUZZ
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(list(FrameType)),
    st.integers(-(2**15), 2**15 - 1),
    st.lists(st.binary(max_size=300), max_size=6),
)
def test_frame_payload_round_trip(index, ftype, rate, streams):
    fp = FramePayload(index, ftype, rate, streams)
    for major in (1, 2):
        assert FramePayload.unpack(fp.pack(major), major=major) == fp


@FUZZ
@given(
    st.lists(st.tuples(st.integers(1, 2**20), st.integers(1, 2**40)), max_size=20),
    st.integers(0, 5),
    st.integers(12, 99),
)
def test_index_round_trip(steps, frame0, offset0):
    entries, frame, off = [], frame0, offset0
    for df, do in steps:
        entries.append(IndexEntry(frame, off))
        frame, off = frame + df, off + do
    assert unpack_index(pack_index(entries)) == entries
