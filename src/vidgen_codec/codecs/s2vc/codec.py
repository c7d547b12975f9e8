"""`s2vc`: S²VC (Xue et al., "Single-step Diffusion-based Video Coding with Semantic-Temporal
Guidance", CVPR 2026): conditional coding with a feature buffer, decoded by a single-step
diffusion generator with Contextual Semantic Guidance and Temporal Consistency Guidance.

    GOP start (every `gop` frames, the reset period): I-frame by stem's backbone coders
        (`iframe.py`: the intra codec, or an SVT-AV1 key frame with --backbone av1) in a
        BACKBONE_FRAME; its decode, embedded, fills the feature buffer
    other frames: P-frames by the conditional coder (`models/s2vc_coder.py`), conditioned on
        the buffer; the latent is coded by `latent.py` (LATENT_RESIDUAL chunks)
    decoder: each frame's decoded feature -> generator (`models/s2vc_generator.py`), or with
        `generate=False` the coder's own reconstruction (the I-frame's decode for I-frames)

Byte budgets follow the GOP rate control (`common/rate.py`): a GOP's budget, `i_weight` shares for the I-frame
and one per P-frame; each frame's rate parameter is searched on its real coded size. At a bpp
target the encoder holds a GOP and codes it once per I-frame share (`share_search.py`: the
config's `i_weight` times 1, 2 and 4), keeping the best by Y'CbCr PSNR; `Structure.search`
False (`vgc encode --fast`) and fixed rates stream frame by frame at the config's share.
bitstream_spec.md 15, "s2vc", has the layout; the weights folder names the intra weights it was
trained with (`intra_dir`, `intra_sha256`), as stem's does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ...torch_env import torch

from ...bitstream import FramePayload
from ...bitstream.ids import ChunkType, CodecId, FrameType
from ...errors import FormatError, OptionError, WeightsError
from ...frames import to_uint8
from ...models.s2vc_model import S2vcConfig, S2vcModel
from ...weights import (check_intra_pair, identity, load_into, load_model, load_state,
                        pair_identity, read_config, repo_weights_dir, save_state)
from ..base import CodedChunk, RateTarget, Span, Structure
from ...pictures.av1 import Av1Settings
from ...stem_gop import AV1, BackboneConfig
from ..intra import Q_STEP, IntraCodec, build_tables, check_rate, rate_code, snap_q
from ...bitstream.framing import chunk_bytes
from ..common.chunks import fit_chunk
from .iframe import Av1IFrames, LearnedIFrames
from ..common.rate import backbone_budget, init_gop_rate, open_gop, span_rate, spend
from .latent import LatentCoder
from ..configs import check_codec_config
from .share_search import code_gop, searchable

ARCHITECTURE = "S2vcModel"


@dataclass
class S2vcEncoderState:
    gop: int
    backbone: BackboneConfig  # the I-frame coder (learned: no codec config)
    width: int
    height: int
    rate: object  # common.rate.GopRate, or None at a fixed rate
    q_fixed: float | None
    end: int | None  # the clip's (or span's) end, when known
    index: int = 0  # display index of the next frame
    p_left: int = 0  # P-frames still to code in the open GOP
    buffer: torch.Tensor | None = None  # the decoded feature of the last frame
    frame: torch.Tensor | None = None  # the last frame as the coder decodes it
    y_prev: torch.Tensor | None = None  # its latent y_hat (float64; zeros after an I-frame)
    search: bool = False  # hold each GOP and search the I-frame share (share_search.py)
    pending: list = field(default_factory=list)  # the open GOP's frames, HpxWpx3 uint8


@dataclass
class S2vcDecoderState:
    backbone: BackboneConfig
    width: int
    height: int
    generate: bool = True
    buffer: torch.Tensor | None = None
    frame: torch.Tensor | None = None
    y_prev: torch.Tensor | None = None
    diffusion: list | None = None  # the generator's diffusion buffer (TCG)


class S2vcCodec:  # listed in registry.py (imported on first use)
    codec_id = CodecId.S2VC
    stride = 64

    def __init__(self, intra: IntraCodec, model: S2vcModel, own_identity: bytes, *,
                 device: str = "cpu", backend=None):
        self.backend = backend or intra.backend
        self.intra = intra
        self.intra.backend = self.backend
        self.model = model.eval().to(device)
        self.coder, self.generator = self.model.coder, self.model.generator
        self.cfg = model.cfg
        self.model_id = model.cfg.model_id
        self.device = device
        self.latent = LatentCoder(self.coder, self.backend)
        self.weights_sha256 = pair_identity(own_identity, intra.weights_sha256)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def load(cls, weights_dir=None, *, device: str = "cpu", backend=None) -> "S2vcCodec":
        wdir = Path(weights_dir or repo_weights_dir() / "s2vc")
        meta = read_config(wdir, ARCHITECTURE)
        cfg = S2vcConfig(**meta["config"])
        if cfg.unet is None:  # a full-size model: U-Net and VAE from a diffusers folder
            base = Path(cfg.base_dir)
            model = S2vcModel(cfg, base if base.is_absolute() else wdir / base)
            state, _ = load_state(wdir, meta)
            missing = set(model.adapter_state()) ^ set(state)
            if missing:
                raise WeightsError(f"weights in {wdir} do not fit the model on {cfg.base_dir}: "
                                   f"{sorted(missing)[0]}")
            load_into_partial(model, state)
            own = identity(meta)
        else:
            w = load_model(wdir, ARCHITECTURE)
            model, own = w.model, w.identity
        intra_dir = (wdir / cfg.intra_dir).resolve()
        intra = IntraCodec.load(intra_dir, device=device, backend=backend)
        check_intra_pair(wdir, intra_dir, cfg.intra_sha256, intra.legacy_weights_sha256)
        return cls(intra, model, own, device=device, backend=backend)

    @classmethod
    def random(cls, seed: int = 0, cfg: S2vcConfig | None = None, **kw) -> "S2vcCodec":
        """Random weights at test size, tables built: for tests and the conformance suite."""
        intra = IntraCodec.random(seed)
        torch.manual_seed(seed + 2)
        model = S2vcModel(cfg or small_config())
        build_tables(model.coder)
        g = model.generator  # not the identity (zero-initialised layers)
        for p in [g.vae.decoder.conv_out.weight, *(z.weight for z in g.tcg),
                  model.coder.recon[-1].weight]:
            torch.nn.init.normal_(p, std=0.02)
        return cls(intra, model, bytes([seed % 256, 2]) * 16, **kw)

    def save(self, out_dir) -> bytes:
        """A self-contained weights folder: the s2vc files, and the intra model in intra/."""
        out = Path(out_dir)
        intra_sha = self.intra.save(out / "intra")
        cfg = S2vcConfig(**{**self.cfg.to_dict(), "intra_dir": "intra",
                            "intra_sha256": intra_sha.hex()})
        return save_state(self.model.adapter_state(), cfg.to_dict(), ARCHITECTURE, out)

    # -- encode ---------------------------------------------------------------------------
    def new_encoder(self, width: int, height: int, target: RateTarget,
                    expected_frames: int | None, structure: Structure | None = None, *,
                    span: Span | None = None) -> S2vcEncoderState:
        s = structure or Structure()
        if s.backbone_interval not in (None, 1):
            raise OptionError("backbone_interval", s.backbone_interval,
                              "s2vc codes every frame (I or conditional P)")
        if s.backbone not in (None, "learned", "av1"):
            raise OptionError("backbone", s.backbone, "unknown backbone: learned, av1")
        if s.backbone_scale not in (None, 1):
            raise OptionError("backbone_scale", s.backbone_scale,
                              "s2vc codes I-frames at full scale (1)")
        av1 = s.backbone == "av1"
        if s.preset is not None and not (av1 and 0 <= s.preset <= 13):
            raise OptionError("preset", s.preset, "the av1 backbone's SVT-AV1 preset, 0 .. 13")
        if av1 and target.q is not None:
            raise OptionError("q", target.q, "s2vc with AV1 I-frames takes a bpp target, not "
                              "a fixed rate")
        backbone = BackboneConfig(AV1, Av1Settings() if s.preset is None
                                  else Av1Settings(preset=s.preset)) if av1 else BackboneConfig()
        gop = self.cfg.gop if s.gop is None else s.gop
        if not 1 <= gop <= 65535:
            raise OptionError("gop", gop, "outside 1 .. 65535")
        q = None
        rate = None
        if target.q is not None:
            q = check_rate(target.q, min(self.intra.cfg.levels, self.cfg.levels))
        else:
            rate = span_rate(span, 0.0) or init_gop_rate(target.bpp, width, height,
                                                          expected_frames, 0.0)
        search = s.search and rate is not None
        if span is not None:
            return S2vcEncoderState(gop, backbone, width, height, rate, q, span.end,
                                    index=span.first, search=search)
        return S2vcEncoderState(gop, backbone, width, height, rate, q, expected_frames,
                                search=search)

    def chunking(self, st: S2vcEncoderState) -> tuple[int, bool]:
        """(frames of one GOP, True): spans of whole GOPs, a new span at each scene cut."""
        return st.gop, True

    @torch.no_grad()
    def encode_frame(self, st: S2vcEncoderState, x: torch.Tensor):
        if st.search and (st.pending or st.p_left == 0):  # holding a GOP, or at a GOP's start
            n = self._gop_frames(st)  # index stays at the GOP's start while it is held
            if not st.pending and not searchable(n, *x.shape[-2:]):
                return self.code_frame(st, x, self.cfg.i_weight)  # this GOP streams
            st = replace(st, pending=st.pending + [to_uint8(x)[0]])  # exact: x from uint8
            if len(st.pending) < n:
                return [], st
            return code_gop(self, st)
        return self.code_frame(st, x, self.cfg.i_weight)

    @torch.no_grad()
    def flush(self, st: S2vcEncoderState):
        if st.pending:
            return code_gop(self, st)
        return [], st

    @torch.no_grad()
    def code_frame(self, st: S2vcEncoderState, x: torch.Tensor, i_weight: float, *,
                   gop_frames: int | None = None):
        """The next frame's chunks: an I-frame at a GOP's start (its budget share `i_weight`
        against 1 per P-frame; the GOP `gop_frames` long, default as planned), else a
        P-frame."""
        x = x.to(self.device)
        if st.buffer is None or st.p_left == 0:
            return self._code_i(st, x, i_weight, gop_frames or self._gop_frames(st))
        return self._code_p(st, x)

    def _gop_frames(self, st: S2vcEncoderState) -> int:
        """Frames of the GOP that starts now; a stub under half a GOP joins it (known end)."""
        n = st.gop
        if st.end is not None and st.index < st.end:
            left = st.end - st.index
            n = left if 2 * (left - n) < n else n
        return n

    def _code_i(self, st: S2vcEncoderState, x: torch.Tensor, w: float, n: int):
        t = st.index
        rate, budget = st.rate, None
        if st.q_fixed is None:
            rate = open_gop(rate, n)
            budget = backbone_budget(rate, w, w + n - 1, 0)
        coder = self._iframes(st.backbone, st.width, st.height)
        pl, rec, q = coder.code(x, t, budget, st.q_fixed, rate.q_i if rate else None)
        rec = rec.to(self.device)
        if st.q_fixed is None:
            rate = replace(spend(rate, chunk_bytes(pl)), q_i=q)
        buffer, y_prev = self._reset(rec)
        st = replace(st, index=t + 1, rate=rate, p_left=n - 1, buffer=buffer, frame=rec,
                     y_prev=y_prev)
        return [CodedChunk(ChunkType.BACKBONE_FRAME, pl, gop_start=True)], st

    def _iframes(self, backbone: BackboneConfig, width: int, height: int):
        if backbone.coder == AV1:
            return Av1IFrames(backbone.av1, width, height)
        return LearnedIFrames(self.intra)

    def _code_p(self, st: S2vcEncoderState, x: torch.Tensor):
        t, coder = st.index, self.coder
        c = coder.context(st.buffer, st.frame)
        y = coder.analyze(x, c)
        coded: dict[float, torch.Tensor] = {}

        def payload(q):
            streams, coded[q] = self.latent.code(y, q, st.y_prev)
            return FramePayload(t, FrameType.P, rate_code(q), streams)

        rate = st.rate
        if st.q_fixed is not None:
            q = snap_q(st.q_fixed)
            pl = payload(q)
        else:
            budget = backbone_budget(rate, 1.0, st.p_left, 0)
            q, pl = fit_chunk(payload, budget, self.cfg.levels, rate.q_p)
            rate = replace(spend(rate, chunk_bytes(pl)), q_p=q)
        y_hat = coded[q]
        feature = self._synthesize(y_hat, q, c)
        st = replace(st, index=t + 1, rate=rate, p_left=st.p_left - 1, buffer=feature,
                     frame=coder.reconstruct(feature, st.frame), y_prev=y_hat)
        return [CodedChunk(ChunkType.LATENT_RESIDUAL, pl, gop_start=False)], st

    # -- shared by the encoder and the decoder ---------------------------------------------
    def _reset(self, x_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(feature buffer, y_prev) after an I-frame decoded as x_hat."""
        h, w = x_hat.shape[-2] // 16, x_hat.shape[-1] // 16
        zeros = torch.zeros(1, self.cfg.M, h, w, dtype=torch.float64, device=x_hat.device)
        return self.coder.embed(x_hat), zeros

    def _synthesize(self, y_hat: torch.Tensor, q: float, c: torch.Tensor) -> torch.Tensor:
        _, inv_gain = self.coder.gains(torch.tensor([q], device=c.device))
        return self.coder.synthesize(y_hat.float() * inv_gain, c)

    def structure(self, st: S2vcEncoderState) -> Structure:
        return Structure(st.gop, 1)

    def codec_config(self, st: S2vcEncoderState) -> bytes | None:
        """None for learned I-frames, else stem's backbone config (bitstream_spec.md 15)."""
        return None if st.backbone.coder != AV1 else st.backbone.pack()

    def refines(self, st) -> bool:
        return False  # the generator is the decoder's own; no REFINE chunk

    # -- decode ---------------------------------------------------------------------------
    def new_decoder(self, config: bytes | None = None, width: int = 0, height: int = 0, *,
                    generate: bool = True) -> S2vcDecoderState:
        return S2vcDecoderState(check_codec_config(CodecId.S2VC, config), width, height,
                                generate=generate)

    @torch.no_grad()
    def decode_frame(self, st: S2vcDecoderState, payload: FramePayload, hp: int, wp: int, *,
                     chunk: int | None = None):
        ft = payload.frame_type
        q = payload.rate_code * Q_STEP
        if ft == FrameType.I:
            coder = self._iframes(st.backbone, st.width, st.height)
            base = coder.decode(payload, hp, wp, chunk=chunk).to(self.device)
            feature, y_prev = self._reset(base)
            diffusion = None
        elif ft == FrameType.P:
            if st.buffer is None:
                raise FormatError("s2vc P-frame before any I-frame", chunk=chunk)
            if len(payload.streams) != 2:
                raise FormatError("s2vc P-frame without 2 streams", chunk=chunk)
            c = self.coder.context(st.buffer, st.frame)
            y_hat = self.latent.decode(payload.streams, st.y_prev, hp, wp)
            feature, y_prev = self._synthesize(y_hat, q, c), y_hat
            base, diffusion = self.coder.reconstruct(feature, st.frame), st.diffusion
        else:
            raise FormatError(f"s2vc frame of type {int(ft)} (I or P expected)", chunk=chunk)
        if st.generate:
            frame, diffusion = self.generator(feature, base, 0 if ft == FrameType.I else 1,
                                              diffusion)
        else:
            frame = base
        st = replace(st, buffer=feature, frame=base, y_prev=y_prev, diffusion=diffusion)
        return [(payload.frame_index, frame.clamp(0, 1))], st

    def frame_info(self, st, payload: FramePayload, *, chunk=None):
        return {payload.frame_index: int(payload.frame_type)}, {}, {}

    def flush_decoder(self, st: S2vcDecoderState):
        return [], st


def load_into_partial(model: S2vcModel, state: dict) -> None:
    """Load an adapter's tensors (everything but the pretrained base), CDF tables resized."""
    full = model.state_dict()
    full.update(state)
    load_into(model, full, "the adapter")


def small_config(**kw) -> S2vcConfig:
    """A few-kB configuration for tests (random weights)."""
    unet = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=[8, 16],
                layers_per_block=1, down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], cross_attention_dim=8,
                attention_head_dim=4, norm_num_groups=4)
    vae = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[8, 8, 8, 8],
               layers_per_block=1, norm_num_groups=4, down_block_types=["DownEncoderBlock2D"] * 4,
               up_block_types=["UpDecoderBlock2D"] * 4)
    return S2vcConfig(**{**dict(F=8, M=12, N=8, unet=unet, vae=vae, gop=8,
                                model_id="s2vc-random"), **kw})
