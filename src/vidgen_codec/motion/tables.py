"""Probability tables of the motion codec: discretized Laplace laws, 3-way mode laws and
binary significance laws.

Built with `entropy.tables` (the same-bits-everywhere builders of the entropy engine) when
weights are exported, then stored in the STEM weights as integer CDFs (like the intra model's
Gaussian tables): the stored integers are what the codec uses.

    Laplace(b): `entropy.tables.laplace_table`, values -ceil(12 b) .. ceil(12 b) + escape
    mode(p): BLEND p, FORWARD and BACKWARD (1 - p) / 2 each, + escape
    sig(p1): 0 with 1 - p1, 1 with p1, + escape
"""

from __future__ import annotations

import numpy as np

from ..entropy import CdfTable
from ..entropy.tables import laplace_table, quantize_masses

# Scales of the Laplace tables: 0.12 * 1.45^i, i = 0..15 (0.12 .. 31 in quantized MV units).
LAPLACE_SCALES = tuple(0.12 * 1.45**i for i in range(16))
# Probability of "blend" in the mode tables; "forward only" and "backward only" share the rest.
MODE_P_BLEND = (0.5, 0.7, 0.85, 0.93, 0.97, 0.99)
# Probability of "non-zero" in the significance tables of sparse fields.
SIG_P1 = (0.003, 0.007, 0.015, 0.03, 0.05, 0.08, 0.12, 0.18, 0.26, 0.36, 0.5, 0.65)
ESCAPE_MASS = 1e-6  # the small laws never escape; their escape symbol gets the least mass


def small_table(laws: list[list[float]]) -> CdfTable:
    """One table per law over the values 0 .. len(law) - 1, plus an escape symbol."""
    cdfs = []
    for law in laws:
        freq = quantize_masses(np.array(list(law) + [ESCAPE_MASS]))
        cdfs.append([0] + np.cumsum(freq).tolist())
    return CdfTable(cdfs, [len(c) for c in cdfs], [0] * len(cdfs))


def motion_tables() -> dict[str, CdfTable]:
    return {
        "mv": laplace_table(LAPLACE_SCALES),
        "mode": small_table([[p, (1 - p) / 2, (1 - p) / 2] for p in MODE_P_BLEND]),
        "sig": small_table([[1 - p, p] for p in SIG_P1]),
    }


def build_tables() -> dict[str, np.ndarray]:
    """All motion tables as padded int32 arrays: {name}_cdf (T, L), _length (T,), _offset (T,)."""
    out = {}
    for name, table in motion_tables().items():
        cdf = np.zeros((len(table.cdfs), max(table.cdf_lengths)), np.int32)
        for i, c in enumerate(table.cdfs):
            cdf[i, :len(c)] = c
        out[f"{name}_cdf"] = cdf
        out[f"{name}_length"] = np.array(table.cdf_lengths, np.int32)
        out[f"{name}_offset"] = np.array(table.offsets, np.int32)
    return out
