"""Streaming the refiner over a decoded sequence: windows of W = cfg.window frames.

    decoded frames (display order) -> window [s, s+W) -> Refiner -> frames s .. s+W-2 out;
                                      next window starts at s+W-1 (one shared frame, whose
                                      output is the mean of its two refined versions)
    an I-frame closes the windows before it: windows restart at every GOP, so decoding from a
    GOP start (seeking) gives the same frames as a full decode
    the last window of a GOP is padded by repeating its last frame

Each window's noise comes from `seeded_noise(seed, index of the window's first frame)`.
State lives in RefineState, passed in and returned; at most W frames are held.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..bitstream.ids import FrameType
from ..models.refiner import Refiner, seeded_noise


@dataclass
class RefineState:
    seed: int
    pending: list = field(default_factory=list)  # [(index, frame (1,3,H,W), type)]
    carry: torch.Tensor | None = None  # refined version of pending[0] from the last window


def push(ref: Refiner, st: RefineState, items) -> tuple[list, RefineState]:
    """Feed [(index, frame, type)] in display order; returns [(index, refined frame)]."""
    out = []
    for item in items:
        if item[2] == FrameType.I and st.pending:
            done, st = flush(ref, st)
            out += done
        st.pending.append(item)
        if len(st.pending) == ref.cfg.window:
            refined = _run(ref, st.pending, st.seed)
            out += _emit(st, refined, ref.cfg.window - 1)
            st = RefineState(st.seed, st.pending[-1:], refined[-1])
    return out, st


def flush(ref: Refiner, st: RefineState) -> tuple[list, RefineState]:
    """Output every frame still held (end of stream or of a GOP)."""
    n = len(st.pending)
    if n == 0:
        return [], st
    if n == 1 and st.carry is not None:
        out = [(st.pending[0][0], st.carry)]
    else:
        padded = st.pending + [st.pending[-1]] * (ref.cfg.window - n)
        refined = _run(ref, padded, st.seed)
        out = _emit(st, refined, n)
    return out, RefineState(st.seed)


def _emit(st: RefineState, refined: list, n: int) -> list:
    out = []
    for k in range(n):
        x = refined[k]
        if k == 0 and st.carry is not None:
            x = (x + st.carry) / 2
        out.append((st.pending[k][0], x))
    return out


@torch.no_grad()
def _run(ref: Refiner, window: list, seed: int) -> list[torch.Tensor]:
    """Refine a window [(index, frame, type)]: list of (1,3,H,W) frames in [0,1]."""
    frames = torch.cat([f for _, f, _ in window]).transpose(0, 1)[None]  # (1,3,W,H,W)
    h, w = frames.shape[-2:]
    m = ref.spatial_multiple
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        frames = F.pad(frames, (0, pw, 0, ph, 0, 0), mode="replicate")
    p = next(ref.parameters())
    frames = frames.to(p.device, p.dtype)
    types = torch.tensor([[int(t) for _, _, t in window]], device=p.device)
    noise = seeded_noise(ref.latent_shape(*frames.shape[2:]), seed, window[0][0])
    y = ref(frames, types, noise.to(p.device, p.dtype))[..., :h, :w].float()
    return [y[:, :, k] for k in range(y.shape[2])]


def refine_stream(ref: Refiner, outputs, types: dict, seed: int):
    """Decoder outputs (lists of (index, frame) in display order) -> refined lists; `types`
    maps frame index -> frame type and is filled by the caller as chunks are read."""
    st = RefineState(seed)
    for out in outputs:
        done, st = push(ref, st, [(i, x, types[i]) for i, x in out])
        yield done
    done, st = flush(ref, st)
    yield done
