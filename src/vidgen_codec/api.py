"""The library face of vgc: encode a video to a .vgc file, decode it back, describe it.

    encode: video_io.read_frames -> parallel.plan.first_pass (cuts, spans, budgets; the
            frames of a clip under KEEP_BYTES, so that it is read once)
            -> pipeline.encode.code_spans (here; --workers: each span a Ray task,
            parallel.encode, running the same code_span): codec.encode_frame per frame
            -> bitstream.ContainerWriter (the spans' chunks in order)
    decode: bitstream.ContainerReader -> pipeline.decode.frame_stream (codec.decode_frame
            [-> refine.windows: one diffusion step over windows of frames] -> crop)
            -> video_io.VideoWriter (--workers: GOP ranges as Ray tasks, parallel.decode,
            each running the same frame_stream)

The CLI only parses arguments and calls these functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from tqdm import tqdm

from . import __version__
from .bitstream import ContainerReader, ContainerWriter, SequenceHeader
from .bitstream.headers import RefineRecord, Timestamps, codec_config_size
from .bitstream.ids import PixelFormat
from .codecs.base import RateTarget, Structure
from .errors import InputError
from .numerics import thread_invariant
from .pipeline.encode import EncodeJob, code_spans, load_encoder
from .parallel.plan import first_pass, with_budgets
from .parallel.pool import check_pool
from .pictures import yuv420
from .ratecontrol import FILE_OVERHEAD
from .pipeline.decode import decoder_models, frame_stream, resolve_device
from .registry import codec_by_id, get_codec
from .preflight import (DEFAULT_BPP, MAX_PIXELS, check_encode_args, check_header,
                        check_vgc_output, require_file)
from .video_io import RawSpec, probe, read_frames
from .video_writer import VideoWriter

MIN_SIDE = 16  # smaller frames are refused: a model stride of 64 would be mostly padding
MAX_SIDE = 65535
__all__ = ["DEFAULT_BPP", "EncodeReport", "decode", "encode", "resolve_device"]


@dataclass
class EncodeReport:
    path: str
    frames: int
    width: int
    height: int
    bytes: int
    bpp: float
    warnings: tuple[str, ...] = ()  # what the input lost on the way (bit depth, audio, timing)


@thread_invariant
def encode(src: str, dst: str, *, codec: str = "stem", bpp: float | None = None,
           q: float | None = None, start: int = 0, frames: int | None = None,
           raw: RawSpec | None = None, device: str = "cpu", weights: str | None = None,
           gop: int | None = None, backbone_interval: int | None = None,
           backbone: str | None = None, backbone_scale: int | None = None,
           fast: bool = False, refine: bool = True, refiner: str | None = None, model_dir: str | None = None,
           seed: int = 0, progress: bool = True, preset: int | None = None,
           speed: str | None = None, keyint: int | None = None, prior: bool = True,
           workers: int = 1,
           ray_address: str | None = None) -> EncodeReport:
    """Encode frames [start, start+frames) of `src` into the .vgc file `dst` (atomically).

    A first pass finds the spans (GOPs from scene cuts) and splits the byte budget between
    them; the spans are then coded one by one here (`workers` 1), or as Ray tasks (`workers`
    above 1, or `ray_address`): the file is the same byte for byte (parallel/).

    For a codec decoded through the refiner (stem), `refine` writes a REFINE chunk naming the
    refiner (shipped, `refiner` folder, or `model_dir` Wan base + adapter) and the noise seed."""
    if Path(dst).resolve() == Path(src).resolve():
        raise InputError("output path is the input file")
    bpp = check_encode_args(bpp, q, start, frames)
    check_vgc_output(dst, suffix=False)
    if workers > 1 or ray_address is not None:
        check_pool(ray_address)
    info = probe(src, raw)
    w, h = info.width, info.height
    if min(w, h) < MIN_SIDE or max(w, h) > MAX_SIDE or w * h > MAX_PIXELS:
        raise InputError(f"frame size {w}x{h} not supported (each side {MIN_SIDE}..{MAX_SIDE}, "
                         f"at most {MAX_PIXELS:,} pixels)")
    spec = get_codec(codec)
    if spec.refined and refine and refiner is None and model_dir is None:
        refiner = str(spec.default_refiner(backbone))  # the shipped one for this backbone
    refine_record = _refine_record(spec, refine, refiner, model_dir, seed)
    dev = resolve_device(device)
    expected = _expected_frames(info.frame_count, start, frames)
    if expected:  # the colour conversions: numpy for a short clip, compiled for a long one
        yuv420.expect(expected * w * h)
    given = (gop, backbone_interval, backbone, backbone_scale, preset, speed,
             keyint) != (None,) * 7 or fast or not prior
    structure = (Structure(gop, backbone_interval, backbone, backbone_scale, not fast, preset,
                           None if speed is None else str(speed), keyint, prior)
                 if given else None)
    target = RateTarget(bpp=bpp, q=q)
    # absolute paths: a worker on another node, or in another folder, reads the same files
    job = EncodeJob(os.path.abspath(src), raw, start, codec, _abs(weights), dev, w, h, target,
                    structure, refine_record is not None, _abs(refiner), _abs(model_dir), seed)
    model, kw = load_encoder(job)
    # the whole clip's encoder state: checks the options, gives the header's facts
    state = model.new_encoder(w, h, target, expected, structure, **kw)
    if refine_record is not None and not model.refines(state):
        refine_record = None  # the av1 fast preset: no gate, so no refinement
        job, kw = replace(job, refined=False), {}
    chosen = model.structure(state)
    config = model.codec_config(state)
    header = SequenceHeader(
        codec_id=int(spec.codec_id), entropy_coder_id=int(model.backend.coder_id),
        pixel_format=int(PixelFormat.RGB24), width=w, height=h,
        fps_num=info.fps.numerator, fps_den=info.fps.denominator, frame_count=0,
        gop_size=min(chosen.gop, 65535), backbone_interval=min(chosen.backbone_interval, 65535), target_bpp=bpp or 0.0, rate=q or 0.0,
        weights_sha256=model.weights_sha256, model_id=model.model_id,
        encoder_version=f"vgc {__version__}", codec_config=config,
    )
    here = (workers <= 1 and ray_address is None)
    plan = _first_pass(model, state, read_frames(src, start=start, count=frames, raw=raw),
                       expected, bpp is not None, progress, KEEP_BYTES if here else 0)
    kept, plan = plan.kept, replace(plan, kept=None)
    n = plan.frames
    if n == 0:
        raise InputError(f"{src}: no frames to encode in the requested range")
    spans = plan.spans
    if bpp is not None:  # the file's own chunks first, then the spans share the rest
        extra = codec_config_size(len(config)) if config else 0
        spans = with_budgets(plan, max(bpp * w * h * n / 8 - FILE_OVERHEAD - extra, n))
    notes = info.notes
    folder = Path(dst).resolve().parent
    if not folder.exists():  # made, as `mkdir -p` would (batch jobs write into new folders),
        notes += (f"made the output folder {folder}",)  # and said
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with ContainerWriter(dst) as out, tqdm(total=n, desc=f"encode {codec}", unit="frame",
                                               disable=not progress) as bar:
            out.write_sequence_header(header)
            if refine_record is not None:
                out.write_refine(refine_record)
            refined = False
            if here or len(spans) == 1:
                results = code_spans(job, spans, plan.hashes, model, kw, kept)  # here
            else:
                from .parallel.encode import encode_spans

                results = encode_spans(job, spans, plan.hashes, workers, ray_address)
            for result in results:
                for c in result.chunks:
                    out.write_frame(c.chunk_type, c.payload, gop_start=c.gop_start)
                refined |= result.refined
                bar.update(result.span.frames)
            if refine_record is not None and not refined:
                out.drop_refine()  # the encoder's gate switched every refiner window off
            if info.pts is not None and len(info.pts) >= start + n:
                out.write_timestamps(Timestamps(info.time_base, list(info.pts[start:start + n])))
            out.finish(frame_count=n)
            size = out.bytes_written
    except OSError as e:  # the output's folder, permissions, a full disk
        raise InputError(f"cannot write {dst}: {e.strerror or e}") from None
    got = size * 8 / (w * h * n)
    return EncodeReport(dst, n, w, h, size, got, notes + rate_warning(got, bpp))


RATE_TOLERANCE = 0.05  # a file further than this share from its bpp target is warned about


def rate_warning(got: float, target: float | None) -> tuple[str, ...]:
    """The warning for a file more than RATE_TOLERANCE off its bpp target. Over it, the
    encoder took its smallest coding wherever the budget ran short
    (`pictures.fit.choose_within_budget`), so the file is at or near the smallest this codec
    makes of the clip (a GOP that met its own budget before the others ran short could have
    been smaller)."""
    if not target or abs(got - target) <= RATE_TOLERANCE * target:
        return ()
    off = f"{got:.5f} bpp, {100 * (got / target - 1):+.1f} % off the {target:g} bpp target"
    if got > target:
        return (f"the file is {off}: {got:.5f} bpp is at or near the smallest file this codec "
                "makes of this clip with these settings",)
    return (f"the file is {off}: the encoder found no coding nearer the target (at the top of "
            "the codec's range none can spend more; below it, its structure search chose a "
            "smaller coding that measured better)",)


MIN_SPAN = 16  # a span holds at least this many frames (whole GOPs)


KEEP_BYTES = 512 << 20  # a clip whose frames fit in this is read once (the first pass keeps it)


def _first_pass(model, state, frames, expected, measure: bool, progress: bool,
                keep_bytes: int):
    g, cuts = model.chunking(state)
    span_frames = g * -(-MIN_SPAN // g)
    with tqdm(total=expected, desc="first pass", unit="frame", disable=not progress) as bar:
        return first_pass(frames, span_frames, cuts=cuts, measure=measure,
                          on_frame=lambda: bar.update(1), keep_bytes=keep_bytes)


@thread_invariant
def decode(src: str, dst: str, *, start: int = 0, frames: int | None = None,
           device: str = "cpu", weights: str | None = None, refine: bool = True,
           refiner: str | None = None, model_dir: str | None = None,
           progress: bool = True, pix_fmt: str | None = None, workers: int = 1,
           ray_address: str | None = None, generate: bool = True) -> int:
    """Decode frames [start, start+frames) of the .vgc `src` into a video `dst`. Returns count.

    A file with a REFINE chunk goes through the refiner it names, unless `refine` is False.
    `generate` False (s2vc files only): the conditional coder's own reconstruction, without
    the diffusion generator.
    `workers` above 1 (or `ray_address`): ranges of GOPs decoded as Ray tasks, written in
    order; the frames are the serial decode's (parallel/decode.py)."""
    require_file(src, ".vgc")
    if workers > 1 or ray_address is not None:
        check_pool(ray_address)
    with ContainerReader(src) as rd:
        hdr = rd.header
        check_header(hdr, rd.version)
        index = rd.read_index()  # the tail (END, index) is checked before any frame is decoded
        model, ref = decoder_models(rd, device, weights, refine, refiner, model_dir)
        if not generate and not codec_by_id(hdr.codec_id).generates:
            raise InputError("--no-generate applies to s2vc files only")
        if start < 0 or start >= hdr.frame_count:
            raise InputError(f"--start {start} outside the file's {hdr.frame_count} frames")
        count = hdr.frame_count - start if frames is None else min(frames, hdr.frame_count - start)
        yuv420.expect(count * hdr.width * hdr.height)  # numpy or compiled colour conversions
        from .parallel.decode import DecodeJob, decode_ranges, ranges

        if (workers > 1 or ray_address is not None) and \
                len(ranges([e.frame_index for e in index], start, count)) > 1:
            job = DecodeJob(os.path.abspath(src), device, _abs(weights), refine, _abs(refiner),
                            _abs(model_dir), generate)
            decoded = decode_ranges(job, index, start, count, frames is None, workers,
                                    ray_address)
        else:  # one process, or one GOP range: decoded here, with the models loaded here
            decoded = frame_stream(src, rd, model, ref, start, count, index, frames is None,
                                   generate)
        written = 0
        fps = Fraction(hdr.fps_num, hdr.fps_den)
        times = rd.read_timestamps()
        with VideoWriter(dst, hdr.width, hdr.height, fps, pix_fmt,
                         time_base=times.time_base if times else None) as vw, \
                tqdm(total=count, desc="decode" + (" + refine" if ref else ""), unit="frame",
                     disable=not progress) as bar:
            try:
                for i, frame in decoded:
                    vw.write(frame, pts=times.pts[i] if times else None)
                    written += 1
                    bar.update(1)
            finally:
                decoded.close()  # stops the Ray tasks still running, on an error
    return written


def _abs(path: str | None) -> str | None:
    return None if path is None else os.path.abspath(path)


def _refine_record(spec, refine: bool, refiner, model_dir, seed: int) -> RefineRecord | None:
    if not spec.refined or not refine:
        if refiner is not None or model_dir is not None:
            raise InputError(f"--refiner/--model-dir given, but {spec.name} files are not "
                             "refined" + (" (--no-refine)" if spec.refined else ""))
        return None
    from .refine.loading import refiner_identity

    if not 0 <= seed < 2**63:
        raise InputError(f"--seed {seed} outside 0 .. 2^63-1")
    sha, model_id = refiner_identity(refiner, model_dir)
    return RefineRecord(seed, sha, model_id)


def _expected_frames(count: int | None, start: int, frames: int | None) -> int | None:
    if count is None:
        return frames
    left = max(count - start, 0)
    return left if frames is None else min(frames, left)

