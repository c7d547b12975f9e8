"""Entropy coding backends, passed explicitly to codecs (never chosen through global state).

A backend turns integer symbols plus per-symbol table indexes into bytes and back, given a
`CdfTable`. Entropy *models* (which table a symbol uses) live with the networks.
"""

from .backend import CdfTable, EntropyBackend, get_backend
from .compressai_rans import CompressaiRans

__all__ = ["CdfTable", "EntropyBackend", "CompressaiRans", "get_backend"]
