"""STEM's coding structure, chosen by the encoder from the rate target (or given by the user).

    GOP (closed): I  M M .. M  P  M M .. M  P  ...  P        then the next GOP's I
                  0           B             2B      S*B      (S segments of B frames)

Each backbone is coded in full (I: intra model; P: motion + learned residual); the B - 1
frames between two backbones send only motion. Lower rates use sparser backbones, bigger
motion blocks and coarser vectors. The clip's last frame is always a backbone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class StemPlan:
    backbone_interval: int  # B: frames from one backbone to the next
    segments: int  # S: backbone intervals per GOP, so a GOP is S * B + 1 frames
    block: int  # motion block size (pixels)
    step: float  # motion vector precision (pixels)
    i_weight: float  # byte budget of an I-frame relative to a P-frame
    mv_share: float = 0.3  # share of the per-frame budget an MV frame should stay within

    @property
    def gop_size(self) -> int:
        return self.segments * self.backbone_interval + 1


# The encoder holds one segment of frames: this bounds its memory (64 frames of 1080p in
# float32 are 1.6 GB).
MAX_BACKBONE_INTERVAL = 64

# (upper bpp bound, plan) - the first row whose bound exceeds the target applies.
_PLANS = (
    (0.015, StemPlan(16, 4, 32, 0.5, 4.0)),
    (0.03, StemPlan(12, 4, 32, 0.5, 4.0)),
    (0.06, StemPlan(8, 4, 16, 0.5, 4.0)),
    (0.12, StemPlan(6, 5, 16, 0.25, 4.0)),
    (float("inf"), StemPlan(4, 8, 16, 0.25, 3.0)),
)


def choose_plan(bpp: float | None, *, gop: int | None = None,
                backbone_interval: int | None = None) -> StemPlan:
    """The plan for a bpp target (a mid-rate plan for a fixed rate parameter), with the
    user's overrides: `backbone_interval` sets B, `gop` the GOP length (rounded down to
    S * B + 1 frames; below B + 1 every frame is an I-frame; a `gop` given alone lowers B to
    gop - 1 if needed). When the clip's length is known, the encoder folds a last GOP stub of
    less than half a GOP into the GOP before it."""
    plan = next(p for bound, p in _PLANS if (bpp if bpp is not None else 0.05) < bound)
    if backbone_interval is not None:
        if not 1 <= backbone_interval <= MAX_BACKBONE_INTERVAL:
            raise ValueError(f"backbone interval must be 1..{MAX_BACKBONE_INTERVAL}")
        plan = replace(plan, backbone_interval=backbone_interval)
    if gop is not None:
        if not 1 <= gop <= 65535:
            raise ValueError("GOP size must be 1..65535")
        if backbone_interval is None and gop > 1:  # a GOP shorter than the chosen interval
            plan = replace(plan, backbone_interval=min(plan.backbone_interval, gop - 1))
        plan = replace(plan, segments=(gop - 1) // plan.backbone_interval)
    return plan
