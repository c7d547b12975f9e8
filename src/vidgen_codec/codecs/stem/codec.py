"""`stem`: Diff-SIT's Sparse Temporal Encoding Module (Zhou, Chen, Zhang 2026, arXiv 2603.18501).

Only backbone frames are coded in full (an I-frame per GOP, then P-frames: motion plus a learned
residual); the frames between them send motion vectors alone, and the decoder warps the decoded
backbones with them into the intermediate sequence. See `encoder.py`, `decoder.py`
and bitstream_spec.md, section 15, "stem".

Weights: a STEM folder (residual model + motion tables, `models/stem_model.py`) and the intra
weights it names (`intra_dir`, relative to it; by default the sibling `intra` folder).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ...bitstream.framing import chunk_size
from ...bitstream.headers import codec_config_size
from ...bitstream.ids import CodecId, EntropyCoderId
from ...entropy import EntropyBackend
from ...entropy.select import get_backend
from ...errors import InputError, OptionError, WeightsError
from ...models.configs import INTRA_ARCHITECTURE, STEM_ARCHITECTURE, STRIDE, StemConfig
from ...motion.mv_coding import MotionTables
from ...weights import (build_model, check_intra_pair, pair_identity, read_weights,
                        repo_weights_dir, save_weights)
from ...pictures.av1 import CRF_MAX, CRF_MIN, Av1Settings
from . import av1, decoder
from ..configs import check_codec_config
from ..base import BackboneLevel, RateTarget, Span, Structure
from ...stem_gop import (AV1, BACKBONES, MAX_GOP_FRAMES, SCALES, SYNTH_SCALES, BackboneConfig,
                         unpack_gop)
from .backbone import frame_level, gop_levels
from ...pictures.cuts import CutDetector
from .plan import StemPlan, choose_plan
from ..common.rate import init_gop_rate, span_rate
from .upsamplers import encoder_priors
from .speed import speed_named

if TYPE_CHECKING:  # the learned backbone's networks: torch, imported on first use
    from ..intra import IntraCodec
    from ...models.stem_model import StemModel

ARCHITECTURE = STEM_ARCHITECTURE
DEFAULT_BACKBONE = "av1"
SYNTH_INTERVALS = (2, 4, 8, 16, 32)  # candidate backbone intervals of synthesised GOPs
DEFAULT_KEYINT = 129  # frames: about 5 s at 25 fps, as SVT-AV1's default; 8 mini-GOPs of 16 + 1


class StemCodec:  # listed in registry.py (imported on first use)
    codec_id = CodecId.STEM
    stride = STRIDE  # the learned backbone's (`IntraCodec.stride`)

    def __init__(self, cfg: StemConfig, tables: MotionTables,
                 networks: Callable[[], tuple[IntraCodec, StemModel]], stem_sha256: bytes,
                 intra_sha256: bytes, *, device: str = "cpu",
                 backend: EntropyBackend | None = None, legacy_sha256: bytes | None = None,
                 intra_legacy: bytes | None = None):
        """`networks()` gives the learned backbone's intra codec and STEM model; it is called
        once, when they are first used (`intra`, `model`, `residual`): files of the av1
        backbone never use them, and building them imports compressai, which takes seconds."""
        self.backend = backend or get_backend(EntropyCoderId.VGC_RANS)  # on the CPU
        self.cfg = cfg
        self.model_id = cfg.model_id
        self.motion_tables = tables
        self.device = device
        self._networks = networks
        self._built = None
        self._lock = threading.Lock()  # decoders and the refiner's packer run threads
        # the stream depends on both weight folders: record a hash of the pair
        self.weights_sha256 = pair_identity(stem_sha256, intra_sha256)
        self.legacy_weights_sha256 = pair_identity(legacy_sha256 or stem_sha256,
                                                   intra_legacy or intra_sha256)

    def _networks_built(self) -> tuple[IntraCodec, StemModel, IntraCodec]:
        from ..intra import IntraCodec

        with self._lock:
            if self._built is None:
                intra, model = self._networks()
                intra.backend = self.backend
                model = model.eval().to(self.device)
                residual = IntraCodec(model.residual, b"", device=self.device,
                                      backend=self.backend)
                self._built, self._networks = (intra, model, residual), None
            return self._built

    @property
    def intra(self) -> IntraCodec:
        return self._networks_built()[0]

    @property
    def model(self) -> StemModel:
        return self._networks_built()[1]

    @property
    def residual(self) -> IntraCodec:
        return self._networks_built()[2]

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def default_refiner(cls, backbone: str | None) -> Path:
        """The shipped refiner for files with this backbone (None: the default, av1):
        weights/refiner-av1 (refiner-tiny-v6) was trained on the av1 backbone's output, which
        the encoder gates window by window; weights/refiner (refiner-tiny-v5) on the learned
        backbone's. Either decodes any file that names it (`refine.loading.shipped_refiner_for`)."""
        root = repo_weights_dir()
        if backbone in (None, "av1") and (root / "refiner-av1" / "config.json").is_file():
            return root / "refiner-av1"
        return root / "refiner"

    @classmethod
    def load(cls, weights_dir=None, *, device: str = "cpu", backend=None) -> "StemCodec":
        """Both weight folders read now: their files against the hashes in their configs, the
        intra folder against the one the STEM weights name, the STEM config and its motion
        tables. Their networks are built on first use (the learned backbone's first frame):
        tensors that do not fit them are reported then, as a WeightsError."""
        wdir = Path(weights_dir or repo_weights_dir() / "stem")
        stem = read_weights(wdir, ARCHITECTURE)
        try:
            cfg = StemConfig(**stem.meta["config"])
            tables = MotionTables.from_state(stem.state)
        except (TypeError, KeyError) as e:
            raise WeightsError(f"bad config or tables in {wdir}: {e}") from None
        intra_dir = (wdir / cfg.intra_dir).resolve()
        intra = read_weights(intra_dir, INTRA_ARCHITECTURE)
        check_intra_pair(wdir, intra_dir, cfg.intra_sha256, intra.legacy)

        def networks():
            from ..intra import IntraCodec
            from ...models import stem_model  # noqa: F401  (registers the architecture)

            return IntraCodec.built(intra, device=device), build_model(stem)

        return cls(cfg, tables, networks, stem.identity, intra.identity, device=device,
                   backend=backend, legacy_sha256=stem.legacy, intra_legacy=intra.legacy)

    @classmethod
    def random(cls, seed: int = 0, **kw) -> "StemCodec":
        """Random weights with built tables: for tests and the conformance suite."""
        from ..intra import IntraCodec, build_tables
        from ...models.configs import IntraConfig
        from ...models.stem_model import StemModel
        from ...torch_env import torch

        intra = IntraCodec.random(seed)
        torch.manual_seed(seed + 1)
        cfg = StemConfig(residual=IntraConfig(N=8, M=12, model_id="stem-residual-random")
                         .to_dict(), intra_dir="intra", model_id="stem-random")
        model = StemModel(cfg)
        build_tables(model.residual)
        tables = MotionTables.from_state(model.state_dict())
        return cls(cfg, tables, lambda: (intra, model), bytes([seed % 256]) * 32,
                   intra.weights_sha256, legacy_sha256=bytes([seed % 256]) * 32,
                   intra_legacy=intra.legacy_weights_sha256, **kw)

    def save(self, out_dir) -> bytes:
        """Write a self-contained weights folder: STEM files, and the intra model in intra/."""
        out = Path(out_dir)
        intra_sha = self.intra.save(out / "intra")
        cfg = StemConfig(**{**self.cfg.to_dict(), "intra_dir": "intra",
                            "intra_sha256": intra_sha.hex()})
        model = copy.deepcopy(self.model).cpu()
        return save_weights(model, cfg.to_dict(), ARCHITECTURE, out)

    # -- coding ---------------------------------------------------------------------------
    def plan_for(self, target: RateTarget, structure: Structure | None = None) -> StemPlan:
        s = structure or Structure()
        try:
            return choose_plan(target.bpp, gop=s.gop, backbone_interval=s.backbone_interval)
        except ValueError as e:
            raise InputError(str(e)) from None

    def new_encoder(self, width: int, height: int, target: RateTarget,
                    expected_frames: int | None, structure: Structure | None = None, *,
                    refiner=None, seed: int = 0, span: Span | None = None):
        """`refiner`: a callable giving the refiner the file names (av1: the encoder gates
        its windows with it), or None when the file is not refined. `span`: code only those
        frames, as a clip of their own, within its budget (a chunked encode)."""
        s = structure or Structure()
        backbone = s.backbone or DEFAULT_BACKBONE
        if backbone not in BACKBONES:
            raise InputError(f"unknown backbone {backbone!r}: {', '.join(BACKBONES)}")
        if backbone == "av1":
            return self._new_av1_encoder(width, height, target, expected_frames, s, refiner,
                                         seed, span)
        if s.backbone_scale not in (None, 1):
            raise OptionError("backbone_scale", s.backbone_scale,
                              "reduced scales need the av1 backbone")
        for name in ("preset", "speed", "keyint"):
            if getattr(s, name) is not None:
                raise OptionError(name, getattr(s, name), "an option of the av1 backbone "
                                  "(SVT-AV1), not the learned one")
        plan = self.plan_for(target, structure)
        rate = None
        if target.q is None:
            hp, wp = -(-height // self.stride) * self.stride, -(-width // self.stride) * self.stride
            mv_guess = 24 + 0.05 * (hp // plan.block) * (wp // plan.block)
            rate = span_rate(span, mv_guess) or init_gop_rate(
                target.bpp, width, height, expected_frames, mv_guess)
        from . import encoder
        from ..intra import check_rate

        q = None
        if target.q is not None:
            q = check_rate(target.q, min(self.intra.cfg.levels, self.residual.cfg.levels))
        if span is not None:
            return encoder.StemEncoderState(plan, rate, q, span.end, index=span.first)
        return encoder.StemEncoderState(plan, rate, q, expected_frames)

    def _new_av1_encoder(self, width, height, target: RateTarget, expected_frames, s,
                         refiner, seed: int, span: Span | None):
        import math

        plan = self.plan_for(target, s)
        rate, crf = None, None
        if target.q is None:
            # the codec config (4 bytes); not the REFINE chunk, which the file drops when the
            # gate switches every window off (what the shipped refiner gets on AV1
            # backbones); a file whose gate lets the refiner run overshoots by its size
            extra = codec_config_size(4)
            rate = span_rate(span, 40.0) or init_gop_rate(target.bpp, width, height,
                                                           expected_frames, 40.0, extra)
        elif not (math.isfinite(target.q) and CRF_MIN <= target.q <= CRF_MAX):
            raise OptionError("q", target.q, f"the av1 backbone's rate is its CRF, "
                              f"{CRF_MIN:g} .. {CRF_MAX:g}")
        else:
            crf = round(target.q * 4) / 4
        if s.backbone_scale is not None and s.backbone_scale not in SYNTH_SCALES:
            raise OptionError("backbone_scale", s.backbone_scale,
                              "1 (full), 2 (half) or 4 (quarter)")
        if s.preset is not None and not 0 <= s.preset <= 13:
            raise OptionError("preset", s.preset, "SVT-AV1 presets are 0 (slowest) .. 13")
        try:
            speed = speed_named(s.speed)
        except ValueError as e:
            raise OptionError("speed", s.speed, str(e)) from None
        if not s.search:  # --fast: no search, no gate, at the speed's fit
            speed = replace(speed, search="none", gate=False)
        fixed = s.backbone_interval is not None
        intervals = (plan.backbone_interval,) if fixed else (1, plan.backbone_interval)
        scales = (s.backbone_scale,) if s.backbone_scale else SCALES
        # synthesised GOPs: backbones every 2 .. 32 frames, at full, half or quarter scale
        synth = (((s.backbone_interval,) if s.backbone_interval else SYNTH_INTERVALS),
                 (s.backbone_scale,) if s.backbone_scale else SYNTH_SCALES)
        if speed.search == "none":
            intervals = intervals if fixed else (1,)
            scales = (s.backbone_scale or 1,)
            synth = ((), ())
        elif speed.pruned and not fixed:  # no GOPs with motion frames (`speed`, "Pruned")
            intervals, scales = (1,), (s.backbone_scale or 1,)
        scales = tuple(x for x in scales if x in SCALES)
        # no gate, no refinement: the file names no refiner (and it is never loaded)
        refiner = refiner() if refiner is not None and speed.gate else None
        refine_bytes = 0 if refiner is None or (span and not span.lead) else chunk_size(
            41 + len(refiner.cfg.model_id.encode()))
        settings = Av1Settings(preset=speed.preset if s.preset is None else s.preset)
        keyint = self.keyint(s)
        # a span: its own frames only, and no cuts inside (the first pass put them at its edges)
        return av1.Av1EncoderState(plan, rate, crf, settings, width, height,
                                   span.end if span else expected_frames, intervals, scales,
                                   None if span else CutDetector(), refiner, seed,
                                   index=span.first if span else 0, refine_bytes=refine_bytes,
                                   synth=synth, speed=speed,
                                   split=speed.split and not fixed,
                                   keyint=keyint,
                                   complexity=span.complexity if span else None,
                                   priors=encoder_priors() if speed.prior and s.prior else ())

    @staticmethod
    def keyint(s: Structure) -> int:
        """The av1 backbone's longest GOP: --keyint, or --gop (its older name), or
        DEFAULT_KEYINT (about SVT-AV1's own default, 5 seconds, at 25 fps); at most
        MAX_GOP_FRAMES."""
        k = s.keyint or s.gop or DEFAULT_KEYINT
        if not 1 <= k <= MAX_GOP_FRAMES:
            raise OptionError("keyint" if s.keyint else "gop", k,
                              f"the longest GOP is 1 .. {MAX_GOP_FRAMES} frames")
        return k

    def chunking(self, st) -> tuple[int, bool]:
        """(frames of one GOP, True): a chunked encode's spans are GOPs, from scene cuts."""
        if isinstance(st, av1.Av1EncoderState):
            return min(st.keyint, MAX_GOP_FRAMES), True
        return st.plan.gop_size, True

    def refines(self, st) -> bool:
        """Whether files from this encoder state are decoded through the refiner: asked when
        the encoder starts and again after its flush (av1: then only if a GOP's gate let the
        refiner run on some window, else the file drops its REFINE chunk)."""
        if not isinstance(st, av1.Av1EncoderState):
            return True
        return st.refiner is not None and st.refined is not False

    def structure(self, st) -> Structure:
        """GOP size and backbone interval of an encoder state (for the sequence header; av1:
        the longest GOP, the plan's interval)."""
        if isinstance(st, av1.Av1EncoderState):
            return Structure(st.keyint, st.plan.backbone_interval)
        return Structure(st.plan.gop_size, st.plan.backbone_interval)

    def codec_config(self, st) -> bytes | None:
        """The codec config for this encoder (None: the learned backbone)."""
        if isinstance(st, av1.Av1EncoderState):
            return BackboneConfig(AV1, st.settings).pack()
        return None

    def encode_frame(self, st, x):
        """x: (3,H',W') float in [0,1] padded to `stride`; or, where `takes_pictures`, the
        HxWx3 uint8 frame itself. (The av1 backbone needs no torch unless it codes motion
        frames or runs the refiner; the learned backbone's `encoder` runs under no_grad.)"""
        if isinstance(st, av1.Av1EncoderState):
            return av1.encode_frame(self, st, x if isinstance(x, np.ndarray) else
                                    x.to(self.device))
        from . import encoder

        return encoder.encode_frame(self, st, x.to(self.device))

    def takes_pictures(self, st) -> bool:
        """Whether encode_frame takes uint8 frames as read (the av1 backbone: no float copy)."""
        return isinstance(st, av1.Av1EncoderState)

    def flush(self, st):
        if isinstance(st, av1.Av1EncoderState):
            return av1.flush(self, st)
        from . import encoder

        return encoder.flush(self, st)

    def new_decoder(self, config: bytes | None = None, width: int = 0, height: int = 0):
        return decoder.StemDecoderState(backbone=check_codec_config(CodecId.STEM, config),
                                        width=width, height=height)

    def decode_frame(self, st, payload, hp: int, wp: int, *, chunk: int | None = None):
        return decoder.decode_frame(self, st, payload, hp, wp, chunk)

    def frame_info(self, st, payload, *, chunk=None
                   ) -> tuple[dict[int, int], dict[int, int], dict[int, BackboneLevel]]:
        """({frame index: frame type} of the frames a chunk holds, {GOP start: refine mask},
        {frame index: backbone level}): an av1 GOP chunk holds all its GOP's frames and their
        mask; a learned-backbone chunk one frame and no mask (every window refined). Levels:
        `backbone.gop_levels`, `backbone.frame_level`."""
        if st.backbone.coder == AV1 and payload.frame_type == 0:
            head, parts = unpack_gop(payload, chunk=chunk)
            return ({p.frame_index: int(p.frame_type) for p in parts},
                    {payload.frame_index: head.refine_mask},
                    gop_levels(payload, head, parts, st.height, st.width))
        return ({payload.frame_index: int(payload.frame_type)}, {},
                {payload.frame_index: frame_level(payload, st.height, st.width)})

    def flush_decoder(self, st):
        return decoder.flush(self, st)
