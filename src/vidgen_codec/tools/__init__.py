"""Small helper programs (python -m vidgen_codec.tools.NAME)."""
