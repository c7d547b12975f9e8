"""`stem`: Diff-SIT's Sparse Temporal Encoding Module (Zhou, Chen, Zhang 2026, arXiv 2603.18501).

    codec.py     StemCodec: the registry entry, weights, encoder and decoder states
    plan.py      GOP size and backbone interval per target rate (the learned backbone's table)
    ../common   rate control, chunk fitting, AV1 backbone pictures (shared with s2vc)
    encoder.py   learned backbones: I/P frames through the intra and residual models, motion
    av1.py       AV1 backbones: one SVT-AV1 sequence per GOP, structure search, refine gate
    candidate.py a candidate coding of a GOP and the search's measure (`score`)
    synth_gop.py the search's synthesised GOPs (frames between backbones rebuilt)
    chosen_gop.py  what is tried on the chosen synthesised GOP: extra backbones
                 (extra_backbones.py), a slower preset, block mode maps, pretrained upsamplers
    rate_fit.py  a candidate structure's CRF fit to the GOP's budget
    block_maps.py, upsamplers.py   a synthesised GOP's block mode maps and pretrained upsamplers
    speed.py     --speed: what the av1 encoder spends its time on
    backbone.py  AV1 backbone decoding (dav1d) and the GOP chunk's frames
    motion.py    motion fields: prediction rules and warping shared by encoder and decoder
    decoder.py   the decoder for both backbones
The GOP chunk's byte layout is `vidgen_codec.stem_gop` (no torch, so `vgc info` reads it).
"""

from .codec import StemCodec

__all__ = ["StemCodec"]
