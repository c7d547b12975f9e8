"""Picture coders: one image (or one closed sequence of images) <-> byte streams at a rate
parameter. No GOPs beyond one coded sequence, no container.

    yuv420.py  integer RGB <-> Y'CbCr 4:2:0 (BT.601, limited range), exact on every machine
    av1.py     SVT-AV1 encode / dav1d decode through PyAV: one AV1 temporal unit per picture
    fit.py     code to a byte budget: search a rate knob whose size is monotonic in it
    av1_headers.py  the AV1 quantiser (base_q_idx) of each shown frame, from the OBU headers

The learned hyperprior coder lives in `codecs/intra.py` (its `analyze`, `code_latent` and
`decode_streams` are the same contract); STEM's backbone coders (`codecs/stem/backbone.py`)
sit on both.
"""
