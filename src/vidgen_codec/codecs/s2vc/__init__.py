"""S²VC codec (see codec.py)."""

from .codec import S2vcCodec

__all__ = ["S2vcCodec"]
