"""The entropy backend interface and the quantized CDF table it codes with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..bitstream.ids import EntropyCoderId
from ..errors import FormatError


@dataclass(frozen=True)
class CdfTable:
    """Quantized CDFs (16-bit precision, CompressAI layout).

    cdfs[i] is table i: cdf_lengths[i] increasing integers from 0 to 65536, the last entry
    reserved for the escape symbol. A symbol s coded with table i is stored as s - offsets[i];
    values outside the table are escape-coded (bypass), never clipped.
    """

    cdfs: list[list[int]]
    cdf_lengths: list[int]
    offsets: list[int]

    @classmethod
    def from_entropy_model(cls, em) -> "CdfTable":
        """From a compressai EntropyModel whose tables were built and stored with the weights."""
        if em._quantized_cdf.numel() == 0:
            raise ValueError("entropy model has no CDF tables (weights exported without them)")
        lengths = em._cdf_length.reshape(-1).int().tolist()
        cdfs = [row[:n] for row, n in zip(em._quantized_cdf.int().tolist(), lengths)]
        return cls(cdfs, lengths, em._offset.reshape(-1).int().tolist())


class EntropyBackend(Protocol):
    coder_id: EntropyCoderId
    name: str

    def encode(self, symbols: np.ndarray, indexes: np.ndarray, table: CdfTable) -> bytes: ...

    def decode(self, data: bytes, indexes: np.ndarray, table: CdfTable) -> np.ndarray: ...


def get_backend(coder_id: int) -> EntropyBackend:
    """The backend that reads streams written with entropy coder `coder_id`."""
    from .compressai_rans import CompressaiRans

    if coder_id == EntropyCoderId.COMPRESSAI_RANS:
        return CompressaiRans()
    raise FormatError(f"unsupported entropy coder id {coder_id}")
