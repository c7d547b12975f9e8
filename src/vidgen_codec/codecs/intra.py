"""`intra`: every frame is a backbone I-frame coded by the learned image codec.

    frame (uint8 HxWx3) -> pad to x64 -> IntraModel.g_a -> gain(q) -> h_a -> z
      z: symbols = round(z - median_c), table = channel c          -> stream 0
      (scale, mean) = h_s(z_hat) in integer-exact arithmetic -> table index per element
      y: symbols = round(y - mean), table = index(scale)          -> stream 1
    decode mirrors it; see bitstream_spec.md, "Codec payloads / intra".
    At the rate chosen, the frame may be coded once more against the first coding's mean error
    (`dc_trim`; an encoder choice, decoders do not see it).

The hyper-synthesis that chooses the CDF tables runs as an integer network
(`models.integer_hyper`, after Ballé et al. 2019), so the encoder and the decoder compute the
same table indexes and means on any device, dtype or thread count. Streams are coded with
VGC_RANS (`entropy.VgcRansCpu`) unless another backend is passed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from dataclasses import dataclass, replace

import numpy as np
from ..torch_env import torch

from ..bitstream import FramePayload
from ..bitstream.ids import ChunkType, CodecId, EntropyCoderId, FrameType
from ..entropy import CdfTable, EntropyBackend, VgcRansCpu
from ..entropy.backend import decode_tensor, encode_tensor
from ..errors import FormatError, OptionError
from ..models.integer_hyper import IntegerHyperSynthesis
from ..models.configs import INTRA_ARCHITECTURE
from ..models.intra_model import Q_MIN, STRIDE, IntraConfig, IntraModel, q_max
from ..ratecontrol import (FRAME_OVERHEAD, RateState, frame_budget, init_rate, search_q,
                           update_rate)
from ..weights import ReadWeights, build_model, read_weights, repo_weights_dir, save_weights
from .base import BackboneLevel, CodedChunk, RateTarget, Span, Structure
from .configs import check_codec_config
from .dc_trim import trimmed

ARCHITECTURE = INTRA_ARCHITECTURE
Q_STEP = 1e-3  # resolution of the rate parameter in the bitstream (rate_code = q * 1000)


@dataclass
class IntraEncoderState:
    """Explicit encoder state: rate control and frame counter."""

    frame_index: int = 0
    rate: RateState | None = None
    q_fixed: float | None = None


@dataclass
class IntraDecoderState:
    frame_index: int = 0


def default_backend() -> EntropyBackend:
    """The learned coders' entropy coder unless told otherwise: VGC_RANS on the CPU."""
    return VgcRansCpu()


class IntraCodec:  # listed in registry.py (imported on first use)
    """Learned intra codec (see module docstring). Build with `load` or `random`."""

    codec_id = CodecId.INTRA
    stride = STRIDE

    def __init__(self, model: IntraModel, weights_sha256: bytes, *, device: str = "cpu",
                 backend: EntropyBackend | None = None, legacy_sha256: bytes | None = None):
        self.model = model.eval().to(device)
        self.cfg = model.cfg
        self.device = device
        self.weights_sha256 = weights_sha256  # the weights' identity (weights.identity)
        # what format 1.x files recorded: the safetensors' SHA-256 (weights.py)
        self.legacy_weights_sha256 = legacy_sha256 or weights_sha256
        self.model_id = model.cfg.model_id
        # VGC_RANS on the CPU by default; entropy.rans_triton.VgcRansTriton (what --device
        # cuda passes) codes the latents where they are, and writes the same bytes.
        self.backend = backend or default_backend()
        # What chooses CDF tables, device-independent (see module docstring). Files written
        # with COMPRESSAI_RANS (before VGC_RANS) chose them with h_s in float64 on the CPU.
        self._h_s_built = None  # the integer h_s (`_h_s_int`), built on first use: the av1
        # backbone never codes a learned latent, and building it is most of a load
        self._h_s64 = None  # built on first use, for COMPRESSAI_RANS streams only
        gc = model.gaussian_conditional
        self._scale_table64 = gc.scale_table.detach().cpu().double()
        self._scale_bound = float(gc.scale_bound)
        self._medians = model.entropy_bottleneck.quantiles[:, 0, 1].detach().cpu().double()
        self.y_table = CdfTable.from_entropy_model(gc)
        self.z_table = CdfTable.from_entropy_model(model.entropy_bottleneck)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def load(cls, weights_dir=None, *, device: str = "cpu", backend=None) -> "IntraCodec":
        return cls.built(read_weights(weights_dir or repo_weights_dir() / "intra", ARCHITECTURE),
                         device=device, backend=backend)

    @classmethod
    def built(cls, read: ReadWeights, *, device: str = "cpu", backend=None) -> "IntraCodec":
        """The codec of a weights folder already read (`weights.read_weights`)."""
        return cls(build_model(read), read.identity, device=device, backend=backend,
                   legacy_sha256=read.legacy)

    @classmethod
    def random(cls, seed: int = 0, cfg: IntraConfig | None = None, **kw) -> "IntraCodec":
        """Random weights with built CDF tables: for tests and the conformance suite."""
        torch.manual_seed(seed)
        model = IntraModel(cfg or IntraConfig(N=8, M=12, model_id="intra-random"))
        build_tables(model)
        digest = torch.tensor([seed]).numpy().tobytes().ljust(32, b"\0")
        return cls(model, digest, **kw)

    def save(self, out_dir) -> bytes:
        """Write these weights as a weights folder (tables included); returns the sha256."""
        return save_weights(copy.deepcopy(self.model).cpu(), self.cfg.to_dict(), ARCHITECTURE, Path(out_dir))

    # -- encode ---------------------------------------------------------------------------
    def new_encoder(self, width: int, height: int, target: RateTarget,
                    expected_frames: int | None, structure: Structure | None = None, *,
                    span: Span | None = None) -> IntraEncoderState:
        for name in ("gop", "backbone_interval"):
            if structure is not None and getattr(structure, name) not in (None, 1):
                raise OptionError(name, getattr(structure, name),
                                  "intra codes every frame as an I-frame")
        for name in ("backbone", "backbone_scale", "preset", "speed", "keyint"):
            if structure is not None and getattr(structure, name) is not None:
                raise OptionError(name, getattr(structure, name), "a stem option")
        first = span.first if span is not None else 0
        if target.q is not None:
            return IntraEncoderState(first, q_fixed=check_rate(target.q, self.cfg.levels))
        if span is not None:  # the span's budget, framing taken off: payload bytes per frame
            per_frame = span.budget / span.frames - FRAME_OVERHEAD
            return IntraEncoderState(first, rate=RateState(target_per_frame=max(per_frame, 1.0)))
        return IntraEncoderState(rate=init_rate(target.bpp, width, height, expected_frames))

    def chunking(self, st) -> tuple[int, bool]:
        """(16, False): every frame stands alone, so spans of 16 frames, cuts or not."""
        return 16, False

    @torch.no_grad()
    def encode_frame(self, st: IntraEncoderState, x: torch.Tensor):
        """x: (1,3,H,W) float in [0,1], H and W multiples of `stride`."""
        y = self.analyze(x)
        cache: dict[float, list[bytes]] = {}
        nbytes = lambda streams: sum(map(len, streams))  # noqa: E731

        def streams_at(q: float) -> list[bytes]:
            if q not in cache:
                cache[q] = self.code_latent(y, q)
            return cache[q]

        if st.q_fixed is not None:
            q = snap_q(st.q_fixed)
            rate = st.rate
        else:
            q, _ = search_q(lambda q: nbytes(streams_at(q)), frame_budget(st.rate), Q_MIN,
                            q_max(self.cfg.levels), step_q=Q_STEP, guess=st.rate.q_last)
        xd = x.to(self.device)
        streams, _ = trimmed(xd, streams_at(q),
                             lambda off: self.code_latent(self.analyze(xd - off), q),
                             lambda s: self.decode_streams(s, q, *x.shape[-2:]), nbytes)
        if st.q_fixed is None:
            rate = update_rate(st.rate, nbytes(streams), q)
        payload = FramePayload(st.frame_index, FrameType.I, rate_code(q), streams)
        chunk = CodedChunk(ChunkType.BACKBONE_FRAME, payload, gop_start=True)
        return [chunk], replace(st, frame_index=st.frame_index + 1, rate=rate)

    def structure(self, st: IntraEncoderState) -> Structure:
        return Structure(1, 1)

    def codec_config(self, st) -> bytes | None:
        return None

    def refines(self, st) -> bool:
        return False

    def flush(self, st: IntraEncoderState):
        return [], st

    def analyze(self, x: torch.Tensor) -> torch.Tensor:
        """The latent of x ((1,3,H,W) in [0,1], H, W multiples of `stride`), before the gain."""
        return self.model.g_a(x.to(self.device))

    def code_latent(self, y: torch.Tensor, q: float) -> list[bytes]:
        """Streams [z, y] of the latent `y` at rate parameter q (snapped with `snap_q`)."""
        gain, _ = self.model.gains(torch.tensor([q], device=y.device))
        yg = y * gain
        z = self.model.h_a(yg).double()  # on the codec's device from here to the bytes
        med = self._medians.to(z.device).view(1, -1, 1, 1)
        z_sym = torch.round(z - med)
        scales, means = self._hyper(z_sym + med)
        y_sym = torch.round(yg.double() - means)
        z_idx = torch.arange(z.shape[1], device=z.device).view(1, -1, 1, 1).expand_as(z)
        return [encode_tensor(self.backend, z_sym.int(), z_idx.int(), self.z_table),
                encode_tensor(self.backend, y_sym.int(), self._indexes(scales), self.y_table)]

    # -- decode ---------------------------------------------------------------------------
    def new_decoder(self, config: bytes | None = None, width: int = 0,
                    height: int = 0) -> IntraDecoderState:
        check_codec_config(CodecId.INTRA, config)
        return IntraDecoderState()

    @torch.no_grad()
    def decode_frame(self, st: IntraDecoderState, payload: FramePayload, hp: int, wp: int,
                     *, chunk: int | None = None):
        """Returns ((1,3,hp,wp) float tensor, new state). hp, wp: padded frame size."""
        if payload.frame_type != FrameType.I or len(payload.streams) != 2:
            raise FormatError("intra frame must be type I with 2 streams", chunk=chunk)
        x_hat = self.decode_streams(payload.streams, payload.rate_code * Q_STEP, hp, wp)
        return [(payload.frame_index, x_hat)], replace(st, frame_index=st.frame_index + 1)

    def frame_info(self, st, payload: FramePayload, *, chunk=None
                   ) -> tuple[dict[int, int], dict[int, int], dict[int, BackboneLevel]]:
        """({frame index: frame type} of the chunk's frame, {}, {}: intra is never refined)."""
        return {payload.frame_index: int(payload.frame_type)}, {}, {}

    def flush_decoder(self, st: IntraDecoderState):
        return [], st

    def decode_streams(self, streams: list[bytes], q: float, hp: int, wp: int) -> torch.Tensor:
        """(1,3,hp,wp) image in [0,1] from the streams [z, y] written by `code_latent`."""
        N, dev = self.cfg.N, self.device
        zshape = (1, N, hp // STRIDE, wp // STRIDE)
        z_idx = torch.arange(N, device=dev).view(1, -1, 1, 1).expand(zshape)
        z_sym = decode_tensor(self.backend, streams[0], z_idx.int(), self.z_table)
        z_hat = z_sym.double().view(zshape) + self._medians.to(dev).view(1, -1, 1, 1)
        scales, means = self._hyper(z_hat)
        y_sym = decode_tensor(self.backend, streams[1], self._indexes(scales), self.y_table)
        y_hat = y_sym.double().view(means.shape) + means
        _, inv_gain = self.model.gains(torch.tensor([q], device=self.device))
        return self.model.g_s(y_hat.float().to(self.device) * inv_gain).clamp(0, 1)

    # -- shared ---------------------------------------------------------------------------
    def _hyper(self, z_hat64: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, mean) of y from z_hat: float64 multiples of 2^-16, bit-identical everywhere
        (legacy COMPRESSAI_RANS streams: h_s in float64 on the CPU, as they were written)."""
        if self.backend.coder_id == EntropyCoderId.COMPRESSAI_RANS:
            if self._h_s64 is None:
                self._h_s64 = copy.deepcopy(self.model.h_s).cpu().double().eval()
            return tuple(t.to(z_hat64.device) for t in self._h_s64(z_hat64.cpu()).chunk(2, 1))
        return self._h_s_int(z_hat64)

    @property
    def _h_s_int(self):
        if self._h_s_built is None:
            self._h_s_built = IntegerHyperSynthesis(self.model.h_s)
        return self._h_s_built

    @_h_s_int.setter
    def _h_s_int(self, value):
        self._h_s_built = value

    def _indexes(self, scales64: torch.Tensor) -> torch.Tensor:
        return table_indexes(scales64, self._scale_table64, self._scale_bound)


def table_indexes(scales64: torch.Tensor, table64: torch.Tensor, bound: float) -> torch.Tensor:
    """Index of the smallest table scale >= scale (compressai's build_indexes). Exact: the
    scales are binary fractions, compared in float64 with the stored scale table."""
    s = scales64.clamp_min(bound)
    idx = torch.searchsorted(table64.to(s.device), s.contiguous(), right=False)
    return idx.clamp_max(len(table64) - 1).int()


def rate_code(q: float) -> int:
    return int(round(q / Q_STEP))


def check_rate(q: float, levels: int) -> float:
    """A user's fixed rate parameter, refused unless finite and within the model's range."""
    import math

    if not math.isfinite(q) or not Q_MIN <= q <= q_max(levels):
        raise OptionError("q", q, f"outside {Q_MIN} .. {q_max(levels):g}")
    return float(q)


def snap_q(q: float) -> float:
    """q on the grid the bitstream stores (rate_code * Q_STEP)."""
    return rate_code(q) * Q_STEP


def build_tables(model: IntraModel) -> None:
    """Build the CDF tables stored with the weights (done once, at export)."""
    from compressai.models.base import SCALES_LEVELS, SCALES_MAX, SCALES_MIN

    table = np.exp(np.linspace(np.log(SCALES_MIN), np.log(SCALES_MAX), SCALES_LEVELS))
    model.gaussian_conditional.update_scale_table(table.tolist(), force=True)
    model.entropy_bottleneck.update(force=True)


def export_intra(model: IntraModel, out_dir) -> bytes:
    build_tables(model)
    return save_weights(model, model.cfg.to_dict(), ARCHITECTURE, out_dir)
