"""Encoding a clip span by span on Ray workers (issue 16): the same spans and the same bytes
for any number of workers.

    first pass (plan.py) -> spans with budgets
    workers > 1: each span a Ray task that seeks to its frames (video_io, seek=True), checks
                 them against the first pass's hashes (else reads from the top), and codes
                 them with the encode loop (`pipeline/encode.py`, which `api.encode` runs
                 itself for one worker)
    api.encode writes the spans' chunks in order into one .vgc (its INDEX from their GOP starts)
"""

from __future__ import annotations

from ..codecs.base import Span
from ..pipeline.encode import EncodeJob, Mismatch, SpanResult, checked, code_span, loaded
from ..video_io import read_frames
from .pool import ordered


def encode_spans(job: EncodeJob, spans: list[Span], hashes: list[bytes], workers: int,
                 address: str | None = None):
    """SpanResults in span order, each span a task on the pool (local Ray, or `address`)."""
    args = [(job, s, hashes[s.first:s.end]) for s in spans]
    yield from ordered(encode_span, args, workers, address)


def encode_span(job: EncodeJob, span: Span, hashes: list[bytes]) -> SpanResult:
    """A worker's task: read the span's frames from the source and code them. Seeking trusts
    the file's timestamps: a frame whose hash is not the first pass's sends the span back to
    a read from the top."""
    from ..numerics import thread_invariant

    code = thread_invariant(code_span)
    try:
        frames = read_frames(job.src, start=job.start + span.first, count=span.frames,
                             raw=job.raw, seek=True)
        return code(job, span, checked(frames, hashes, job, span), *loaded(job))
    except Mismatch:
        frames = read_frames(job.src, start=job.start + span.first, count=span.frames,
                             raw=job.raw)
        return code(job, span, checked(frames, hashes, job, span, final=True), *loaded(job))


