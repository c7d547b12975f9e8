"""What every codec hands to the API, and what the API hands back, per frame; the codec
contract (`VideoCodec`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..bitstream import FramePayload
from ..bitstream.ids import ChunkType
from ..refine.levels import BackboneLevel  # noqa: F401  (the codecs compute it; the refiner reads it)


@dataclass
class CodedChunk:
    """One frame chunk to write: its type, its payload, and whether a GOP starts there."""

    chunk_type: ChunkType
    payload: FramePayload
    gop_start: bool


@dataclass(frozen=True)
class RateTarget:
    """How the encoder picks its rate: a bits-per-pixel target, or a fixed rate parameter."""

    bpp: float | None = None
    q: float | None = None


@dataclass(frozen=True)
class Structure:
    """GOP length and backbone interval in frames, the backbone coder ("learned", "av1") and
    the backbone scale (1 full, 2 half per side); None: the codec chooses. `search` False is
    the fast preset: no structure search (the av1 backbone codes every frame at full scale
    unless told otherwise) and no refinement gate (so no refinement). `preset`: the backbone
    coder's speed preset (av1: SVT-AV1's, 0 slowest .. 13 fastest; None: the speed's).
    `speed`: the encoder's effort (stem av1: a name or number of `codecs/stem/speed.py`;
    None: the default). `keyint`: the longest GOP, a key frame at least this often (stem av1;
    None: about 5 seconds of frames, as SVT-AV1's default). `prior` False: reduced-scale
    backbones are upsampled by Lanczos only, never by a pretrained prior (stem av1)."""

    gop: int | None = None
    backbone_interval: int | None = None
    backbone: str | None = None
    backbone_scale: int | None = None
    search: bool = True
    preset: int | None = None
    speed: str | None = None
    keyint: int | None = None
    prior: bool = True


@dataclass(frozen=True)
class Span:
    """Frames [first, first + frames) of a chunked encode (issue 16, `parallel/plan.py`),
    coded as a clip of their own: a GOP starts at `first`, no scene cut is looked for inside
    (the first pass put the spans' edges at the cuts), and the span's chunks share `budget`
    bytes, framing included (None: a fixed rate). `lead`: the first span, which alone pays
    for a file-level chunk that only a refined file keeps (REFINE). `complexity`: the first
    pass's measure of its frames (bytes per small pixel, `pictures/av1_rate.py`), if any."""

    first: int
    frames: int
    budget: float | None = None
    lead: bool = True
    complexity: float | None = None

    @property
    def end(self) -> int:
        return self.first + self.frames


class VideoCodec(Protocol):
    """What `api` asks of a registered codec (intra and stem implement it; a third codec
    plugs in the same way). State is explicit: every call takes a state and returns the new
    one; the codec object holds only weights and tables.

    Construction: `load(weights_dir, device=, backend=)`, `random(seed)`, `save(dir)`.
    """

    codec_id: int
    stride: int  # frames are padded to a multiple of this before coding
    weights_sha256: bytes
    model_id: str
    backend: object  # the entropy coder (its coder_id goes into the SEQUENCE_HEADER)

    # encoding: frames (1,3,Hp,Wp) in [0,1] in display order -> chunks in decode order
    def new_encoder(self, width: int, height: int, target: RateTarget,
                    expected_frames: int | None, structure: Structure | None = None,
                    *, span: Span | None = None, **kw) -> Any: ...

    # (frames of a span, whether spans start at scene cuts) for a chunked encode
    def chunking(self, st: Any) -> tuple[int, bool]: ...

    def encode_frame(self, st: Any, x: Any) -> tuple[list[CodedChunk], Any]: ...

    def flush(self, st: Any) -> tuple[list[CodedChunk], Any]: ...

    def structure(self, st: Any) -> Structure: ...  # for the SEQUENCE_HEADER (informative)

    def codec_config(self, st: Any) -> bytes | None: ...  # the codec config, if any (spec 7.6, 17.2)

    def refines(self, st: Any) -> bool: ...  # files from this state are refined

    # decoding: chunks in file order -> [(frame index, (1,3,Hp,Wp) float frame, or HpxWpx3 uint8
    # picture)] in display order (`frames.picture` and `frames.as_tensor` take either)
    def new_decoder(self, config: bytes | None = None, width: int = 0,
                    height: int = 0) -> Any: ...

    def decode_frame(self, st: Any, payload: FramePayload, hp: int, wp: int, *,
                     chunk: int | None = None) -> tuple[list, Any]: ...

    # ({frame index: frame type} of a chunk's frames, {GOP start: refine mask} it signals,
    #  {frame index: BackboneLevel} for the refiner (bitstream_spec.md, stem; {}: none))
    def frame_info(self, st: Any, payload: FramePayload, *, chunk: int | None = None
                   ) -> tuple[dict[int, int], dict[int, int], dict[int, BackboneLevel]]: ...

    def flush_decoder(self, st: Any) -> tuple[list, Any]: ...
