"""Built-in codecs (listed in `registry.py`, imported when first used)."""
