"""Classical codecs at a byte budget: moved into the package as `vidgen_codec.eval.baselines`
(`vgc eval` uses it). Re-exported here so `benchmarks/intra.py` and other scripts keep working."""

from vidgen_codec.eval.baselines import (  # noqa: F401
    BASELINES, CODECS, EVAL_TOLERANCE, AtBytes, BaselinePoint, RateControl, available_encoders,
    baseline_at_bytes, jpeg_at_bytes, pyav_encode_at_bytes, x264_intra_at_bytes,
)
