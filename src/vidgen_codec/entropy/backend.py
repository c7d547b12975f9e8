"""The entropy backend interface and the quantized CDF table it codes with (`select.py`
picks a backend for a coder id)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..bitstream.ids import EntropyCoderId

if TYPE_CHECKING:
    from .cdf_arrays import CdfArrays


@dataclass(frozen=True)
class CdfTable:
    """Quantized CDFs (16-bit precision, CompressAI layout).

    cdfs[i] is table i: cdf_lengths[i] increasing integers from 0 to 65536, the last entry
    reserved for the escape symbol. A symbol s coded with table i is stored as s - offsets[i];
    values outside the table are escape-coded, never clipped. `arrays` is the numpy form the
    backends code with (cached); `entropy.tables` builds Gaussian and Laplace tables.
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

    @cached_property
    def arrays(self) -> "CdfArrays":
        """The tables as validated numpy arrays, built on first use and kept (the lists must not
        be mutated afterwards). Raises ValueError for tables that cannot be coded."""
        from .cdf_arrays import CdfArrays

        return CdfArrays(self.cdfs, self.cdf_lengths, self.offsets)


class EntropyBackend(Protocol):
    coder_id: EntropyCoderId
    name: str

    def encode(self, symbols: np.ndarray, indexes: np.ndarray, table: CdfTable) -> bytes: ...

    def decode(self, data: bytes, indexes: np.ndarray, table: CdfTable) -> np.ndarray: ...


def encode_tensor(backend, symbols, indexes, table: CdfTable) -> bytes:
    """Code symbols and table indexes given as torch tensors on any device: a backend with
    `encode_tensor` (Triton) codes them where they are, the others through the host."""
    if hasattr(backend, "encode_tensor"):
        return backend.encode_tensor(symbols, indexes, table)
    return backend.encode(symbols.cpu().numpy(), indexes.cpu().numpy(), table)


def decode_tensor(backend, data: bytes, indexes, table: CdfTable):
    """int32 symbols as a tensor on the device of `indexes` (see encode_tensor)."""
    if hasattr(backend, "decode_tensor"):
        return backend.decode_tensor(data, indexes, table)
    from ..torch_env import torch

    out = backend.decode(data, indexes.cpu().numpy(), table)
    return torch.from_numpy(np.ascontiguousarray(out, np.int32)).to(indexes.device)
