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
    q = shown_qindex(encode_sequence([f[:h, :w] for f in frames[:5]], 40,
                                     Av1Settings(preset=preset)))
    assert len(q) == 5 and all(q)


def test_a_truncated_or_headless_stream_is_a_value_error(frames):
    units = encode_sequence(frames[:3], 40, Av1Settings())
    with pytest.raises(ValueError):
        shown_qindex([units[0][:20]])
    with pytest.raises(ValueError):  # frame headers without the key frame's sequence header
        QindexReader().unit(units[1])
