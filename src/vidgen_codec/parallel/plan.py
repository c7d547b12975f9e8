"""The first pass of a chunked encode (issue 16): where the spans are, what each may spend.

    frames --PySceneDetect's content detector (codecs that start GOPs at cuts)--> scenes
    scene  --pieces of one span length (a last piece under half a span joins the one before)
           --> spans: the units that workers encode, whatever the worker count
    span   --SVT-AV1, fixed CRF, fastest preset, frames at most 256 px wide--> c_i bytes per
           small pixel (pictures/av1_rate.py; the span carries it: the av1 backbone's first
           CRF guess)
    budget_i = B * n_i c_i^QCOMP / sum_j n_j c_j^QCOMP

B is the file's byte target less its own chunks. The split follows x264's two-pass rate
control (`qcomp`, 0.6 by default there): bits go to a piece in proportion to its first-pass
complexity raised to qcomp, between a constant rate (0) and a constant quality (1). The pass
also keeps an 8-byte BLAKE2b hash of each frame, so that a worker that seeks to its span can
prove it got the frames this pass saw. It holds at most 1.5 spans of small frames (of a long
span, every k-th frame, at most about MEASURED): memory does not grow with the clip. With
`keep_bytes`, it also keeps the frames themselves while they fit in that many bytes, so that a
short clip is read once (issue 31: the second read cost 10-15 % of a 640x360 encode); past it,
none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..codecs.base import Span
from ..frames import frame_hash
from ..pictures.av1_rate import complexity as _complexity, small as _small

QCOMP = 0.6  # x264's default
MEASURED = 256  # at most about this many frames of a span are measured (evenly spaced): a
# GOP (at most 255 frames) is measured whole, so its measure is that of its own frame rate


@dataclass(frozen=True)
class ChunkPlan:
    spans: list[Span]
    hashes: list[bytes | None]  # per frame (None: the frame is in `kept`)
    complexity: list[float]  # per span: first-pass bytes per small pixel (0: not measured)
    kept: list[np.ndarray] | None = None  # every frame, when they fitted in keep_bytes

    @property
    def frames(self) -> int:
        return len(self.hashes)


def first_pass(frames, span_frames: int, *, cuts: bool, measure: bool,
               on_frame=None, keep_bytes: int = 0) -> ChunkPlan:
    """Spans (without budgets) of the frames (HxWx3 uint8, display order), their hashes, and
    each span's complexity when `measure`; the frames too while they total at most
    `keep_bytes`. `on_frame()` is called once per frame read."""
    detector = None
    if cuts:
        from ..pictures.cuts import CutDetector

        detector = CutDetector()
    spans: list[Span] = []
    complexity: list[float] = []
    hashes: list[bytes | None] = []
    whole: list[np.ndarray] | None = [] if keep_bytes > 0 else None  # the frames, kept
    held = 0
    scene: list[np.ndarray | None] = []  # small frames since the open span's first frame
    start = 0  # the open span's first frame

    step = -(-span_frames // MEASURED)  # long spans: every step-th frame

    def close(count: int):
        nonlocal start, scene
        spans.append(Span(start, count, lead=not spans))
        kept = [f for f in scene[:count] if f is not None]
        if not measure:
            complexity.append(0.0)
        else:  # None: no frame of it was kept (a short span at a cut), filled in below
            complexity.append(_complexity(kept) if kept else None)
        start, scene = start + count, scene[count:]

    for t, rgb in enumerate(frames):
        if detector is not None and detector.is_cut(t, rgb) and t > start:
            for n in _pieces(t - start, span_frames):
                close(n)
        if whole is not None:
            held += rgb.nbytes
            if held <= keep_bytes:  # kept: hashed only if the frames must be read again
                whole.append(rgb)
            else:
                hashes = [frame_hash(f) for f in whole]
                whole = None
        hashes.append(frame_hash(rgb) if whole is None else None)
        scene.append(_small(rgb) if measure and t % step == 0 else None)
        # a piece is settled once 1.5 spans are known (a shorter rest would join it)
        if 2 * len(scene) >= 3 * span_frames:
            close(span_frames)
        if on_frame is not None:
            on_frame()
    for n in _pieces(len(hashes) - start, span_frames):
        close(n)
    known = [(c, s.frames) for c, s in zip(complexity, spans) if c is not None]
    mean = sum(c * n for c, n in known) / max(sum(n for _, n in known), 1)
    complexity = [c if c is not None else mean for c in complexity]
    return ChunkPlan(spans, hashes, complexity, whole)


def _pieces(n: int, size: int) -> list[int]:
    """Lengths of the pieces of a scene of n frames: `size` each, the rest joining the last
    piece when under half of `size`."""
    out = []
    while n > 0:
        take = n if 2 * n < 3 * size else size
        out.append(take)
        n -= take
    return out


def with_budgets(plan: ChunkPlan, total: float) -> list[Span]:
    """The plan's spans with `total` bytes split as the module says."""
    weights = [s.frames * max(c, 1e-6) ** QCOMP for s, c in zip(plan.spans, plan.complexity)]
    scale = total / sum(weights)
    return [Span(s.first, s.frames, w * scale, s.lead, c or None)
            for s, w, c in zip(plan.spans, weights, plan.complexity)]
