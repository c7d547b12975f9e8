"""The quantiser of AV1 frames, read from their OBU headers (no decoding).

    temporal units --OBUs--> sequence header, frame headers --> base_q_idx of each shown frame

dav1d through PyAV does not export the quantiser it decodes with, so this reads it from the
bitstream: the sequence header (AV1 specification, section 5.5) and each frame header's
uncompressed part (5.9) up to quantization_params' base_q_idx (5.9.12), the frame's luma AC
quantiser index, 0..255 (higher: coarser). Everything between (frame size, reference
signalling, tile info) is parsed as the specification writes it, with these limits: it refuses
frame_refs_short_signaling (it needs the reference order hints; SVT-AV1 does not use it) and
uvlc codes of 32 or more leading zeros, and it does not drop operating-point layers (spec
7.5): with a scalable stream, the last frame a unit shows wins. Tested on SVT-AV1's streams and
on hand-written headers (tests/test_av1_headers.py). Within one coded sequence the parser keeps
the eight reference slots' sizes and quantisers, which a frame_size_with_refs or a
show_existing_frame needs; using a slot that no frame has filled is an error.

`shown_qindex(units)` gives, per temporal unit, the base_q_idx of the frame it shows (a frame
with show_frame = 1, or the slot that a show_existing_frame shows). A stream this cannot parse
raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OBU_SEQUENCE_HEADER, OBU_TEMPORAL_DELIMITER, OBU_FRAME_HEADER, OBU_FRAME = 1, 2, 3, 6
KEY_FRAME, INTER_FRAME, INTRA_ONLY_FRAME, SWITCH_FRAME = 0, 1, 2, 3
SELECT = 2  # seq_force_screen_content_tools / seq_force_integer_mv: chosen per frame
ALL_FRAMES = 255


class _Bits:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def f(self, n: int) -> int:
        v = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("AV1 header runs past its OBU")
            v = (v << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def uvlc(self) -> int:
        zeros = 0
        while not self.f(1):
            zeros += 1
            if zeros >= 32:
                raise ValueError("AV1 uvlc too long")
        return self.f(zeros) + (1 << zeros) - 1

    def ns(self, n: int) -> int:
        w = n.bit_length()
        m = (1 << w) - n
        v = self.f(w - 1)
        return v if v < m else (v << 1) - m + self.f(1)


@dataclass
class _Seq:
    reduced: bool = False
    frame_width_bits: int = 0
    frame_height_bits: int = 0
    max_width: int = 0
    max_height: int = 0
    frame_id_numbers: bool = False
    delta_frame_id_bits: int = 0
    id_len: int = 0
    sb128: bool = False
    order_hint_bits: int = 0
    enable_order_hint: bool = False
    enable_ref_frame_mvs: bool = False
    force_screen_content_tools: int = SELECT
    force_integer_mv: int = SELECT
    enable_superres: bool = False
    decoder_model_info: bool = False
    equal_picture_interval: bool = False
    buffer_removal_time_bits: int = 0
    frame_presentation_time_bits: int = 0
    op_idc: list = field(default_factory=list)
    op_decoder_model: list = field(default_factory=list)


def _sequence_header(b: _Bits) -> _Seq:
    s = _Seq()
    b.f(3)  # seq_profile
    b.f(1)  # still_picture
    s.reduced = bool(b.f(1))
    if s.reduced:
        b.f(5)  # seq_level_idx[0]
        s.op_idc, s.op_decoder_model = [0], [False]
    else:
        delay_bits = 0
        if b.f(1):  # timing_info_present_flag
            b.f(32)
            b.f(32)
            s.equal_picture_interval = bool(b.f(1))
            if s.equal_picture_interval:
                b.uvlc()
            s.decoder_model_info = bool(b.f(1))
        if s.decoder_model_info:
            delay_bits = b.f(5) + 1
            b.f(32)
            s.buffer_removal_time_bits = b.f(5) + 1
            s.frame_presentation_time_bits = b.f(5) + 1
        initial_display_delay = b.f(1)
        for _ in range(b.f(5) + 1):
            s.op_idc.append(b.f(12))
            if b.f(5) > 7:  # seq_level_idx
                b.f(1)  # seq_tier
            present = False
            if s.decoder_model_info:
                present = bool(b.f(1))
                if present:
                    b.f(delay_bits)
                    b.f(delay_bits)
                    b.f(1)
            s.op_decoder_model.append(present)
            if initial_display_delay and b.f(1):
                b.f(4)
    s.frame_width_bits = b.f(4) + 1
    s.frame_height_bits = b.f(4) + 1
    s.max_width = b.f(s.frame_width_bits) + 1
    s.max_height = b.f(s.frame_height_bits) + 1
    if not s.reduced:
        s.frame_id_numbers = bool(b.f(1))
    if s.frame_id_numbers:
        s.delta_frame_id_bits = b.f(4) + 2
        s.id_len = b.f(3) + 1 + s.delta_frame_id_bits
    s.sb128 = bool(b.f(1))
    b.f(1)  # enable_filter_intra
    b.f(1)  # enable_intra_edge_filter
    if not s.reduced:
        b.f(4)  # interintra, masked compound, warped motion, dual filter
        s.enable_order_hint = bool(b.f(1))
        if s.enable_order_hint:
            b.f(1)  # enable_jnt_comp
            s.enable_ref_frame_mvs = bool(b.f(1))
        s.force_screen_content_tools = SELECT if b.f(1) else b.f(1)
        if s.force_screen_content_tools > 0:
            s.force_integer_mv = SELECT if b.f(1) else b.f(1)
        if s.enable_order_hint:
            s.order_hint_bits = b.f(3) + 1
    s.enable_superres = bool(b.f(1))
    return s


@dataclass
class _Slot:
    width: int = 0  # UpscaledWidth
    height: int = 0
    qindex: int = 0
    key: bool = False


class QindexReader:
    """Reads one coded sequence's temporal units in order (a new reader per sequence)."""

    def __init__(self):
        self.seq: _Seq | None = None
        self.slots: list[_Slot | None] = [None] * 8  # filled as frames refresh them

    def unit(self, unit: bytes) -> int | None:
        """base_q_idx of the frame this temporal unit shows (None: it shows none)."""
        shown = None
        for _, obu_type, ext, a, z in obus(unit):
            payload = unit[a:z]
            if obu_type == OBU_SEQUENCE_HEADER:
                self.seq = _sequence_header(_Bits(payload))
            elif obu_type in (OBU_FRAME_HEADER, OBU_FRAME):
                if self.seq is None:
                    raise ValueError("AV1 frame header before any sequence header")
                q = self._frame_header(_Bits(payload), ext)
                if q is not None:
                    shown = q
        return shown

    def _frame_header(self, b: _Bits, ext: tuple[int, int]) -> int | None:
        s = self.seq
        if s.reduced:
            frame_type, show_frame = KEY_FRAME, True
        else:
            if b.f(1):  # show_existing_frame
                shown = self._slot(b.f(3))
                if s.decoder_model_info and not s.equal_picture_interval:
                    b.f(s.frame_presentation_time_bits)
                if s.frame_id_numbers:
                    b.f(s.id_len)  # display_frame_id
                if shown.key:  # showing a key frame refreshes every slot with it (7.21)
                    self.slots = [shown] * 8
                return shown.qindex
            frame_type = b.f(2)
            show_frame = bool(b.f(1))
            if show_frame and s.decoder_model_info and not s.equal_picture_interval:
                b.f(s.frame_presentation_time_bits)
            if not show_frame:
                b.f(1)  # showable_frame
        intra = frame_type in (KEY_FRAME, INTRA_ONLY_FRAME)
        if frame_type == SWITCH_FRAME or (frame_type == KEY_FRAME and show_frame):
            error_resilient = True
        else:
            error_resilient = bool(b.f(1))
        disable_cdf_update = b.f(1)
        screen = b.f(1) if s.force_screen_content_tools == SELECT \
            else s.force_screen_content_tools
        force_integer_mv = 0
        if screen:
            force_integer_mv = b.f(1) if s.force_integer_mv == SELECT else s.force_integer_mv
        if intra:
            force_integer_mv = 1
        if s.frame_id_numbers:
            b.f(s.id_len)  # current_frame_id
        if frame_type == SWITCH_FRAME:
            size_override = 1
        elif s.reduced:
            size_override = 0
        else:
            size_override = b.f(1)
        b.f(s.order_hint_bits)  # order_hint
        if not (intra or error_resilient):
            b.f(3)  # primary_ref_frame
        if s.decoder_model_info and b.f(1):  # buffer_removal_time_present_flag
            tid, sid = ext
            for idc, present in zip(s.op_idc, s.op_decoder_model):
                if present and (idc == 0 or ((idc >> tid) & 1 and (idc >> (sid + 8)) & 1)):
                    b.f(s.buffer_removal_time_bits)
        if frame_type == SWITCH_FRAME or (frame_type == KEY_FRAME and show_frame):
            refresh = ALL_FRAMES
        else:
            refresh = b.f(8)
        if (not intra or refresh != ALL_FRAMES) and error_resilient and s.enable_order_hint:
            for _ in range(8):
                b.f(s.order_hint_bits)  # ref_order_hint
        if intra:
            width, coded, height = self._frame_size(b, size_override)
            self._render_size(b)
            if screen and coded == width:  # UpscaledWidth == FrameWidth
                b.f(1)  # allow_intrabc
        else:
            if s.enable_order_hint and b.f(1):  # frame_refs_short_signaling
                raise ValueError("AV1 frame_refs_short_signaling is not supported")
            refs = []
            for _ in range(7):
                refs.append(b.f(3))  # ref_frame_idx
                if s.frame_id_numbers:
                    b.f(s.delta_frame_id_bits)  # delta_frame_id_minus_1
            if size_override and not error_resilient:
                width, coded, height = self._frame_size_with_refs(b, refs)
            else:
                width, coded, height = self._frame_size(b, size_override)
                self._render_size(b)
            if not force_integer_mv:
                b.f(1)  # allow_high_precision_mv
            if not b.f(1):  # is_filter_switchable
                b.f(2)
            b.f(1)  # is_motion_mode_switchable
            if not error_resilient and s.enable_ref_frame_mvs:
                b.f(1)  # use_ref_frame_mvs
        if not (s.reduced or disable_cdf_update):
            b.f(1)  # disable_frame_end_update_cdf
        self._tile_info(b, coded, height)
        qindex = b.f(8)
        for i in range(8):
            if refresh >> i & 1:
                self.slots[i] = _Slot(width, height, qindex, frame_type == KEY_FRAME)
        return qindex if show_frame else None

    def _slot(self, i: int) -> _Slot:
        if self.slots[i] is None:
            raise ValueError(f"AV1 frame uses reference slot {i}, which no frame has filled")
        return self.slots[i]

    # frame size (5.9.5-5.9.8) -------------------------------------------------------------
    def _frame_size(self, b: _Bits, override: int) -> tuple[int, int, int]:
        """(UpscaledWidth, FrameWidth after superres, FrameHeight)."""
        s = self.seq
        if override:
            width = b.f(s.frame_width_bits) + 1
            height = b.f(s.frame_height_bits) + 1
        else:
            width, height = s.max_width, s.max_height
        return width, self._superres(b, width), height

    def _superres(self, b: _Bits, upscaled: int) -> int:
        """The coded FrameWidth of a frame `upscaled` wide (superres_params)."""
        denom = 8
        if self.seq.enable_superres and b.f(1):
            denom = b.f(3) + 9
        return (upscaled * 8 + denom // 2) // denom

    @staticmethod
    def _render_size(b: _Bits) -> None:
        if b.f(1):
            b.f(16)
            b.f(16)

    def _frame_size_with_refs(self, b: _Bits, refs: list[int]) -> tuple[int, int, int]:
        for i in range(7):
            if b.f(1):  # found_ref
                slot = self._slot(refs[i])
                return slot.width, self._superres(b, slot.width), slot.height
        size = self._frame_size(b, 1)
        self._render_size(b)
        return size

    # tile info (5.9.15) -------------------------------------------------------------------
    def _tile_info(self, b: _Bits, width: int, height: int) -> None:
        mi_cols = 2 * ((width + 7) >> 3)
        mi_rows = 2 * ((height + 7) >> 3)
        shift = 5 if self.seq.sb128 else 4
        sb_cols = (mi_cols + (1 << shift) - 1) >> shift
        sb_rows = (mi_rows + (1 << shift) - 1) >> shift
        sb_size = shift + 2
        max_width_sb = 4096 >> sb_size
        max_area_sb = (4096 * 2304) >> (2 * sb_size)
        min_log2_cols = _tile_log2(max_width_sb, sb_cols)
        max_log2_cols = _tile_log2(1, min(sb_cols, 64))
        max_log2_rows = _tile_log2(1, min(sb_rows, 64))
        min_log2_tiles = max(min_log2_cols, _tile_log2(max_area_sb, sb_rows * sb_cols))
        if b.f(1):  # uniform_tile_spacing_flag
            cols_log2 = min_log2_cols
            while cols_log2 < max_log2_cols and b.f(1):
                cols_log2 += 1
            rows_log2 = max(min_log2_tiles - cols_log2, 0)
            while rows_log2 < max_log2_rows and b.f(1):
                rows_log2 += 1
        else:
            widest, start, cols = 0, 0, 0
            while start < sb_cols:
                size = b.ns(min(sb_cols - start, max_width_sb)) + 1
                widest, start, cols = max(widest, size), start + size, cols + 1
            area = (sb_rows * sb_cols) >> (min_log2_tiles + 1) if min_log2_tiles \
                else sb_rows * sb_cols
            max_height_sb = max(area // widest, 1)
            start, rows = 0, 0
            while start < sb_rows:
                start += b.ns(min(sb_rows - start, max_height_sb)) + 1
                rows += 1
            cols_log2, rows_log2 = _tile_log2(1, cols), _tile_log2(1, rows)
        if cols_log2 or rows_log2:
            b.f(cols_log2 + rows_log2)  # context_update_tile_id
            b.f(2)  # tile_size_bytes_minus_1


def _tile_log2(blk: int, target: int) -> int:
    k = 0
    while (blk << k) < target:
        k += 1
    return k


def obus(data: bytes):
    """(offset, obu_type, (temporal_id, spatial_id), payload start, payload end) of each OBU
    of low-overhead AV1
    data (AV1 section 5.3: obu_header byte with forbidden bit 0, obu_has_size_field 1 and
    reserved bit 0; an extension byte when obu_extension_flag; leb128 obu_size of at most 8
    bytes; the payload). Malformed or truncated data raises ValueError."""
    at = 0
    while at < len(data):
        start, h = at, data[at]
        if h & 0x81 or not h & 0x02:  # forbidden bit, reserved bit, obu_has_size_field
            raise ValueError("malformed AV1 OBU header")
        at += 1
        ext = (0, 0)
        if h & 0x04:
            if at >= len(data):
                raise ValueError("truncated AV1 OBU")
            ext = (data[at] >> 5, (data[at] >> 3) & 3)
            at += 1
        size, shift = 0, 0
        for _ in range(8):
            if at >= len(data):
                raise ValueError("truncated AV1 OBU")
            byte = data[at]
            at += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            raise ValueError("AV1 OBU size longer than 8 bytes")
        if at + size > len(data):
            raise ValueError("truncated AV1 OBU")
        yield start, (h >> 3) & 0xF, ext, at, at + size
        at += size


def shown_qindex(units: list[bytes]) -> list[int | None]:
    """base_q_idx of the frame each temporal unit of one coded sequence shows."""
    r = QindexReader()
    return [r.unit(u) for u in units]
