"""The encode loop, shared by `api.encode` and the encode workers (`parallel/encode.py`).

    EncodeJob (what any span of one encode needs) --load_encoder--> (codec, refiner factory)
    code_spans: one read of the clip (none: a short clip's frames kept by the first pass); per span (its frames checked against the first pass's
        hashes) -> code_span: a fresh encoder state -> codec.encode_frame per frame -> flush
        -> SpanResult (the span's chunks, in file order)

A span's coding depends only on its frames, its budget and the job: never on another span,
so which process codes it, and when, cannot change a byte (`parallel/` runs `code_span` in
Ray tasks).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

from ..codecs.base import RateTarget, Span, Structure
from ..errors import InputError
from ..frames import frame_hash
from ..video_io import RawSpec, read_frames


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


def code_spans(job: EncodeJob, spans: list[Span], hashes: list[bytes], model, kw: dict,
               kept: list | None = None):
    """SpanResults in span order, coded here from one read of the clip (`model`, `kw`: what
    `load_encoder(job)` gave), or from the first pass's `kept` frames (emptied as they are
    coded, so that memory falls as the encode goes)."""
    if kept is not None:
        kept.reverse()
        frames = (kept.pop() for _ in range(len(kept)))
        for span in spans:
            yield code_span(job, span, itertools.islice(frames, span.frames), model, kw)
        return
    frames = read_frames(job.src, start=job.start, count=len(hashes), raw=job.raw)
    for span in spans:
        got = checked(itertools.islice(frames, span.frames), hashes[span.first:span.end], job,
                       span, final=True)
        yield code_span(job, span, got, model, kw)


class Mismatch(Exception):
    pass


def checked(frames, hashes: list[bytes], job: EncodeJob, span: Span, final: bool = False):
    """The frames, each checked against the first pass's hash as it is read (the encoder
    holds what it holds, never the whole span twice)."""
    n = 0
    for f, h in zip(frames, hashes):
        if frame_hash(f) != h:
            if not final:
                raise Mismatch
            raise InputError(f"{job.src}: frame {span.first + n} differs from the first "
                             "pass's (the file changed while it was being encoded)")
        n += 1
        yield f
    if n != len(hashes):
        if not final:
            raise Mismatch
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


def loaded(job: EncodeJob) -> tuple:
    """load_encoder(job), once per worker process (a worker codes many spans of one job)."""
    key = (job.codec, job.weights, job.device, job.refined, job.refiner, job.model_dir)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_encoder(job)
    model, kw = _LOADED[key]
    return model, ({**kw, "seed": job.seed} if kw else kw)


def code_span(job: EncodeJob, span: Span, frames, model, kw: dict) -> SpanResult:
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
