"""Motion: estimation (encoder only), block motion fields, warping (encoder and decoder)."""
