"""What STEM's encoder and decoder compute alike from decoded data: motion predictions,
motion-compensated backbone predictions and the warped-and-blended MV frames.

    P backbone t1 (previous backbone t0, the one before at tp):
        prediction of its field V1 (t1 -> t0) = V_prev * (t1 - t0) / (t0 - tp)   (constant speed)
        pred = warp(b0, V1);  b1 = pred + 2 * (residual image - 1/2)
    MV frame t0 < t < t1, a = (t - t0) / (t1 - t0):
        predictions: forward field (t -> t0) = a * V1, backward field (t -> t1) = -(1 - a) * V1
        frame = w * warp(b0, Vf) + (1 - w) * warp(b1, Vb), w per block from its mode:
                BLEND 1 - a, FORWARD 1, BACKWARD 0, upsampled bilinearly (no seams)

Scaled fields are rounded with integer arithmetic (half away from zero), so encoder and decoder
agree exactly on every prediction. The field arithmetic is numpy; the pictures' (warps, blends)
import torch on first use, so an av1 GOP without motion frames never loads it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ...motion.mv_coding import BACKWARD, BLEND, FORWARD, FieldFormat

if TYPE_CHECKING:
    import torch


def scale_field(v: np.ndarray, num: int, den: int) -> np.ndarray:
    """round(v * num / den), half away from zero, in exact integer arithmetic."""
    p = v.astype(np.int64) * num
    if den < 0:
        p, den = -p, -den
    return np.sign(p) * ((2 * np.abs(p) + den) // (2 * den))


def field_shape(fmt: FieldFormat, hp: int, wp: int) -> tuple[int, int, int]:
    return (2, hp // fmt.block, wp // fmt.block)


def pixels(v: np.ndarray, fmt: FieldFormat, hp: int, wp: int, device) -> torch.Tensor:
    """Integer block field -> dense (1, 2, hp, wp) flow in pixels."""
    from ...motion.warp import dense_from_blocks
    from ...torch_env import torch

    f = torch.from_numpy(v.astype(np.float32) * fmt.step).to(device)
    return dense_from_blocks(f, hp, wp)


def predict_p_field(prev: tuple | None, t0: int, t1: int, fmt: FieldFormat,
                    shape: tuple[int, int, int]) -> np.ndarray:
    """prev: (field, fmt, tp, t0) of the previous P backbone, or None at a GOP's first P."""
    if prev is None:
        return np.zeros(shape, np.int64)
    v, pfmt, tp, tq = prev
    if pfmt != fmt or v.shape != shape or tq != t0:
        return np.zeros(shape, np.int64)
    return scale_field(v, t1 - t0, t0 - tp)


def predict_m_fields(v1: np.ndarray, t0: int, t: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
    return scale_field(v1, t - t0, t1 - t0), scale_field(v1, -(t1 - t), t1 - t0)


def warp(reference: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """`motion.warp.warp` (torch)."""
    from ...motion.warp import warp as warped

    return warped(reference, flow)


def p_prediction(b0: torch.Tensor, v1: np.ndarray, fmt: FieldFormat) -> torch.Tensor:
    hp, wp = b0.shape[-2:]
    return warp(b0, pixels(v1, fmt, hp, wp, b0.device))


RESIDUAL_SCALE = 2.0  # residual image = (x - pred) / RESIDUAL_SCALE + 0.5


def residual_image(x: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    return (x - pred) / RESIDUAL_SCALE + 0.5


def add_residual(pred: torch.Tensor, r_hat: torch.Tensor) -> torch.Tensor:
    return (pred + RESIDUAL_SCALE * (r_hat - 0.5)).clamp(0, 1)


def mode_weights(modes: np.ndarray, alpha: float) -> np.ndarray:
    """Weight of the forward (t0) warp per block for each mode."""
    w = np.full(modes.shape, 1.0 - alpha, np.float32)
    w[modes == FORWARD] = 1.0
    w[modes == BACKWARD] = 0.0
    return w


def blend(w0: torch.Tensor, w1: torch.Tensor, modes: np.ndarray, alpha: float) -> torch.Tensor:
    """The MV frame from the two warps (see module docstring)."""
    from ...torch_env import torch

    hp, wp = w0.shape[-2:]
    wb = torch.from_numpy(mode_weights(modes, alpha))[None, None].to(w0.device)
    w = torch.nn.functional.interpolate(wb, size=(hp, wp), mode="bilinear", align_corners=False)
    return (w * w0 + (1 - w) * w1).clamp(0, 1)


def lambda_at(lambdas: list[float], q: float) -> float:
    """The training lambda of rate parameter q (log-linear between levels, as the gains)."""
    k = len(lambdas)
    lo = min(max(math.floor(q), 0), k - 2)
    t = q - lo
    return math.exp((1 - t) * math.log(lambdas[lo]) + t * math.log(lambdas[lo + 1]))


__all__ = ["BLEND", "FORWARD", "BACKWARD"]
