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

import functools
import itertools
from dataclasses import dataclass

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
    """A worker's task: read the span's frames from the source and code them. Seeking trusts
    the file's timestamps: a frame whose hash is not the first pass's sends the span back to
    a read from the top."""
    from ..numerics import thread_invariant

    code = thread_invariant(_code_span)
    try:
        frames = read_frames(job.src, start=job.start + span.first, count=span.frames,
                             raw=job.raw, seek=True)
        return code(job, span, _checked(frames, hashes, job, span), *_loaded(job))
    except _Mismatch:
        frames = read_frames(job.src, start=job.start + span.first, count=span.frames,
                             raw=job.raw)
        return code(job, span, _checked(frames, hashes, job, span, final=True), *_loaded(job))


def _serial(job: EncodeJob, spans: list[Span], hashes: list[bytes], model, kw: dict):
    frames = read_frames(job.src, start=job.start, count=len(hashes), raw=job.raw)
    for span in spans:
        got = _checked(itertools.islice(frames, span.frames), hashes[span.first:span.end], job,
                       span, final=True)
        yield _code_span(job, span, got, model, kw)


class _Mismatch(Exception):
    pass


def _checked(frames, hashes: list[bytes], job: EncodeJob, span: Span, final: bool = False):
    """The frames, each checked against the first pass's hash as it is read (the encoder
    holds what it holds, never the whole span twice)."""
    n = 0
    for f, h in zip(frames, hashes):
        if frame_hash(f) != h:
            if not final:
                raise _Mismatch
            raise InputError(f"{job.src}: frame {span.first + n} differs from the first "
                             "pass's (the file changed while it was being encoded)")
        n += 1
        yield f
    if n != len(hashes):
        if not final:
            raise _Mismatch
        raise InputError(f"{job.src}: frames {span.first + n}..{span.end - 1} are missing "
                         "(the file changed while it was being encoded)")


def load_encoder(job: EncodeJob) -> tuple:
    """(codec, encoder keywords: a refiner factory, loading on first call, and the seed) of a
    job. VGC_RANS codes on the CPU, or with the Triton kernels on cuda (the same bytes)."""
    from ..bitstream.ids import EntropyCoderId
    from ..entropy import get_backend
    from ..registry import get_codec

    model = get_codec(job.codec).load(job.weights, device=job.device,
                                      backend=get_backend(EntropyCoderId.VGC_RANS, job.device))
    if not job.refined:
        return model, {}
    from ..refine.loading import load_refiner

    return model, {"refiner": functools.cache(
        lambda: load_refiner(job.refiner, job.model_dir, device=job.device)[0]),
        "seed": job.seed}


_LOADED: dict = {}  # per worker process: the last job's load_encoder()


def _loaded(job: EncodeJob) -> tuple:
    """load_encoder(job), once per worker process (a worker codes many spans of one job)."""
    key = (job.codec, job.weights, job.device, job.refined, job.refiner, job.model_dir)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_encoder(job)
    model, kw = _LOADED[key]
    return model, ({**kw, "seed": job.seed} if kw else kw)


def _code_span(job: EncodeJob, span: Span, frames, model, kw: dict) -> SpanResult:
    from ..frames import pad_to_multiple, to_tensor

    state = model.new_encoder(job.width, job.height, job.target, None, job.structure,
                              span=span, **kw)
    chunks = []
    pictures = getattr(model, "takes_pictures", lambda st: False)(state)
    for f in frames:
        x = f if pictures else pad_to_multiple(to_tensor(f), model.stride)[0].to(job.device)
        out, state = model.encode_frame(state, x)
        chunks += out
    out, state = model.flush(state)
    chunks += out
    return SpanResult(span, chunks, job.refined and model.refines(state))
