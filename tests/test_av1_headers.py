"""Reading the AV1 quantiser (base_q_idx) from SVT-AV1's temporal units, and refusing what
does not parse."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import synthetic_frames
from vidgen_codec.pictures.av1 import Av1Settings, encode_sequence
from vidgen_codec.pictures.av1_headers import QindexReader, shown_qindex


@pytest.fixture(scope="module")
def frames():
    return list(synthetic_frames(96, 64, 9, seed=4))


@pytest.mark.parametrize("pred_struct", [1, 2])
def test_qindex_rises_with_crf_and_the_key_frame_is_finest(frames, pred_struct):
    means = []
    for crf in (20, 40, 60):
        q = shown_qindex(encode_sequence(frames, crf, Av1Settings(pred_struct=pred_struct)))
        assert len(q) == len(frames) and all(isinstance(v, int) and 0 <= v <= 255 for v in q)
        assert q[0] <= min(q[1:])  # SVT-AV1 codes its key frame at the finest quantiser
        means.append(np.mean(q))
    assert means[0] < means[1] < means[2]


@pytest.mark.parametrize("preset,size", [(0, (50, 74)), (13, (64, 96))])
def test_other_presets_and_sizes_parse(frames, preset, size):
    h, w = size
    fine, coarse = (shown_qindex(encode_sequence([f[:h, :w] for f in frames[:5]], crf,
                                                 Av1Settings(preset=preset)))
                    for crf in (20, 60))
    assert len(fine) == len(coarse) == 5
    assert all(0 < q <= 255 for q in fine + coarse)
    assert np.mean(fine) + 40 < np.mean(coarse)  # CRF 20 against 60: far finer quantisers


def test_a_truncated_or_headless_stream_is_a_value_error(frames):
    units = encode_sequence(frames[:3], 40, Av1Settings())
    with pytest.raises(ValueError):
        shown_qindex([units[0][:20]])
    with pytest.raises(ValueError):  # frame headers without the key frame's sequence header
        QindexReader().unit(units[1])


# --- hand-written headers: branches SVT-AV1's streams do not reach ---------------------------

def _obu(obu_type: int, bits: str) -> bytes:
    """One OBU (with its size field) whose payload is `bits`, zero-padded to whole bytes."""
    bits += "0" * (-len(bits) % 8)
    payload = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    assert len(payload) < 128
    return bytes([obu_type << 3 | 0x02, len(payload)]) + payload


def _u(value: int, n: int) -> str:
    return format(value, f"0{n}b")


def _still_picture(qindex: int) -> bytes:
    """A reduced_still_picture_header sequence (64x64) and one key frame header that uses
    screen content tools (allow_intrabc is read)."""
    seq = ("000" "1" "1" + _u(0, 5)  # profile, still_picture, reduced, seq_level_idx
           + _u(5, 4) + _u(5, 4) + _u(63, 6) + _u(63, 6)  # 6-bit sizes: 64x64
           + "000"  # 64x64 superblocks, filter intra, intra edge filter
           + "0")  # enable_superres
    frame = ("0"  # disable_cdf_update
             + "1" "0"  # allow_screen_content_tools, force_integer_mv
             + "0"  # render_and_frame_size_different
             + "0"  # allow_intrabc
             + "1"  # uniform_tile_spacing_flag (one superblock: no increments)
             + _u(qindex, 8))
    return _obu(2, "") + _obu(1, seq) + _obu(3, frame)


def _sequence(order_hint_bits: int = 0) -> str:
    """A full sequence header (no timing info, one operating point), 128x96, 6-bit sizes."""
    bits = ("000" "0" "0"  # profile, still_picture, reduced_still_picture_header
            "0" "0"  # timing_info_present_flag, initial_display_delay_present_flag
            + _u(0, 5) + _u(0, 12) + _u(0, 5)  # one operating point, idc 0, level 0
            + _u(6, 4) + _u(6, 4) + _u(127, 7) + _u(95, 7)
            + "0"  # frame_id_numbers_present_flag
            + "000"  # 64x64 superblocks, filter intra, intra edge filter
            + "0000"  # interintra, masked compound, warped motion, dual filter
            + ("1" "0" "0" if order_hint_bits else "0")  # order hint (jnt_comp, ref_frame_mvs)
            + "0" "0"  # seq_choose_screen_content_tools 0, seq_force_screen_content_tools 0
            + (_u(order_hint_bits - 1, 3) if order_hint_bits else "")
            + "1")  # enable_superres
    return bits


def test_a_reduced_still_picture_header_with_screen_content_tools():
    assert shown_qindex([_still_picture(170)]) == [170]


def test_superres_a_size_override_and_frame_size_with_refs():
    key = ("0" "00" "1"  # show_existing_frame 0, KEY_FRAME, show_frame
           + "0"  # disable_cdf_update (no screen content tools: nothing more read)
           + "1"  # frame_size_override_flag
           + "000"  # order_hint (3 bits)
           + _u(99, 7) + _u(63, 7)  # frame_width_minus_1 = 99, frame_height_minus_1 = 63
           + "1" + _u(7, 3)  # use_superres, coded_denom 7: denominator 16, coded width 50
           + "0"  # render_size: the same
           + "0"  # disable_frame_end_update_cdf
           + "1"  # uniform tiles; coded 50x64: one superblock, so no increment bits
           + _u(60, 8))
    inter = ("0" "01" "1"  # show_existing_frame 0, INTER_FRAME, show_frame
             + "0" "0"  # error_resilient_mode, disable_cdf_update
             + "1" + "001"  # frame_size_override_flag, order_hint
             + "000"  # primary_ref_frame
             + _u(1, 8)  # refresh_frame_flags: slot 0
             + "0"  # frame_refs_short_signaling
             + "".join(_u(i, 3) for i in range(7))  # ref_frame_idx
             + "1"  # found_ref: the key frame's size (100x64, upscaled)
             + "0"  # use_superres: coded at 100x64
             + "1"  # allow_high_precision_mv
             + "1"  # is_filter_switchable
             + "0"  # is_motion_mode_switchable (use_ref_frame_mvs: not read, the sequence
             # disables it)
             + "0"  # disable_frame_end_update_cdf
             + "1" "0"  # uniform tiles; 100x64: 2 superblock columns, one increment bit
             + _u(90, 8))
    seq = _obu(1, _sequence(order_hint_bits=3))
    units = [_obu(2, "") + seq + _obu(3, key), _obu(2, "") + _obu(3, inter),
             _obu(2, "") + _obu(3, "1" + "000")]  # show_existing_frame of slot 0
    assert shown_qindex(units) == [60, 90, 90]


def test_a_frame_that_uses_an_empty_slot_is_a_value_error():
    seq = _obu(1, _sequence())
    with pytest.raises(ValueError, match="slot 5"):
        shown_qindex([_obu(2, "") + seq + _obu(3, "1" + "101")])  # show_existing_frame 5
