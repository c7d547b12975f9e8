"""The quality metrics `vgc eval` reports, in one table: name, direction, availability.

    Reference(frames, fps)          holds the reference clip and its optical flow (lazily)
    available(keys) -> {key: reason or None}
    measure(reference, decoded, keys, device) -> ({key: value}, {key: reason skipped})

A metric that cannot run (package or backbone weights missing) or fails on a clip is reported
as skipped with its reason, never as a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import metrics as fidelity
from . import metrics_perceptual as perceptual
from .warp_error import ReferenceFlow, reference_flow, warping_error


@dataclass
class Reference:
    """A reference clip (NxHxWx3 uint8 RGB) and what metrics derive from it once."""

    frames: np.ndarray
    fps: float
    _flow: ReferenceFlow | None = field(default=None, repr=False)

    @property
    def flow(self) -> ReferenceFlow:
        if self._flow is None:
            self._flow = reference_flow(self.frames)
        return self._flow

    def ewarp(self) -> float:
        """E_warp of the reference itself (the floor an exact decode reaches)."""
        return warping_error(self.frames, self.flow)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  # for tables and plot axes
    higher_is_better: bool
    group: str  # fidelity, perceptual, temporal
    compute: Callable[[Reference, np.ndarray, str], float]
    check: Callable[[], str | None] = lambda: None


def _check_msssim() -> str | None:
    try:
        import pytorch_msssim  # noqa: F401
    except ImportError:
        return "pytorch-msssim not installed (pip install 'vidgen_codec[bench]')"
    return None


def _check_cv2() -> str | None:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return "OpenCV not installed (pip install opencv-python-headless)"
    return None


METRICS: dict[str, Metric] = {m.key: m for m in [
    Metric("psnr", "PSNR RGB (dB)", True, "fidelity",
           lambda r, d, dev: fidelity.psnr_capped(r.frames, d)),
    Metric("psnr_y", "PSNR Y (dB)", True, "fidelity",
           lambda r, d, dev: min(fidelity.psnr_y(r.frames, d), fidelity.PSNR_CAP)),
    Metric("ms_ssim", "MS-SSIM", True, "fidelity",
           lambda r, d, dev: fidelity.ms_ssim(r.frames, d), _check_msssim),
    Metric("cvvdp", "ColorVideoVDP (JOD)", True, "perceptual",
           lambda r, d, dev: perceptual.cvvdp(r.frames, d, fps=r.fps, device=dev),
           perceptual.check_cvvdp),
    Metric("vmaf", "VMAF v0.6.1", True, "perceptual",
           lambda r, d, dev: perceptual.vmaf(r.frames, d, device=dev), perceptual.check_vmaf),
    Metric("ewarp", "E_warp", False, "temporal",
           lambda r, d, dev: warping_error(d, r.flow), _check_cv2),
    Metric("lpips", "LPIPS (Alex)", False, "perceptual",
           lambda r, d, dev: perceptual.lpips(r.frames, d, device=dev), perceptual.check_lpips),
    Metric("dists", "DISTS", False, "perceptual",
           lambda r, d, dev: perceptual.dists(r.frames, d, device=dev), perceptual.check_dists),
]}
"""Every metric, in report order."""


def available(keys: list[str]) -> dict[str, str | None]:
    """For each metric key: None when it can run here, else the reason it is skipped."""
    return {k: METRICS[k].check() for k in keys}


def measure(reference: Reference, decoded, keys: list[str], device: str = "cpu",
            skip: dict[str, str] | None = None) -> tuple[dict, dict]:
    """Compute the metrics `keys` of `decoded` (NxHxWx3 uint8) against `reference`.

    `skip` maps keys already known to be unavailable to their reason. Returns (values,
    skipped): values[key] is a float or None; skipped[key] the reason for each None.
    """
    decoded = np.asarray(decoded)
    if decoded.shape != reference.frames.shape:
        raise ValueError(f"decoded clip {decoded.shape} differs from the reference "
                         f"{reference.frames.shape}")
    values, skipped = {}, {}
    for key in keys:
        reason = (skip or {}).get(key)
        if reason is None:
            try:
                value = float(METRICS[key].compute(reference, decoded, device))
                if not math.isfinite(value):
                    raise ValueError(f"not a finite number ({value})")
                values[key] = value
                continue
            except Exception as e:  # reported, never a silent zero
                reason = f"failed: {type(e).__name__}: {' '.join(str(e).split())[:200]}"
        values[key] = None
        skipped[key] = reason
    return values, skipped
