"""Decoding one .vgc on several workers (issue 16): ranges of whole GOPs as Ray tasks.

    INDEX (GOP starts) -> ranges of whole GOPs, at least MIN_RANGE frames each
    each range: a task opens the file, seeks to its GOP, decodes (and refines) its frames
    the caller writes the ranges' frames in order

Every GOP decodes alone (closed GOPs; the refiner's windows restart at each I-frame,
refine/windows.py), so a range's frames are the serial decode's. A task returns its frames as
uint8: memory holds at most 2 x workers ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pool import ordered

MIN_RANGE = 16  # frames: fewer would spend more on starting the range than on decoding it


@dataclass(frozen=True)
class DecodeJob:
    src: str
    device: str
    weights: str | None
    refine: bool
    refiner: str | None
    model_dir: str | None
    generate: bool = True  # s2vc: the generator runs (False: --no-generate)


def ranges(gop_starts: list[int], start: int, count: int) -> list[tuple[int, int]]:
    """(first frame, frames) of each range: [start, start+count) cut at GOP starts."""
    end = start + count
    cuts = [g for g in sorted(set(gop_starts)) if start < g < end]
    out, a = [], start
    for g in cuts + [end]:
        if g - a >= MIN_RANGE or g == end:
            out.append((a, g - a))
            a = g
    if len(out) > 1 and out[-1][1] < MIN_RANGE:  # a short tail joins the range before
        (a0, n0), (_, n1) = out[-2], out[-1]
        out[-2:] = [(a0, n0 + n1)]
    return out


def decode_ranges(job: DecodeJob, index: list, start: int, count: int, validate_rest: bool,
                  workers: int, address: str | None = None):
    """(frame index, HxWx3 uint8) of frames [start, start+count), in order."""
    spans = ranges([e.frame_index for e in index], start, count)
    last = len(spans) - 1
    args = [(job, a, n, validate_rest and k == last) for k, (a, n) in enumerate(spans)]
    for frames in ordered(decode_range, args, workers, address):
        yield from frames


_MODELS: dict = {}  # per worker process: (job, weights identity) -> (codec, refiner)


def decode_range(job: DecodeJob, first: int, count: int, validate_rest: bool) -> list:
    """A worker's task: [(frame index, HxWx3 uint8)] of frames [first, first+count)."""
    from ..bitstream import ContainerReader
    from ..pipeline.decode import decoder_models, frame_stream
    from ..numerics import thread_invariant

    @thread_invariant
    def run():
        with ContainerReader(job.src) as rd:
            key = (job, rd.header.weights_sha256, rd.refine and rd.refine.refiner_sha256)
            if key not in _MODELS:
                _MODELS.clear()  # a worker keeps one file's models
                _MODELS[key] = decoder_models(rd, job.device, job.weights, job.refine,
                                               job.refiner, job.model_dir)
            model, ref = _MODELS[key]
            return list(frame_stream(job.src, rd, model, ref, first, count,
                                     rd.read_index(), validate_rest, job.generate))

    return run()
