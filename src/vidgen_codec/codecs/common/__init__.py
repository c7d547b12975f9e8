"""The layer under the codecs, as CompressAI keeps `entropy_models/` and `layers/` apart from
`models/`: what stem and s2vc both use, so that neither imports the other.

    rate.py          GOP rate control: per-GOP budgets, backbone budgets, carry
    chunks.py        chunk sizes, the learned coder's q search for a chunk budget, learned I-frames
    av1_backbone.py  AV1 backbone pictures: scales, downscale, upsampling, a GOP's decoder
"""
