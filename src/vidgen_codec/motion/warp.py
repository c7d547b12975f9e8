"""Warping frames along block motion fields (encoder and decoder run the same code).

    block field (2, hb, wb), pixels --bilinear, block centres--> dense flow (1,2,H,W)
    reference (1,3,H,W) --grid_sample(p + flow(p)), border replicate--> prediction

Bilinear upsampling of the vector field gives smooth (overlapped-block-like) motion without
block edges.
"""

from __future__ import annotations

from ..torch_env import torch
import torch.nn.functional as F


def dense_from_blocks(field: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(2, hb, wb) or (N, 2, hb, wb) block vectors -> (N, 2, height, width) dense flow.

    height = hb * block and width = wb * block. Vector (i, j) sits at the centre of its block;
    pixels between centres interpolate bilinearly and pixels beyond the outer centres take
    the nearest one (align_corners=False).
    """
    if field.dim() == 3:
        field = field[None]
    return F.interpolate(field, size=(height, width), mode="bilinear", align_corners=False)


def warp(reference: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: out(p) = reference(p + flow(p)), bilinear, edges replicated.

    reference (N,C,H,W), flow (N,2,H,W) in pixels (dx, dy).
    """
    n, _, h, w = reference.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(reference, grid.to(reference.dtype), mode="bilinear",
                         padding_mode="border", align_corners=True)
