"""Encoder-side DC trim: code the frame, measure the mean error the decoder will show, code it
once more against that error.

The learned coders' reconstructions carry a small per-channel mean (DC) bias that the rate
parameter does not remove; it is worst at low rates. Measured on cup.mp4 (640x448): the P
residual coder adds +1 to +4 levels (of 255) to a frame, so a chain of P backbones drifts
brighter by about one level per backbone, and the bias costs bits as well: shifting the input
against it saved 26% of a P residual at q = 1 while lowering the MSE from 61.5 to 53.1. This is
the encoder-only half of an offset correction (compare HEVC's sample adaptive offset, which
signals offsets instead): decoders are unchanged, the trim is only a choice of what to code.

`trimmed` runs once per backbone, at the rate that rate control chose for the first coding, and
keeps the second coding when it is closer to the source and at most `SLACK` times the bytes of
the first (the GOP budget absorbs the difference).
"""

from __future__ import annotations

from typing import Callable, TypeVar

from ..torch_env import torch

P = TypeVar("P")

MIN_BIAS = 0.25 / 255  # below this mean error (any channel) the frame is not coded again
SLACK = 1.02


def trimmed(x: torch.Tensor, first: P, code_at: Callable[[torch.Tensor], P],
            decode: Callable[[P], torch.Tensor], size: Callable[[P], int],
            budget: float | None = None) -> tuple[P, torch.Tensor]:
    """(payload, reconstruction) of x (1,3,H,W), given `first`, x's payload at the chosen rate:
    `code_at(offset)` codes x - offset at that rate (offset (1,3,1,1), in pixel units) and
    `decode` gives what the decoder will make of a payload. With a `budget`, the second coding
    is kept only within it (or within the first's bytes): a first coding that fits stays
    fitting (a P residual over its budget is dropped: `codecs/stem/encoder.py`)."""
    rec = decode(first)
    bias = (rec - x).mean((0, 2, 3), keepdim=True)
    if float(bias.abs().max()) < MIN_BIAS:
        return first, rec
    second = code_at(bias)
    rec2 = decode(second)
    bound = SLACK * size(first)
    if budget is not None:
        bound = min(bound, max(budget, size(first)))
    if _mse(rec2, x) < _mse(rec, x) and size(second) <= bound:
        return second, rec2
    return first, rec


def _mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).mean())
