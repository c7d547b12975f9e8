"""Print the annotated hex dump of bitstream_spec.md section 14 (the worked example).

Run on purpose only, after a deliberate format change, and paste the output between the
hexdump markers of the spec:  .venv/bin/python tests/golden/spec_hexdump.py
tests/test_container.py::test_spec_hex_dump_matches_writer checks the spec against the writer.
"""

from __future__ import annotations

import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_container import write_example  # noqa: E402


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

    def chunk_head(self, title: str, type_note: str) -> int:
        start = self.pos
        self.section(f"{title} (offset 0x{start:04x} = {start})")
        self.field(2, type_note)
        self.field(4, f"length = {self.u32()}")
        return start


def main() -> None:
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
