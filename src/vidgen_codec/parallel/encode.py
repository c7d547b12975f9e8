"""Encoding a clip span by span (issue 16): the same spans and the same bytes for any number of
workers, in this process or on Ray.

    first pass (plan.py) -> spans with budgets
    workers = 1: one read of the clip; each span's frames -> a fresh encoder state -> chunks
    workers > 1: each span a Ray task that seeks to its frames (video_io, seek=True), checks
                 them against the first pass's hashes (else reads from the top), encodes them
    api.encode writes the spans' chunks in order into one .vgc (its INDEX from their GOP starts)

A span's coding depends only on its frames, its budget and the job: never on another span, so
which worker codes it, and when, cannot change a byte.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..codecs.base import RateTarget, Span, Structure
from ..errors import InputError
from ..video_io import RawSpec, read_frames
from .plan import frame_hash
from .pool import ordered


@dataclass(frozen=True)
class EncodeJob:
    """What a worker needs to code any span of one encode (picklable)."""

    src: str
    raw: RawSpec | None
    start: int  # the source frame of span frame 0 (--start)
    codec: str
    weights: str | None
    device: str
    width: int
    height: int
    target: RateTarget
    structure: Structure | None
    refined: bool  # the file names a refiner: the encoder gates its windows with it
    refiner: str | None
    model_dir: str | None
    seed: int


@dataclass
class SpanResult:
    span: Span
    chunks: list  # codecs.base.CodedChunk, in file order
    refined: bool  # a window of the span is refined (the file keeps its REFINE chunk)


def encode_spans(job: EncodeJob, spans: list[Span], hashes: list[bytes], workers: int,
                 address: str | None = None, local: tuple | None = None):
    """SpanResults in span order. `local`: (codec, encoder keywords) already loaded here, for
    the serial path (workers load their own)."""
    if (workers <= 1 and address is None) or len(spans) == 1:  # one span: no Ray to start
        yield from _serial(job, spans, hashes, *(local or _loaded(job)))
        return
    args = [(job, s, hashes[s.first:s.end]) for s in spans]
    yield from ordered(encode_span, args, workers, address)


def encode_span(job: EncodeJob, span: Span, hashes: list[bytes]) -> SpanResult:
    """A worker's task: read the span's frames from the source and code them."""
    from ..numerics import thread_invariant

    frames = _span_frames(job, span, hashes)
    return thread_invariant(_code_span)(job, span, frames, *_loaded(job))


def _serial(job: EncodeJob, spans: list[Span], hashes: list[bytes], model, kw: dict):
    frames = read_frames(job.src, start=job.start, count=len(hashes), raw=job.raw)
    for span in spans:
        got = list(itertools.islice(frames, span.frames))
        if [frame_hash(f) for f in got] != hashes[span.first:span.end]:
            raise InputError(f"{job.src} changed while it was being encoded")
        yield _code_span(job, span, got, model, kw)


def _span_frames(job: EncodeJob, span: Span, hashes: list[bytes]) -> list[np.ndarray]:
    for seek in (True, False):  # seeking trusts the file's timestamps: check, else the top
        got = list(read_frames(job.src, start=job.start + span.first, count=span.frames,
                               raw=job.raw, seek=seek))
        if [frame_hash(f) for f in got] == hashes:
            return got
    raise InputError(f"{job.src}: frames {span.first}..{span.end - 1} differ from the first "
                     "pass's (the file changed while it was being encoded)")


_LOADED: dict = {}  # per worker process: the last job's (codec, encoder keywords)


def _loaded(job: EncodeJob) -> tuple:
    """(codec, encoder keywords: the refiner factory and seed) for a job, loaded once per
    worker process (a worker codes many spans of one job)."""
    from ..registry import get_codec

    key = (job.codec, job.weights, job.device, job.refined, job.refiner, job.model_dir)
    if key not in _LOADED:
        _LOADED.clear()
        from ..bitstream.ids import EntropyCoderId
        from ..entropy import get_backend

        model = get_codec(job.codec).load(
            job.weights, device=job.device,
            backend=get_backend(EntropyCoderId.VGC_RANS, job.device))
        kw = {}
        if job.refined:
            from ..refine.loading import load_refiner

            ref = load_refiner(job.refiner, job.model_dir, device=job.device)[0]
            kw = {"refiner": lambda: ref}
        _LOADED[key] = (model, kw)
    model, kw = _LOADED[key]
    return model, ({**kw, "seed": job.seed} if kw else kw)


def _code_span(job: EncodeJob, span: Span, frames: list[np.ndarray], model,
               kw: dict) -> SpanResult:
    from ..frames import pad_to_multiple, to_tensor

    state = model.new_encoder(job.width, job.height, job.target, None, job.structure,
                              span=span, **kw)
    chunks = []
    for f in frames:
        x = pad_to_multiple(to_tensor(f), model.stride)[0].to(job.device)
        out, state = model.encode_frame(state, x)
        chunks += out
    out, state = model.flush(state)
    chunks += out
    return SpanResult(span, chunks, job.refined and model.refines(state))
