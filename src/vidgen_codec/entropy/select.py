"""Which entropy backend reads a coder id: the one place that imports the backends (each of
them imports only the interface, `backend.py`)."""

from __future__ import annotations

from ..bitstream.ids import EntropyCoderId
from ..errors import FormatError
from .backend import EntropyBackend


def get_backend(coder_id: int, device: str = "cpu") -> EntropyBackend:
    """The backend that reads streams written with entropy coder `coder_id`.

    VGC_RANS: the numpy backend, or with device="cuda" the Triton one (same bytes).
    COMPRESSAI_RANS: compressai's coder, kept to read files written before VGC_RANS.
    """
    if coder_id == EntropyCoderId.VGC_RANS:
        if str(device).startswith("cuda"):
            from .rans_triton import VgcRansTriton

            return VgcRansTriton(device=device)
        from .rans_cpu import VgcRansCpu

        return VgcRansCpu()
    if coder_id == EntropyCoderId.COMPRESSAI_RANS:
        from .compressai_rans import CompressaiRans

        return CompressaiRans()
    raise FormatError(f"unsupported entropy coder id {coder_id}")
