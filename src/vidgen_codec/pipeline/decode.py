"""The decode loop, shared by `api.decode` and the decode workers (`parallel/decode.py`).

    .vgc (ContainerReader) --decoder_models--> (codec, refiner)
    frame_stream: chunks from the GOP that holds `start` (chunks_from)
        -> codec.decode_frame, chunk by chunk -> decoded: one WindowItem per frame (index,
           frame, type, level, its GOP's refine mask), in display order, checked (in_order)
        [-> refine.windows.refine_stream: one diffusion step over windows of frames]
        -> crop -> (frame index, HxWx3 uint8)

An av1 file's frames stay uint8 pictures from dav1d to the writer; torch is imported only for
what needs it (learned frames, motion frames, a pretrained upsampler prior, the refiner,
`--device cuda` or `auto`).
"""

from __future__ import annotations

from ..bitstream import ContainerReader, SequenceHeader
from ..bitstream.headers import RefineRecord
from ..entropy import get_backend
from ..errors import FormatError, InputError, WeightsError
from ..bitstream.ids import FrameType
from ..frames import picture
from ..refine.levels import BackboneLevel, WindowItem
from ..registry import codec_by_id


def decoder_models(rd: ContainerReader, device, weights, refine, refiner, model_dir):
    """(codec, refiner or None) for the file open in `rd`, checked against what it names."""
    hdr = rd.header
    spec = codec_by_id(hdr.codec_id)
    dev = resolve_device(device)
    backend = get_backend(hdr.entropy_coder_id, dev)
    model = spec.load(weights, device=dev, backend=backend)
    check_weights(hdr, model, rd.version)
    return model, load_file_refiner(rd.refine, refine, refiner, model_dir, dev, rd.version)


def frame_stream(src: str, rd: ContainerReader, model, ref, start: int, count: int,
                 index: list, validate_rest: bool, generate: bool = True):
    """(frame index, HxWx3 uint8) of frames [start, start+count) of the file open in `rd`,
    decoded from the GOP that holds `start`, refined when `ref` is given. `validate_rest`:
    read the chunks after the last frame too (a full decode checks the whole file).
    `generate` False: an s2vc decoder without its generator."""
    hdr = rd.header
    chunks = chunks_from(rd, start, index)
    hp, wp = padded(hdr.height, model.stride), padded(hdr.width, model.stride)
    decoder = model.new_decoder(rd.codec_config, hdr.width, hdr.height,
                                **({} if generate else {"generate": False}))
    outputs = in_order(decoded(model, decoder, chunks, hp, wp), hdr.frame_count, start)
    if ref is not None:
        from ..refine.windows import refine_stream

        outputs = refine_stream(ref, outputs, rd.refine.seed)
    else:
        outputs = ([(item.index, item.frame) for item in out] for out in outputs)
    written = 0
    for out in outputs:
        for i, x in out:
            if i < start or written == count:
                continue
            yield i, picture(x, hdr.height, hdr.width)
            written += 1
        if written == count:
            break
    if validate_rest:
        for fc in chunks:  # full decode: validate the rest of the file (INDEX, END)
            raise FormatError(f"chunk at offset {fc.offset} holds frame "
                              f"{fc.payload.frame_index} after the file's last frame",
                              chunk=fc.chunk_index)
    if written != count:
        raise InputError(f"{src}: expected {count} frames, found {written}")


def decoded(model, state, chunks, hp: int, wp: int):
    """Lists of WindowItem (index, frame, type, level, gate) in display order, chunk by chunk,
    then the decoder's rest: each frame with its frame type and backbone level (the refiner
    conditions on both) and its GOP's refine mask (None where the stream has none), from the
    codec's `frame_info` of the chunk that holds it."""
    types: dict[int, int] = {}
    levels: dict = {}  # frame index -> BackboneLevel
    gates: dict = {}  # GOP start -> refine mask, of the chunk just read
    gate = None  # the refine mask of the GOP being decoded

    def items(out):
        nonlocal gate
        done = []
        for i, x in out:
            gate = gates.get(i, gate) if types.get(i) == FrameType.I else gate
            done.append(WindowItem(i, x, types.pop(i, FrameType.M),
                                   levels.pop(i, BackboneLevel()), gate))
        return done

    for fc in chunks:
        chunk_types, gates, chunk_levels = model.frame_info(state, fc.payload,
                                                            chunk=fc.chunk_index)
        types.update(chunk_types)
        levels.update(chunk_levels)
        try:
            out, state = model.decode_frame(state, fc.payload, hp, wp, chunk=fc.chunk_index)
        except FormatError as e:  # name the chunk, as the container's own errors do
            if e.chunk is not None or e.offset is not None:
                raise
            raise FormatError(f"frame {fc.payload.frame_index}: {e.reason}",
                              chunk=fc.chunk_index, offset=fc.offset) from None
        yield items(out)
    out, state = model.flush_decoder(state)
    gates = {}  # the flush reads no chunk
    yield items(out)


def in_order(outputs, frame_count: int, start: int = 0):
    """Pass decoder outputs through, refusing a frame index that is not the next one, or not
    below the header's frame count (a chunk may hold several frames: an av1 GOP), or a first
    frame after `start` (an index entry that pointed past the frame it names)."""
    expect = None
    for out in outputs:
        for index, *_ in out:
            if expect is None and index > start:
                raise FormatError(f"decoding from the index gave frame {index} first, after "
                                  f"the wanted frame {start}")
            if expect is not None and index != expect:
                raise FormatError(f"frame {index} decoded where frame {expect} was due")
            if index >= frame_count:
                raise FormatError(f"frame {index} decoded; the file has {frame_count} frames")
            expect = index + 1
        yield out


def chunks_from(rd: ContainerReader, start: int, index: list):
    """Frame chunks from the GOP that holds frame `start` (via the file's `index`), or from
    the top."""
    if start == 0:
        return rd.iter_frames()
    entries = [e for e in index if e.frame_index <= start]
    if not entries:
        return rd.iter_frames()
    return rd.iter_frames_from(entries[-1].offset)


def check_weights(hdr: SequenceHeader, model, version: tuple[int, int] = (2, 0)) -> None:
    """Refuse weights other than the file's: format 2 files name the weights' identity
    (weights.py), 1.x files their safetensors' SHA-256."""
    sha = model.weights_sha256 if version[0] >= 2 else model.legacy_weights_sha256
    if not hdr.weights_match(sha):
        raise WeightsError(
            f"file was encoded with weights {hdr.weights_sha256.hex()[:16]} "
            f"({hdr.model_id}); the loaded weights are {sha.hex()[:16]} "
            f"({model.model_id}): pass the matching --weights folder"
        )


def load_file_refiner(record: RefineRecord | None, refine: bool, refiner, model_dir, device: str,
                  version: tuple[int, int] = (2, 0)):
    """The refiner a file asks for (None: the file has no REFINE chunk, or --no-refine)."""
    if record is None or not refine:
        if refine and (refiner is not None or model_dir is not None):
            raise InputError("--refiner/--model-dir given, but the file has no REFINE chunk "
                             "(it was encoded with --no-refine)")
        return None
    from ..refine.loading import load_refiner, shipped_refiner_for

    legacy = version[0] < 2
    if refiner is None and model_dir is None:  # the shipped refiner that made the file
        refiner = shipped_refiner_for(record.refiner_sha256, legacy=legacy)
    ref, sha = load_refiner(refiner, model_dir, device=device, legacy=legacy)
    if sha != record.refiner_sha256:
        raise WeightsError(
            f"file asks for refiner {record.refiner_sha256.hex()[:12]} ({record.model_id}); "
            f"the loaded refiner is {sha.hex()[:12]} ({ref.cfg.model_id}): pass the matching "
            "--refiner/--model-dir, or --no-refine")
    return ref


def resolve_device(device: str) -> str:
    """"cpu" or "cuda" for --device cpu, cuda or auto (cuda where torch can use it; only
    "cpu" answers without importing torch)."""
    if device not in ("cpu", "cuda", "auto"):
        raise InputError(f"unknown device {device!r} (cpu, cuda or auto)")
    if device == "cpu":
        return "cpu"
    from ..torch_env import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise InputError("--device cuda requested but no CUDA device is available")
    return device



def padded(n: int, stride: int) -> int:
    return -(-n // stride) * stride
