"""Streaming the refiner over a decoded sequence: windows of W = cfg.window frames.

    decoded frames (display order) -> window [s, s+W) -> Refiner -> frames s .. s+W-2 out;
                                      next window starts at s+W-1 (one shared frame, whose
                                      output is the mean of its two refined versions)
    an I-frame closes the windows before it: windows restart at every GOP, so decoding from a
    GOP start (seeking) gives the same frames as a full decode
    the last window of a GOP is padded by repeating its last frame

Each window's noise comes from `seeded_noise(seed, index of the window's first frame)`.
Items are `WindowItem`s (index, frame, type, level, gate; plain 3-tuples, or 4-tuples whose
level is a (bpp, qindex) pair, are taken too), one per decoded frame (`pipeline.decode.decoded`
yields them): the level (the frame's `BackboneLevel`, from the codec's `frame_info`; default:
unknown) conditions a refiner with levels. A GOP may carry a refine mask, which every item of it
carries as `gate` (av1 backbone: the encoder's per-window choice): window k of the GOP is
refined only if bit k is set, else its frames pass through unrefined (a frame shared with the
next window is still the mean of the two windows' versions). Without a mask (None) every window
is refined. State lives in RefineState, passed in and returned; at most W frames are held.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..torch_env import torch
import torch.nn.functional as F

from ..bitstream.ids import FrameType
from ..frames import as_tensor
from .levels import BackboneLevel, WindowItem  # noqa: F401  (WindowItem: re-exported)
from ..models.refiner import Refiner, seeded_noise


@dataclass
class RefineState:
    seed: int
    pending: list = field(default_factory=list)  # [WindowItem]
    carry: torch.Tensor | None = None  # refined version of pending[0] from the last window
    mask: int | None = None  # the open GOP's refine mask (None: every window refined)
    gop: int = 0  # first frame of the open GOP
    k: int = 0  # windows run so far in it


def push(ref: Refiner, st: RefineState, items) -> tuple[list, RefineState]:
    """Feed [WindowItem] in display order; returns [(index, refined frame)]."""
    out = []
    for item in map(lambda t: WindowItem(*t), items):
        item = item._replace(frame=as_tensor(item.frame))  # an av1 GOP's: uint8 pictures
        if item.type == FrameType.I:
            if st.pending:
                done, st = flush(ref, st)
                out += done
            st = RefineState(st.seed, mask=item.gate, gop=item.index)
        elif not st.pending and st.carry is None and st.k == 0:
            st = RefineState(st.seed, mask=item.gate, gop=st.gop)  # a stream's first item
        st.pending.append(item)
        if len(st.pending) == ref.cfg.window:
            refined = _gated(ref, st, st.pending)
            out += _emit(st, refined, ref.cfg.window - 1)
            st = RefineState(st.seed, st.pending[-1:], refined[-1], st.mask, st.gop, st.k + 1)
    return out, st


def flush(ref: Refiner, st: RefineState) -> tuple[list, RefineState]:
    """Output every frame still held (end of stream or of a GOP)."""
    n = len(st.pending)
    if n == 0:
        return [], st
    if n == 1 and st.carry is not None:
        out = [(st.pending[0].index, st.carry)]
    else:
        padded = st.pending + [st.pending[-1]] * (ref.cfg.window - n)
        refined = _gated(ref, st, padded)
        out = _emit(st, refined, n)
    return out, RefineState(st.seed, mask=st.mask)


def _gated(ref: Refiner, st: RefineState, window: list) -> list[torch.Tensor]:
    mask = st.mask
    if mask is not None and not (mask >> st.k) & 1:
        return [item.frame for item in window]
    return run_window(ref, window, st.seed)


def _emit(st: RefineState, refined: list, n: int) -> list:
    out = []
    for k in range(n):
        x = refined[k]
        if k == 0 and st.carry is not None:
            x = (x + st.carry) / 2
        out.append((st.pending[k].index, x))
    return out


def window_spans(n: int, w: int) -> list[tuple[int, int]]:
    """(first frame, frames) of each window that `push`/`flush` run over a GOP of n frames
    (offsets in the GOP; a window of fewer than w frames is padded)."""
    spans, s = [], 0
    while n - s >= w:
        spans.append((s, w))
        s += w - 1
    if n - s > 1 or s == 0:
        spans.append((s, n - s))
    return spans


@torch.no_grad()
def run_window(ref: Refiner, window: list, seed: int) -> list[torch.Tensor]:
    """Refine a window [WindowItem] (or plain tuples of its fields): list of (1,3,H,W) frames
    in [0,1]."""
    window = [WindowItem(*item) for item in window]
    window = [item._replace(frame=as_tensor(item.frame)) for item in window]
    frames = torch.cat([item.frame for item in window]).transpose(0, 1)[None]  # (1,3,W,H,W)
    h, w = frames.shape[-2:]
    m = ref.spatial_multiple
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        frames = F.pad(frames, (0, pw, 0, ph, 0, 0), mode="replicate")
    p = next(ref.parameters())
    frames = frames.to(p.device, p.dtype)
    types = torch.tensor([[int(item.type) for item in window]], device=p.device)
    levels = torch.tensor([[[float(v) for v in BackboneLevel(*item.level)] for item in window]],
                          device=p.device)
    noise = seeded_noise(ref.latent_shape(*frames.shape[2:]), seed, window[0].index)
    y = ref(frames, types, noise.to(p.device, p.dtype), levels)[..., :h, :w].float()
    return [y[:, :, k] for k in range(y.shape[2])]


def refine_stream(ref: Refiner, outputs, seed: int):
    """Decoder outputs (lists of WindowItem in display order) -> lists of (index, refined
    frame)."""
    st = RefineState(seed)
    for out in outputs:
        done, st = push(ref, st, out)
        yield done
    done, st = flush(ref, st)
    yield done
