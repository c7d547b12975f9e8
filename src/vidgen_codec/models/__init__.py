"""Neural networks. Pure modules: tensors in, tensors out; no framing, no files."""
