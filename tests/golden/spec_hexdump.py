"""Print the annotated hex dumps of bitstream_spec.md: section 14 (format 1.1) and, with
`2`, section 17 (format 2.0), the same worked example.

Run on purpose only, after a deliberate format change, and paste the output between the
hexdump (hexdump2) markers of the spec:  .venv/bin/python tests/golden/spec_hexdump.py [2]
tests/test_container.py and test_container_v2.py check the spec against the writer.
"""

from __future__ import annotations

import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_container import write_example  # noqa: E402
from test_container_v2 import write_example_2  # noqa: E402


class Dump:
    """Walks the bytes field by field, one annotated line per field (16 bytes a line at most)."""

    def __init__(self, data: bytes):
        self.data, self.pos, self.lines = data, 0, []

    def u32(self) -> int:
        return struct.unpack_from("<I", self.data, self.pos)[0]

    def section(self, title: str) -> None:
        self.lines.append(f"-- {title}")

    def field(self, n: int, note: str) -> None:
        for i in range(0, n, 16):
            part = self.data[self.pos + i : self.pos + min(i + 16, n)]
            hexes = " ".join(f"{b:02x}" for b in part)
            self.lines.append(
                f"{self.pos + i:04x}  {hexes:<47} | {note if i == 0 else '  (continued)'}"
            )
        self.pos += n

    def crc(self, start: int) -> None:
        self.field(4, f"CRC-32 = 0x{self.u32():08x} over bytes 0x{start:04x}..0x{self.pos - 1:04x}")

    def varint(self, note: str) -> int:
        """A varint field: its bytes on one line; returns its value."""
        n, value = 0, 0
        while True:
            b = self.data[self.pos + n]
            value |= (b & 0x7F) << (7 * n)
            n += 1
            if not b & 0x80:
                break
        self.field(n, note.format(value))
        return value

    def chunk_head_2(self, title: str, type_note: str) -> int:
        start = self.pos
        self.section(f"{title} (offset 0x{start:04x} = {start})")
        self.field(1, type_note)
        self.varint("length = {} (varint)")
        return start

    def chunk_head(self, title: str, type_note: str) -> int:
        start = self.pos
        self.section(f"{title} (offset 0x{start:04x} = {start})")
        self.field(2, type_note)
        self.field(4, f"length = {self.u32()}")
        return start


def main_2() -> None:
    d = Dump(write_example_2(Path(tempfile.mkdtemp()) / "ex.vgc"))
    d.section("file header (6 bytes)")
    d.field(4, 'magic "\\x89VGC"')
    d.field(1, "major = 2")
    d.field(1, "minor = 0")
    s = d.chunk_head_2("chunk 0: SEQUENCE_HEADER", "type = 0x01 SEQUENCE_HEADER (critical)")
    d.field(1, "codec_id = 1 (intra)")
    d.field(1, "entropy_coder_id = 2 (vgc_rans; the only coder of 2.0 files)")
    d.field(1, "pixel_format = 0 (rgb24)")
    d.field(4, "frame_count = 1 (u32, patched by finish())")
    for name in ("width", "height", "fps_num", "fps_den", "gop_size", "backbone_interval"):
        d.varint(name + " = {}")
    d.varint("target_bpp_micro = {} (no target)")
    d.field(2, "rate_milli = 500 (zigzag varint 1000: rate 0.5)")
    d.field(8, 'weights_id = first 8 bytes of SHA-256 of b"vgc example weights"')
    d.field(1, "model_id length = 10")
    d.field(10, 'model_id = "intra-tiny"')
    d.field(1, "encoder_version length = 9")
    d.field(9, 'encoder_version = "vgc 0.1.0"')
    d.varint("codec_config length = {} (none)")
    d.crc(s)
    s = d.chunk_head_2("chunk 1: BACKBONE_FRAME", "type = 0x02 BACKBONE_FRAME (critical)")
    d.varint("frame_index = {} (varint)")
    d.field(1, "frame_type = 0 (I)")
    d.field(2, "rate_code = 500 (zigzag varint 1000)")
    d.field(1, "n_streams = 2")
    d.varint("stream 0 length = {} (varint)")
    d.field(3, "stream 0 bytes")
    d.varint("stream 1 length = {} (varint)")
    d.field(2, "stream 1 bytes")
    d.crc(s)
    s = d.chunk_head_2("chunk 2: END", "type = 0x05 END (critical)")
    d.varint("index count = {} (varint)")
    d.varint("entry 0: frame delta = {} -> frame 0")
    off = d.varint("entry 0: offset delta = {0} -> offset {0}")
    d.field(4, f"end_size = {d.u32()}: the END chunk's bytes (file size - end_size = its offset)")
    d.crc(s)
    assert d.pos == len(d.data), (d.pos, len(d.data))
    assert off == 58, off
    d.section(f"end of file: {len(d.data)} bytes")
    print("\n".join(d.lines))


def main() -> None:
    if sys.argv[1:] == ["2"]:
        return main_2()
    d = Dump(write_example(Path(tempfile.mkdtemp()) / "ex.vgc"))
    d.section("file header (12 bytes)")
    d.field(8, 'magic "\\x89VGC\\r\\n\\x1a\\n"')
    d.field(1, "major = 1")
    d.field(1, "minor = 1")
    d.field(2, "header_length = 12")

    s = d.chunk_head("chunk 0: SEQUENCE_HEADER", "type = 0x0001 SEQUENCE_HEADER (critical)")
    for n, note in [
        (2, "codec_id = 1 (intra)"),
        (1, "entropy_coder_id = 1 (compressai_rans)"),
        (1, "pixel_format = 0 (rgb24)"),
        (4, "width = 16"),
        (4, "height = 16"),
        (4, "fps_num = 25"),
        (4, "fps_den = 1"),
        (4, "frame_count = 1 (patched by finish())"),
        (2, "gop_size = 1"),
        (2, "backbone_interval = 1"),
        (4, "target_bpp_micro = 0 (no target)"),
        (4, "rate_milli = 500 (rate 0.5)"),
        (32, 'weights_sha256 = SHA-256 of b"vgc example weights"'),
        (1, "model_id length = 10"),
        (10, 'model_id = "intra-tiny"'),
        (1, "encoder_version length = 9"),
        (9, 'encoder_version = "vgc 0.1.0"'),
    ]:
        d.field(n, note)
    d.crc(s)

    s = d.chunk_head("chunk 1: BACKBONE_FRAME", "type = 0x0002 BACKBONE_FRAME (critical)")
    for n, note in [
        (4, "frame_index = 0"),
        (1, "frame_type = 0 (I)"),
        (2, "rate_code = 500"),
        (1, "n_streams = 2"),
        (1, "stream 0 length = 3 (varint)"),
        (3, "stream 0 bytes"),
        (1, "stream 1 length = 2 (varint)"),
        (2, "stream 1 bytes"),
    ]:
        d.field(n, note)
    d.crc(s)

    s = d.chunk_head("chunk 2: INDEX", "type = 0x8001 INDEX (ancillary)")
    d.field(1, "count = 1 (varint)")
    d.field(1, "entry 0: frame delta = 0 -> frame 0")
    d.field(1, "entry 0: offset delta = 111 -> offset 111 (0x006f)")
    d.crc(s)

    s = d.chunk_head("chunk 3: END, the last 18 bytes", "type = 0x0005 END (critical)")
    d.field(8, "index_offset = 136 (0x88): the INDEX chunk")
    d.crc(s)
    assert d.pos == len(d.data), (d.pos, len(d.data))
    d.section(f"end of file: {len(d.data)} bytes")
    print("\n".join(d.lines))


if __name__ == "__main__":
    main()
