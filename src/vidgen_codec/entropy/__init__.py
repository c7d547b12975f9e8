"""Entropy coding backends, passed explicitly to codecs (never chosen through global state).

A backend turns integer symbols plus per-symbol table indexes into bytes and back, given a
`CdfTable`. Entropy *models* (which table a symbol uses) live with the networks.

    VgcRansCpu      VGC_RANS (coder id 2), numpy: the default of every codec
    VgcRansTriton   VGC_RANS with fused Triton kernels (GPU; TRITON_INTERPRET=1 on the CPU)
    CompressaiRans  COMPRESSAI_RANS (coder id 1): reads files written before VGC_RANS
"""

from .backend import CdfTable, EntropyBackend
from .compressai_rans import CompressaiRans
from .rans_cpu import VgcRansCpu
from .select import get_backend

__all__ = ["CdfTable", "EntropyBackend", "CompressaiRans", "VgcRansCpu", "get_backend"]
