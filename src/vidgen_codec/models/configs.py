"""The learned backbone's configs and constants, without torch: what a weights folder's
config.json holds (`IntraConfig`, `StemConfig`) and the rate parameter's range. The networks
(`intra_model`, `stem_model`) import torch; reading and checking a folder does not (an av1
file's encode or decode reads the STEM folder for its motion tables and never builds them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

INTRA_ARCHITECTURE = "IntraModel"  # the architecture names in config.json
STEM_ARCHITECTURE = "StemModel"


@dataclass
class IntraConfig:
    """Constructor arguments; saved as config.json beside the weights."""

    N: int = 64  # channels of the transforms and of the hyper-latent z
    M: int = 96  # channels of the latent y
    lambdas: list[float] = field(
        default_factory=lambda: [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008]
    )
    model_id: str = "intra-mshp-n64m96"

    @property
    def levels(self) -> int:
        return len(self.lambdas)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class StemConfig:
    residual: dict = field(default_factory=lambda: IntraConfig(
        model_id="stem-residual-n64m96").to_dict())
    intra_dir: str = "../intra"
    intra_sha256: str = ""
    model_id: str = "stem-v1"

    def to_dict(self) -> dict:
        return asdict(self)


# Input sides must be a multiple of this (4 strided convs in g_a, 2 more in h_a).
STRIDE = 64
# Rate parameter range: trained levels are 0..levels-1; outside it the log-gains are
# extrapolated linearly from the two nearest levels (rates below the lowest / above the highest
# trained lambda), by at most Q_MIN below level 0 and Q_EXTRA above the top level.
Q_MIN = -1.5
Q_EXTRA = 2.0


def q_max(levels: int) -> float:
    return levels - 1 + Q_EXTRA
