"""Codec registry: the built-in codecs, listed here without importing them, and
`@register_codec` for codecs defined elsewhere.

Ids are the stable numbers of `bitstream.ids.CodecId`, written into every file; registration
order never matters. A built-in codec's class (and torch with it) is imported only when it is
used, so `vgc codecs` and argument checks start fast. Ids reserved for codecs that are not
implemented yet are listed by `vgc codecs` as such.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .bitstream.ids import CodecId
from .errors import InputError


@dataclass(frozen=True)
class CodecSpec:
    name: str
    codec_id: CodecId
    description: str
    weights: str  # folder name under weights/
    devices: tuple[str, ...]
    target: str | type  # "module:Class" (imported on first use), or the class itself
    refined: bool = False  # decoded through the diffusion refiner by default (REFINE chunk)
    generates: bool = False  # its decoder runs a generator that `generate=False` leaves out

    @property
    def cls(self) -> type:
        """The codec class (a codecs.base.VideoCodec: .load(weights_dir, device=, backend=),
        .random(seed))."""
        if isinstance(self.target, str):
            module, _, name = self.target.partition(":")
            return getattr(importlib.import_module(module), name)
        return self.target

    def load(self, weights_dir=None, *, device: str = "cpu", backend=None):
        return self.cls.load(weights_dir, device=device, backend=backend)

    def default_refiner(self, backbone: str | None = None):
        """The shipped refiner folder for this codec's files with `backbone` (None: the
        codec's default); only for a refined codec, whose class says which
        (`default_refiner(backbone)`)."""
        if not self.refined:
            raise ValueError(f"{self.name} is not refined")
        return self.cls.default_refiner(backbone)


_REGISTRY: dict[str, CodecSpec] = {}
RESERVED: dict = {}


def _add(spec: CodecSpec) -> None:
    for other in _REGISTRY.values():
        if other.codec_id == spec.codec_id or other.name == spec.name:
            raise ValueError(f"codec {spec.name}/{int(spec.codec_id)} registered twice")
    _REGISTRY[spec.name] = spec


_add(CodecSpec("intra", CodecId.INTRA,
               "every frame a learned I-frame (mean-scale hyperprior, gain units)", "intra",
               ("cpu", "cuda"), "vidgen_codec.codecs.intra:IntraCodec"))
_add(CodecSpec("stem", CodecId.STEM,
               "Diff-SIT STEM: I/P backbones + motion-only frames, warped, then one diffusion "
               "step", "stem", ("cpu", "cuda"), "vidgen_codec.codecs.stem:StemCodec",
               refined=True))
_add(CodecSpec("s2vc", CodecId.S2VC,
               "S2VC: conditional coding on a feature buffer, decoded by a single-step "
               "diffusion generator (CSG, TCG)", "s2vc", ("cpu", "cuda"),
               "vidgen_codec.codecs.s2vc:S2vcCodec", generates=True))


def register_codec(name: str, codec_id: CodecId, *, description: str, weights: str,
                   devices: tuple[str, ...] = ("cpu", "cuda"), refined: bool = False):
    """Class decorator for a codec that is not built in."""
    def deco(cls):
        _add(CodecSpec(name, CodecId(codec_id), description, weights, devices, cls, refined))
        return cls

    return deco


def list_codecs() -> list[CodecSpec]:
    return sorted(_REGISTRY.values(), key=lambda s: s.codec_id)


def get_codec(name: str) -> CodecSpec:
    if name not in _REGISTRY:
        reserved = [c.name.lower() for c in RESERVED]
        extra = " (reserved, not implemented yet)" if name in reserved else ""
        known = ", ".join(s.name for s in list_codecs())
        raise InputError(f"unknown codec {name!r}{extra}; available: {known}")
    return _REGISTRY[name]


def codec_by_id(codec_id: int) -> CodecSpec:
    for spec in _REGISTRY.values():
        if spec.codec_id == codec_id:
            return spec
    raise InputError(f"file uses codec id {codec_id}, which this vgc does not implement")
