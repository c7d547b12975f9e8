"""Golden bytes: a fixed tiny input through the intra codec with fixed random weights.

If this fails after a deliberate change to the format, the codec or its weights
initialisation (or the version string, which the header records), regenerate the digest on purpose (print it) and say so in the commit.
"""

from __future__ import annotations

import hashlib

from vidgen_codec import api
from vidgen_codec.codecs.intra import IntraCodec

# Regenerated for issue 3: VGC_RANS is the default coder and h_s runs as an integer network.
# format 1.1: the same bytes as the 1.0 golden (05388a10...) but for the minor version byte;
# format 2.0 (the compact layout, spec section 17), 129 bytes, whose weights id is the folder's
# identity over its safetensors and config (weights.identity)
GOLDEN_SHA256 = "66270d251ffac5b6f808d388ad70d87cd9d2791764c7731979d3639f5cce5371"


def test_golden_intra_stream(make_clip, tmp_path):
    clip = make_clip("g.mkv", width=32, height=24, count=2)
    IntraCodec.random(seed=0).save(tmp_path / "w")
    api.encode(clip.path, str(tmp_path / "g.vgc"), codec="intra", q=2.0, weights=str(tmp_path / "w"),
               progress=False)
    assert hashlib.sha256((tmp_path / "g.vgc").read_bytes()).hexdigest() == GOLDEN_SHA256
