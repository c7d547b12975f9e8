"""Codec registry: `@register_codec(name, codec_id)`.

Ids are the stable numbers of `bitstream.ids.CodecId`, written into every file; registration
order never matters. Ids reserved for codecs that are not implemented yet are listed by
`vgc codecs` as such.
"""

from __future__ import annotations

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
    cls: type  # a codecs.base.VideoCodec: .load(weights_dir, device=, backend=), .random(seed)
    refined: bool = False  # decoded through the diffusion refiner by default (REFINE chunk)

    def load(self, weights_dir=None, *, device: str = "cpu", backend=None):
        return self.cls.load(weights_dir, device=device, backend=backend)


_REGISTRY: dict[str, CodecSpec] = {}
RESERVED = {
    CodecId.S2VC: "S2VC conditional coding (not implemented yet)",
}


def register_codec(name: str, codec_id: CodecId, *, description: str, weights: str,
                   devices: tuple[str, ...] = ("cpu", "cuda"), refined: bool = False):
    def deco(cls):
        for spec in _REGISTRY.values():
            if spec.codec_id == codec_id or spec.name == name:
                raise ValueError(f"codec {name}/{int(codec_id)} registered twice")
        _REGISTRY[name] = CodecSpec(name, CodecId(codec_id), description, weights, devices, cls,
                                    refined)
        return cls

    return deco


def _load_all() -> None:
    from . import codecs  # noqa: F401  (registers the built-in codecs)


def list_codecs() -> list[CodecSpec]:
    _load_all()
    return sorted(_REGISTRY.values(), key=lambda s: s.codec_id)


def get_codec(name: str) -> CodecSpec:
    _load_all()
    if name not in _REGISTRY:
        reserved = [c.name.lower() for c in RESERVED]
        extra = " (reserved, not implemented yet)" if name in reserved else ""
        known = ", ".join(s.name for s in list_codecs())
        raise InputError(f"unknown codec {name!r}{extra}; available: {known}")
    return _REGISTRY[name]


def codec_by_id(codec_id: int) -> CodecSpec:
    _load_all()
    for spec in _REGISTRY.values():
        if spec.codec_id == codec_id:
            return spec
    raise InputError(f"file uses codec id {codec_id}, which this vgc does not implement")
