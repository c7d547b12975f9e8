"""Motion estimation for the encoder: dense optical flow, reduced to one vector per block.

    target, reference (HxWx3 uint8) --DIS optical flow--> dense flow (H,W,2), pixels
        --mean over each block x block tile--> block field (2, H/block, W/block)

The flow is backward: target(p) ~ reference(p + flow(p)), which is what `warp.warp` needs.
DIS is the dense inverse search of Kroeger et al., "Fast Optical Flow using Dense Inverse
Search" (ECCV 2016), as implemented by OpenCV; it needs no weights. Only the encoder runs it,
so the decoder never depends on OpenCV's numerics.
"""

from __future__ import annotations

import numpy as np


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def dense_flow(target: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 flow (dx, dy) in pixels with target(p) ~ reference(p + flow(p))."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_gray(target), _gray(reference), None)


def block_field(flow: np.ndarray, block: int) -> np.ndarray:
    """Mean flow of each block x block tile: (2, ceil(H/block), ceil(W/block)) float32.

    Edge tiles that the frame only partly covers average the pixels they hold.
    """
    h, w, _ = flow.shape
    hb, wb = -(-h // block), -(-w // block)
    padded = np.zeros((hb * block, wb * block, 2), np.float64)
    weight = np.zeros((hb * block, wb * block, 1), np.float64)
    padded[:h, :w] = flow
    weight[:h, :w] = 1
    s = padded.reshape(hb, block, wb, block, 2).sum(axis=(1, 3))
    n = weight.reshape(hb, block, wb, block, 1).sum(axis=(1, 3))
    return (s / n).transpose(2, 0, 1).astype(np.float32)
