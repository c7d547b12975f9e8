"""Frames between numpy and torch, and padding to a size the networks accept.

    [HxWx3 uint8 RGB, ...] --to_tensor--> (N,3,H,W) float32 in [0,1] --to_uint8--> [HxWx3 uint8]
    (N,3,H,W) --pad_to_multiple(x, 64)--> (N,3,H',W'), (H, W) --crop(x, H, W)--> (N,3,H,W)

video_io speaks numpy uint8 (channel last); models speak torch float (channel first). torch is
imported on first use: an av1 file's frames stay numpy from the reader to the writer (issue 31).
"""

from __future__ import annotations

import hashlib

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def to_tensor(frames: list[np.ndarray] | np.ndarray) -> torch.Tensor:
    """Stack HxWx3 uint8 RGB frames into an (N,3,H,W) float32 tensor in [0,1] (on the CPU)."""
    array = np.stack(list(frames)) if not isinstance(frames, np.ndarray) else frames
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected HxWx3 uint8 frames, got {array.shape} {array.dtype}")
    from .torch_env import torch

    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div_(255)


def to_uint8(tensor: torch.Tensor) -> list[np.ndarray]:
    """(N,3,H,W) or (3,H,W) float in [0,1] -> list of HxWx3 uint8 RGB (rounded, clamped)."""
    from .torch_env import torch

    if tensor.dim() == 3:
        tensor = tensor[None]
    if tensor.dim() != 4 or tensor.shape[1] != 3:
        raise ValueError(f"expected an (N,3,H,W) tensor, got {tuple(tensor.shape)}")
    array = (tensor.detach().float() * 255).round_().clamp_(0, 255).to(torch.uint8)
    array = array.permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(a) for a in array]


def pad_to_multiple(frames: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (N,C,H,W) or (C,H,W) on the bottom and right, repeating the edge, so H and W are
    multiples of `multiple`. Returns the padded tensor and the original (H, W) for `crop`."""
    h, w = frames.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h or pad_w:
        from .torch_env import torch  # noqa: F401  (numerics: thread-invariant settings)
        import torch.nn.functional as F

        frames = F.pad(frames, (0, pad_w, 0, pad_h), mode="replicate")
    return frames, (h, w)


def crop(frames: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Undo `pad_to_multiple`: keep the top-left h x w of the last two dimensions."""
    return frames[..., :h, :w]


def as_tensor(frame) -> torch.Tensor:
    """A decoded frame as a (1,3,H',W') float tensor: a tensor as it is, an H'xW'x3 uint8
    picture (the av1 backbone's) through `to_tensor`."""
    return to_tensor(frame) if isinstance(frame, np.ndarray) else frame


def picture(frame, h: int, w: int) -> np.ndarray:
    """A decoded frame as HxWx3 uint8 RGB, cropped to h x w: a (1,3,H',W') or (3,H',W') float
    tensor (`to_uint8`), or an H'xW'x3 uint8 picture as the av1 backbone decodes it."""
    if isinstance(frame, np.ndarray):
        return np.ascontiguousarray(frame[:h, :w])
    return to_uint8(crop(frame, h, w))[0]


def frame_hash(rgb: np.ndarray) -> bytes:
    """An 8-byte BLAKE2b digest of a frame's samples: the first pass records one per frame, and
    an encode worker proves with it that it read the same frames."""
    return hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=8).digest()
